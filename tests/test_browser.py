"""The built book in a real browser (headless Chromium driven by Playwright), with no network.

For the landing page and every chapter: math is typeset (no raw TeX left), every
image loaded with a non-zero size, no console errors; and the search page finds a
chapter for "cosine". Screenshots go to ``_build/screenshots/``.

Needs Debian's ``chromium`` (``.ci/run`` installs it); without it the tests skip
locally and fail under ``LRLAB_STRICT_SYSTEM=1``.
"""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
import yaml

from conftest import REPO, require_system, toc_files

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("book")]
SCREENSHOTS = REPO / "_build" / "screenshots"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def site(built_book):
    """Serve the built book on an ephemeral localhost port."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    chromium = require_system("chromium", "apt-get install chromium (Debian's package; .ci/run does this)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


def _pages() -> list[str]:
    return toc_files(yaml.safe_load((REPO / "_toc.yml").read_text()))


@pytest.mark.parametrize("page", _pages())
def test_page_renders_math_images_and_no_console_errors(browser, site, page):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = ctx.new_page()
    errors, offsite = [], []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.on("request", lambda r: offsite.append(r.url) if not r.url.startswith((site, "data:", "blob:")) else None)
    url = f"{site}/{page}.html"
    tab.goto(url, wait_until="load")
    has_math = tab.evaluate("() => document.querySelectorAll('.math, div.math, span.math').length") > 0
    if has_math:
        tab.wait_for_function("() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise",
                              timeout=30_000)
        tab.evaluate("() => window.MathJax.startup.promise")
        typeset = tab.evaluate("() => document.querySelectorAll('mjx-container').length")
        assert typeset > 0, f"{page}: MathJax typeset nothing"
    raw = tab.evaluate(
        r"""() => {
            const main = document.querySelector('main') || document.body;
            const clone = main.cloneNode(true);
            clone.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(n => n.remove());
            const text = clone.innerText;
            const hits = [];
            for (const pat of [/\$\$/, /(^|[^\\])\$[^$\s][^$]*\$/, /\\\(/, /\\\[/, /\\begin\{/]) {
                const m = text.match(pat);
                if (m) hits.push(text.slice(Math.max(0, m.index - 40), m.index + 40));
            }
            return hits;
        }"""
    )
    assert not raw, f"{page}: raw TeX left on the page: {raw}"
    broken = tab.evaluate(
        "() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0))"
        ".map(i => i.src)"
    )
    assert not broken, f"{page}: images that did not load: {broken}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{page.replace('/', '_')}.png"), full_page=True)
    ctx.close()
    assert not errors, f"{page}: console errors: {errors}"
    assert not offsite, f"{page}: requests left localhost: {offsite[:5]}"


def test_search_finds_a_chapter_for_cosine(browser, site):
    tab = browser.new_page()
    tab.goto(f"{site}/search.html?q=cosine", wait_until="load")
    tab.wait_for_selector("#search-results ul.search li", timeout=30_000)
    links = tab.evaluate("() => Array.from(document.querySelectorAll('#search-results ul.search li a')).map(a => a.href)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / "search_cosine.png"))
    tab.close()
    assert any("optimizers_dilemma" in link for link in links), f"search for 'cosine' found: {links}"
