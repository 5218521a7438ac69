"""The built book in a real browser (headless Chromium driven by Playwright), with no network.

For the landing page and every chapter: math is typeset (no raw TeX left), every
image loaded with a non-zero size, no console errors; and the search page finds a
chapter for "cosine"; and in dark mode every chapter's figures keep a light
background. Issue #16: axe-core (as shipped by axe-playwright-python) finds no serious or
critical violation and no contrast problem on any page, in light and in dark mode, with
every folded solution opened; solutions stay folded until the reader clicks. Screenshots
go to ``_build/screenshots/``.

Needs Debian's ``chromium`` (``.ci/run`` installs it); without it the tests skip
locally and fail under ``LRLAB_STRICT_SYSTEM=1``.
"""

from __future__ import annotations

import functools
import http.server
import re
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


# --- issue #12: figures keep their aspect ratio, nothing widens a phone's page, one title on the landing page ---

WIDTHS = {"phone": 390, "tablet": 768, "desktop": 1440}
#: |displayed w/h - natural w/h| / natural w/h allowed: rounding to whole pixels, nothing more
ASPECT_TOLERANCE = 0.02

_MEASURE_IMAGES = r"""async () => {
    const imgs = Array.from(document.querySelectorAll('.bd-article img'));
    imgs.forEach(i => { i.loading = 'eager'; });
    await Promise.all(imgs.map(i => i.decode().catch(() => null)));
    const content = el => {  // the content box: what the image itself shows, without padding and border
        const s = getComputedStyle(el), r = el.getBoundingClientRect();
        const px = k => parseFloat(s[k]) || 0;
        return {w: r.width - px('paddingLeft') - px('paddingRight') - px('borderLeftWidth') - px('borderRightWidth'),
                h: r.height - px('paddingTop') - px('paddingBottom') - px('borderTopWidth') - px('borderBottomWidth'),
                left: r.left + px('paddingLeft') + px('borderLeftWidth'), right: r.right - px('paddingRight') - px('borderRightWidth')};
    };
    return imgs.map(i => {
        let box = i.parentElement;
        while (box && getComputedStyle(box).display.startsWith('inline')) box = box.parentElement;
        const img = content(i), outer = i.getBoundingClientRect(), room = content(box);
        return {src: i.getAttribute('src'), nw: i.naturalWidth, nh: i.naturalHeight, w: img.w, h: img.h,
                right: outer.right, room: room.right, box: box.tagName + '.' + box.className};
    });
}"""


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_every_figure_keeps_its_aspect_ratio_and_fits_its_column(browser, site, width):
    """Issue #12: each image is shown at its natural width/height ratio and no wider than its container.

    Each ``<img>`` used to carry a fixed ``width: ...px; height: ...px``: a column narrower than the
    width narrowed the image and kept the height, squashing it (on phones, and wide two-panel
    figures on a desktop too).
    """
    ctx = browser.new_context(viewport={"width": width, "height": 900}, color_scheme="light")
    tab = ctx.new_page()
    bad, seen = [], 0
    for page in _pages():
        tab.goto(f"{site}/{page}.html", wait_until="load")
        for img in tab.evaluate(_MEASURE_IMAGES):
            seen += 1
            if not (img["nw"] and img["nh"] and img["w"] > 0 and img["h"] > 0):
                bad.append(f"{page}: {img['src']} is not shown ({img})")
                continue
            natural, shown = img["nw"] / img["nh"], img["w"] / img["h"]
            if abs(shown - natural) / natural >= ASPECT_TOLERANCE:
                bad.append(f"{page}: {img['src']} shown {img['w']:.0f}x{img['h']:.0f} px (ratio {shown:.2f}), "
                           f"natural {img['nw']}x{img['nh']} (ratio {natural:.2f})")
            if img["right"] > img["room"] + 1 or img["right"] > width:
                bad.append(f"{page}: {img['src']} reaches x={img['right']:.0f}, past its container ({img['box']}) "
                           f"that ends at x={img['room']:.0f}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.goto(f"{site}/book/coupled_forces.html", wait_until="load")
    tab.locator("figure#fig-adam").scroll_into_view_if_needed()
    tab.screenshot(path=str(SCREENSHOTS / f"figure_{width}px.png"))
    ctx.close()
    assert seen >= 30, f"only {seen} images measured at {width} px: the book's figures were not found"
    assert not bad, f"at {width} px wide:\n" + "\n".join(bad[:20])


_OVERFLOW = r"""() => {
    const doc = document.documentElement, vw = doc.clientWidth;
    const article = document.querySelector('.bd-article');
    const column = article.getBoundingClientRect();
    const tables = Array.from(article.querySelectorAll('table')).map(t => {
        let box = t.parentElement;
        while (box && box !== article && !['auto', 'scroll'].includes(getComputedStyle(box).overflowX)) box = box.parentElement;
        const scrolls = box && box !== article;
        return {id: t.id || t.className || 'table', width: t.getBoundingClientRect().width,
                box: scrolls ? box.className : null,
                boxRight: scrolls ? box.getBoundingClientRect().right : null,
                scrollable: scrolls ? box.scrollWidth > box.clientWidth : false};
    });
    const clipped = e => { for (let p = e.parentElement; p && p !== article; p = p.parentElement)
                               if (getComputedStyle(p).overflowX !== 'visible') return true; return false; };
    const widest = Array.from(article.querySelectorAll('*')).map(e => [e.getBoundingClientRect().right, e])
        .filter(([r, e]) => r > vw + 0.5 && !clipped(e)).slice(0, 3)
        .map(([r, e]) => `${e.tagName}.${e.className} (right ${r.toFixed(0)}): ${(e.textContent || '').trim().slice(0, 50)}`);
    return {scrollWidth: doc.scrollWidth, clientWidth: vw, columnRight: column.right, tables, widest};
}"""


def test_phone_pages_do_not_scroll_sideways_and_wide_tables_scroll_in_their_box(browser, site):
    """Issue #12: on a 390 px phone no page is wider than the screen; a table wider than the column
    scrolls inside its own box (which stays inside the column)."""
    width = WIDTHS["phone"]
    ctx = browser.new_context(viewport={"width": width, "height": 844}, color_scheme="light")
    tab = ctx.new_page()
    bad, wide = [], 0
    for page in _pages():
        tab.goto(f"{site}/{page}.html", wait_until="load")
        r = tab.evaluate(_OVERFLOW)
        if r["scrollWidth"] > r["clientWidth"]:
            bad.append(f"{page}: the page is {r['scrollWidth']} px wide on a {r['clientWidth']} px screen; "
                       f"past the edge: {r['widest']}")
        for t in r["tables"]:
            if t["width"] <= r["columnRight"]:
                continue
            wide += 1
            if not t["box"]:
                bad.append(f"{page}: table {t['id']} ({t['width']:.0f} px) is in no scrolling box")
            elif not t["scrollable"] or t["boxRight"] > r["columnRight"] + 1:
                bad.append(f"{page}: the box of table {t['id']} ({t['box']}) does not scroll within the column")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.goto(f"{site}/book/instructors.html", wait_until="load")
    tab.screenshot(path=str(SCREENSHOTS / f"instructors_{width}px.png"))
    ctx.close()
    assert wide >= 3, f"only {wide} tables wider than a phone's column: the check above proved little"
    assert not bad, "\n".join(bad[:20])


@pytest.mark.parametrize("width", [WIDTHS["phone"], WIDTHS["desktop"]], ids=["phone", "desktop"])
def test_landing_page_shows_the_course_title_once(browser, site, width):
    """Issue #12: the landing page showed the course's title three times (site title, its own sidebar
    entry and its heading) and the tab said "<title> — <title>"."""
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    title = config["title"]
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    tab = ctx.new_page()
    tab.goto(f"{site}/index.html", wait_until="load")  # redirects to the root page of _toc.yml
    tab.wait_for_selector(".bd-article h1")
    shown = tab.evaluate(
        """t => {
            const norm = e => e.textContent.replace(/[#\\s]+$/, '').replace(/\\s+/g, ' ').trim();
            const hits = Array.from(document.body.querySelectorAll('*')).filter(e => norm(e) === t);
            return hits.filter(e => !hits.some(o => o !== e && e.contains(o)))  // the innermost element of each copy
                .filter(e => { const r = e.getBoundingClientRect(), s = getComputedStyle(e);
                               return r.width > 0 && r.height > 0 && s.visibility !== 'hidden'
                                      && r.right > 0 && r.left < innerWidth; })
                .map(e => e.tagName + '.' + e.className);
        }""",
        title,
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"landing_{width}px.png"))
    doc_title = tab.title()
    ctx.close()
    parts = [p.strip() for p in doc_title.split("\u2014")]
    assert len(parts) == len(set(parts)), f"the tab's title repeats itself: {doc_title!r}"
    assert len(shown) <= 1, f"the course title {title!r} is shown {len(shown)} times: {shown}"


# --- issue #16: accessibility (axe-core) in light and dark mode, with every folded solution opened ---

THEMES = ("light", "dark")
#: axe-core impacts that fail the test; contrast violations fail whatever their impact
FAILING_IMPACTS = ("serious", "critical")

_TYPESET_AND_UNFOLD = r"""async () => {
    if (document.querySelector('.math') ) {
        const start = Date.now();
        while (!(window.MathJax && MathJax.startup && MathJax.startup.promise) && Date.now() - start < 30000)
            await new Promise(r => setTimeout(r, 50));
        if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return {error: 'MathJax did not start within 30 s'};
        await MathJax.startup.promise;
        if (!document.querySelector('mjx-container')) return {error: 'MathJax typeset nothing'};
    }
    // Every exercise's solution is folded until the reader opens it: only its title shows.
    const unfolded = Array.from(document.querySelectorAll('div.solution')).filter(sol =>
        !sol.classList.contains('toggle-hidden')
        || Array.from(sol.children).some(c => !c.classList.contains('admonition-title')
                                           && c.checkVisibility({visibilityProperty: true, opacityProperty: true})))
        .map(sol => sol.id);
    // Open what is folded, as the reader would: sphinx-togglebutton's items (the solutions, other
    // dropdowns) by a click on the button in their title, and every <details> (hidden code cells).
    document.querySelectorAll('.toggle-hidden').forEach(item => item.querySelector('button.toggle-button').click());
    document.querySelectorAll('details:not([open])').forEach(d => { d.open = true; });
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    await Promise.all(document.getAnimations().map(a => a.finished.catch(() => null)));  // the fade-in
    const folded = Array.from(document.querySelectorAll('.toggle-hidden, details:not([open])'))
        .map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`);
    return {folded, unfolded, theme: document.documentElement.dataset.theme,
            background: getComputedStyle(document.body).backgroundColor};
}"""

# axe-core reports a rule's violations with the rule's own impact, so only the rules whose impact
# is serious or critical can fail the test: those run (axe's default set otherwise: no experimental
# or deprecated rule, none that axe disables by default), in one axe.run per page.
# color-contrast costs ~3 ms of CPU per text element, and a chapter has 2000-6000 (one per
# highlighted token of its code): 2 minutes for the book in two themes. Text elements with the same
# tag, colour, font, text shadow, chain of ancestors' backgrounds (colours, images, opacities,
# filters, blend modes) and length class (axe gives one-character text that fails "incomplete",
# not a violation) have the same contrast, so color-contrast runs on one element of each such group:
# the first that axe's own color-contrast matcher selects (visible text that is not only
# punctuation). Under an absolutely positioned, fixed or sticky element (where something else could
# lie under the text) elements are grouped only with the others inside it. When axe cannot decide
# the chosen element (incomplete: partly hidden by another element, scrolled out of its box, ...)
# or leaves it out, the rest of its group is checked, element by element, in a second run. A
# failing element is reported with the number of others that share its colours.
_AXE = r"""async () => {
    const contrastRule = axe._audit.rules.find(r => r.id === 'color-contrast');
    if (!contrastRule || typeof contrastRule.matches !== 'function')
        return {error: "axe-core has no color-contrast rule with a matcher (axe._audit.rules): this test's grouping of text elements needs updating for this axe-core version"};
    const rules = axe._audit.rules.filter(r => r.enabled && !r.tags.includes('experimental') && !r.tags.includes('deprecated')
                                              && (!r.impact || ['serious', 'critical'].includes(r.impact))).map(r => r.id);
    if (!rules.includes('color-contrast')) return {error: 'color-contrast is not among the serious rules: ' + rules};
    const ids = new Map(), chains = new Map();
    const intern = k => { if (!ids.has(k)) ids.set(k, ids.size); return ids.get(k); };
    let positioned = 0;
    const chain = el => {
        if (!el || el.nodeType !== 1) return -1;
        if (chains.has(el)) return chains.get(el);
        const s = getComputedStyle(el);
        const own = ['absolute', 'fixed', 'sticky'].includes(s.position) ? `positioned ${positioned++}`
            : [s.backgroundColor, s.backgroundImage, s.opacity, s.filter, s.mixBlendMode, s.backdropFilter].join(';');
        const id = intern(own + '|' + chain(el.parentElement));
        chains.set(el, id);
        return id;
    };
    const groups = new Map();
    let texts = 0;
    for (const el of document.body.querySelectorAll('*')) {
        const own = Array.from(el.childNodes).filter(n => n.nodeType === 3).map(n => n.data).join('').replace(/\s+/g, ' ').trim();
        if (!own && !el.matches('input, select, textarea')) continue;
        texts++;
        const s = getComputedStyle(el);
        const key = [el.tagName, own.length === 1, s.color, s.fontSize, s.fontWeight, s.textShadow,
                     s.webkitTextStrokeWidth, s.webkitTextStrokeColor, chain(el)].join(';');
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(el);
    }
    axe.setup(document);
    const chosen = [];
    for (const group of groups.values()) {
        const i = group.findIndex(el => contrastRule.matches(el, axe.utils.getNodeFromTree(el)));
        if (i >= 0) chosen.push([group[i], group.slice(i + 1)]);
    }
    axe.teardown();
    const violations = [], outcome = new Map(), others = new Map(chosen);
    const run = async (ruleIds, contrastElements) => {
        contrastElements.forEach(e => e.setAttribute('data-lrlab-axe-contrast', ''));
        axe.configure({rules: [{id: 'color-contrast', selector: '[data-lrlab-axe-contrast]'}]});
        const r = await axe.run(document, {runOnly: {type: 'rule', values: ruleIds}, elementRef: true});
        contrastElements.forEach(e => e.removeAttribute('data-lrlab-axe-contrast'));
        for (const kind of ['violations', 'passes', 'incomplete'])
            r[kind].filter(v => v.id === 'color-contrast').forEach(v => v.nodes.forEach(n => outcome.set(n.element, kind)));
        for (const v of r.violations) {
            v.nodes.forEach(n => { n.sameColours = (others.get(n.element) || []).length; delete n.element; });
            const same = violations.find(w => w.id === v.id);
            if (same) same.nodes.push(...v.nodes); else violations.push(v);
        }
    };
    await run(rules, chosen.map(([el]) => el));
    const undecided = chosen.filter(([el]) => !['passes', 'violations'].includes(outcome.get(el)));
    const rest = undecided.flatMap(([el, group]) => { others.delete(el); return group; });
    if (rest.length) await run(['color-contrast'], rest);
    return {violations, texts, checked: chosen.length + rest.length, rules: rules.length};
}"""


#: the attribute _AXE marks the elements for color-contrast with (axe's selectors may name it)
_MARK = '[data-lrlab-axe-contrast=""]'


def _axe_problems(tab, site: str, page: str, theme: str, axe_script: str, spoil: str = "") -> tuple[list[str], dict]:
    """Open ``page``, typeset, unfold everything, check the theme, run axe; return the failing violations.

    ``spoil``: JavaScript run just before axe (for the test that proves this check finds problems).
    """
    tab.goto(f"{site}/{page}.html", wait_until="load")
    state = tab.evaluate(_TYPESET_AND_UNFOLD)
    assert "error" not in state, f"{page} ({theme}): {state.get('error')}"
    assert state["theme"] == theme, f"{page}: the page is in {state['theme']!r} mode for a reader whose system is {theme}"
    bg = state["background"]
    luminance = _luminance([int(v) for v in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3]])
    assert (luminance < 80) if theme == "dark" else (luminance > 175), (
        f"{page}: the page background is {bg} in {theme} mode: the contrast checks would test the wrong theme")
    assert not state["unfolded"], (
        f"{page}: solutions that show before the reader opens them (they need :class: dropdown): {state['unfolded']}")
    assert not state["folded"], f"{page} ({theme}): still folded after opening every toggle: {state['folded'][:5]}"
    if spoil:
        tab.evaluate(spoil)
    tab.evaluate(axe_script)
    result = tab.evaluate(_AXE)
    assert "error" not in result, result.get("error")
    problems = []
    for v in result["violations"]:
        if v["impact"] in FAILING_IMPACTS or v["id"].startswith("color-contrast"):
            targets = [" ".join(map(str, n["target"])).replace(_MARK, "")
                       + (f" (and {n['sameColours']} more with its colours)" if n.get("sameColours") else "")
                       for n in v["nodes"][:4]]
            more = f" (+{len(v['nodes']) - 4} more)" if len(v["nodes"]) > 4 else ""
            why = " ".join(v["nodes"][0].get("failureSummary", "").split())[:240]
            problems.append(f"{page} [{theme}] {v['id']} ({v['impact']}): {v['help']}: {targets}{more}\n"
                            f"    first: {why}\n    {v['helpUrl']}")
    return problems, result


@pytest.mark.parametrize("theme", THEMES)
def test_axe_finds_no_serious_violation_and_no_contrast_problem(browser, site, theme):
    """Issue #16: axe-core on every page of the book, in light and in dark mode (the reader's system
    setting; ``default_mode: auto``), after MathJax has typeset and with every folded solution and hidden
    code cell opened: no violation of impact serious or critical, and no contrast violation at all.

    One browser context per theme serves every page; see ``_AXE`` for how color-contrast is kept cheap.
    """
    from axe_playwright_python.sync_playwright import Axe

    axe_script = Axe().axe_script  # axe-core as shipped by axe-playwright-python: nothing is fetched
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=theme)
    tab = ctx.new_page()
    problems, texts, checked = [], 0, 0
    for page in _pages():
        found, result = _axe_problems(tab, site, page, theme, axe_script)
        problems += found
        texts, checked = texts + result["texts"], checked + result["checked"]
    ctx.close()
    print(f"axe [{theme}]: {len(_pages())} pages, color-contrast on {checked} of {texts} text elements")
    assert not problems, f"axe-core found {len(problems)} failing violations in {theme} mode:\n" + "\n".join(problems)


_SOLUTION = re.compile(r'<div class="[^"]*\bsolution\b[^"]*"')


def _pages_with_solutions(built_book) -> list[str]:
    """The pages of _toc.yml that hold an exercise's solution (sphinx-exercise's div.solution), smallest first
    (the tests below need one page; the smallest is the quickest to check)."""
    pages = [p for p in _pages() if _SOLUTION.search((built_book / f"{p}.html").read_text(encoding="utf-8"))]
    return sorted(pages, key=lambda p: (built_book / f"{p}.html").stat().st_size)


def test_axe_check_finds_low_contrast_solutions_and_code_and_a_broken_list(browser, site, built_book):
    """The check above, proven able to fail: in dark mode, on the smallest page with solutions, made dark
    grey (#3a3a3a) on the dark page: the text of the (folded) solutions, and the numbers in the code
    (a token class, grouped: most are one character, which axe leaves undecided). Both must be reported
    as color-contrast, and nothing else; and a list with a non-item child as aria-required-children
    (critical)."""
    from axe_playwright_python.sync_playwright import Axe

    pages = _pages_with_solutions(built_book)
    assert pages, "no page of the book has an exercise's solution (div.solution)"
    spoil = """() => {
        document.querySelectorAll('div.solution p').forEach(p => p.classList.add('lrlab-spoiled'));
        const style = document.createElement('style');
        style.textContent = '.lrlab-spoiled, .highlight .mi { color: #3a3a3a !important; }';
        document.head.appendChild(style);
        const list = document.createElement('div');
        list.setAttribute('role', 'list');
        list.innerHTML = '<span>not a list item</span>';
        document.querySelector('.bd-article').appendChild(list);
    }"""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    problems, result = _axe_problems(ctx.new_page(), site, pages[0], "dark", Axe().axe_script, spoil=spoil)
    ctx.close()
    report = "\n".join(problems)
    contrast = [n for v in result["violations"] if v["id"] == "color-contrast" for n in v["nodes"]]
    assert any("lrlab-spoiled" in n["html"] for n in contrast), (
        f"dark grey text in the opened solutions of {pages[0]} was not reported as color-contrast:\n{report}")
    assert any('class="mi"' in n["html"] for n in contrast), (
        f"dark grey numbers in the code of {pages[0]} were not reported as color-contrast:\n{report}")
    assert all("#3a3a3a" in n["failureSummary"] for n in contrast), f"other contrast failures:\n{report}"
    assert any(" aria-required-children (critical)" in p for p in problems), (
        f"a role=list with a non-item child was not reported:\n{report}")


_SOLUTION_STATES = r"""() => Array.from(document.querySelectorAll('div.solution')).map(sol => {
    const title = sol.querySelector(':scope > .admonition-title');
    const body = Array.from(sol.children).filter(c => c !== title);
    const shown = e => e.checkVisibility({visibilityProperty: true, opacityProperty: true})
                       && e.getBoundingClientRect().height > 0 && getComputedStyle(e).opacity === '1';
    const button = title && title.querySelector('button.toggle-button');
    return {id: sol.id, dropdown: sol.classList.contains('dropdown'), title: !!title && shown(title),
            body: body.length, bodyShown: body.filter(shown).length, button: !!button,
            expanded: button ? button.getAttribute('aria-expanded') : null};
})"""


def test_exercise_solutions_stay_folded_until_the_reader_opens_them(browser, site, built_book):
    """Issue #16: on a chapter with exercises (the smallest), each solution (sphinx-exercise, folded by
    sphinx-togglebutton) shows only its title when the page opens; a mouse click on its toggle button
    shows its body. (The axe-core test checks on every page that every solution starts folded and opens.)"""
    pages = _pages_with_solutions(built_book)
    assert pages, ("no page of the book has an exercise's solution (div.solution): chapters 1-8 end with exercises "
                   "whose solutions are folded ({solution-start} <label> with :class: dropdown, see issue #16)")
    page = pages[0]
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    tab = ctx.new_page()
    tab.goto(f"{site}/{page}.html", wait_until="load")
    before = tab.evaluate(_SOLUTION_STATES)
    bad = [f"{s['id']}: not folded (it needs :class: dropdown)" for s in before if not (s["dropdown"] and s["button"])]
    bad += [f"{s['id']}: no title shows, or no body" for s in before if not (s["title"] and s["body"])]
    bad += [f"{s['id']}: {s['bodyShown']} of its {s['body']} body elements show before the reader opens it"
            for s in before if s["bodyShown"] or s["expanded"] != "false"]
    assert not bad, f"{page}, as it opens:\n" + "\n".join(bad)
    buttons = tab.locator("div.solution > .admonition-title button.toggle-button")
    for i in range(buttons.count()):
        buttons.nth(i).click()  # a real mouse click (Playwright scrolls the button into view)
    tab.evaluate("() => Promise.all(document.getAnimations().map(a => a.finished.catch(() => null)))")  # the fade-in
    after = tab.evaluate(_SOLUTION_STATES)
    ctx.close()
    bad = [f"{s['id']}: {s['body'] - s['bodyShown']} of its {s['body']} body elements still hidden after a click "
           f"on its toggle button (aria-expanded={s['expanded']})" for s in after
           if s["bodyShown"] != s["body"] or s["expanded"] != "true"]
    assert len(after) == len(before) > 0 and not bad, f"{page}, after clicking each solution's button:\n" + "\n".join(bad)
