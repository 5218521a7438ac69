"""The built book in a real browser (headless Chromium driven by Playwright), with no network.

For the landing page and every chapter: math is typeset (no raw TeX left), every
image loaded with a non-zero size, no console errors; and the search page finds a
chapter for "cosine"; and in dark mode every chapter's figures keep a light
background. Screenshots go to ``_build/screenshots/``.

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


FIGURE_CHAPTERS = ["book/optimizers_dilemma", "book/coupled_forces", "book/mechanical_universe",
                   "book/schedules_shape_solutions",
                   "book/scaling_up", "book/transfer_learning", "book/generative_modeling", "book/private_learning"]


def _luminance(pixel) -> float:
    r, g, b = pixel[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.parametrize("page", FIGURE_CHAPTERS)
def test_figures_stay_readable_in_dark_mode(browser, site, page):
    """In dark mode (the reader's system setting, ``default_mode: auto``) every figure keeps a light background.

    Each figure is screenshotted as rendered (theme CSS and filters included) and its
    four corners, which matplotlib leaves as background, must be light; a transparent
    figure would show the dark page there and its black axes and labels would vanish.
    """
    import io

    from PIL import Image

    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    tab = ctx.new_page()
    tab.goto(f"{site}/{page}.html", wait_until="load")
    assert tab.evaluate("() => document.documentElement.dataset.theme") == "dark", (
        f"{page}: the page did not switch to dark mode for a reader whose system is dark"
    )
    page_bg = tab.evaluate("() => getComputedStyle(document.body).backgroundColor")
    rgb = [int(v) for v in page_bg[page_bg.index("(") + 1:page_bg.index(")")].split(",")[:3]]
    assert _luminance(rgb) < 80, f"{page}: dark mode has a light page background ({page_bg}): the check below would prove nothing"
    figures = tab.locator("main figure img, main .cell_output img")
    count = figures.count()
    assert count > 0, f"{page}: no figures found"
    dark = []
    for i in range(count):
        img = figures.nth(i)
        img.scroll_into_view_if_needed()
        img.evaluate("i => i.decode ? i.decode() : null")  # lazy images: wait until loaded and decoded
        shot = Image.open(io.BytesIO(img.screenshot())).convert("RGB")
        w, h = shot.size
        corners = [shot.getpixel((x, y)) for x in (2, w - 3) for y in (2, h - 3)]
        if min(_luminance(c) for c in corners) < 160:
            dark.append(f"{img.get_attribute('src')}: corners {corners}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{page.replace('/', '_')}_dark.png"), full_page=True)
    ctx.close()
    assert not dark, f"{page}: figures with a dark background in dark mode (unreadable):\n" + "\n".join(dark)
