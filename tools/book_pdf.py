"""Print the built HTML book to one PDF (``make pdf``).

Every page of ``_toc.yml`` (the landing page, chapters 1-8, Applications, the
hands-on pages) is opened, in order, in the headless Chromium that the browser
tests use (Debian's ``chromium``, driven by Playwright; nothing leaves
localhost), and printed with Playwright's ``page.pdf``. Before a page is
printed, MathJax has typeset it, its images have loaded, every folded dropdown
(exercise solutions, hidden code cells) is opened, and a print style sheet hides
the site's navigation (header, sidebars, search, download menu, previous/next
buttons). The pages are merged with pypdf behind a title page and a table of
contents (each page's title as on the site, with the page it starts on), page
numbers are printed at the foot of every page but the title page, the PDF gets
bookmarks (part, page, section), and links between pages of the book point
inside the PDF.

The PDF goes to ``_build/pdf/learning-rate-schedules.pdf`` and a copy to
``_build/html/`` so that the published site serves it (the landing page links
to it). Run ``make book`` first.

Examples
--------
    make pdf

A book built elsewhere (``jupyter-book build . --path-output DIR``) is printed with
``--html DIR/_build/html --output FILE.pdf --no-copy``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import html
import http.server
import io
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO = Path(__file__).resolve().parents[1]
PDF_NAME = "learning-rate-schedules.pdf"
#: The browser test's flags (tests/test_browser.py::CHROMIUM_FLAGS): no GPU, nothing fetched from the network.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
CHROMIUM = "/usr/bin/chromium"  # Debian's package, as the browser tests use it
CHROMIUM_HINT = ("Chromium is needed to print the book: install Debian's package (sudo apt-get install chromium), "
                 "or pass --chromium PATH.")
#: Paper and margins of every printed page (the page number sits in the bottom margin).
PAPER = {"format": "A4", "margin": {"top": "16mm", "bottom": "18mm", "left": "15mm", "right": "15mm"}}
PAGE_HEIGHT_PT = 841.89  # A4 in PDF points
#: The site's pages are printed at this scale: its 16 px body text becomes about 10 pt on paper.
SCALE = 0.85

#: The style sheet injected into every page before it is printed: the site's navigation goes, the
#: content takes the whole width, folded content is shown.
PRINT_CSS = """
#pst-skip-link, .skip-link, #pst-back-to-top, #pst-search-dialog, .bd-search, #searchbox, .search-button,
.search-button-field, .bd-header, .bd-header-announcement, .bd-sidebar-primary, .bd-sidebar-secondary,
#pst-primary-sidebar-modal, #pst-secondary-sidebar-modal, .bd-header-article, .header-article-items,
.article-header-buttons, .dropdown-download-buttons, .dropdown-launch-buttons, .theme-switch-button,
.sidebar-toggle, .prev-next-footer, .prev-next-area, .bd-footer, .bd-footer-content, .bd-footer-article,
.toggle-button, a.headerlink, button.copybtn, .lrlab-pdf-link,
details.hide > summary, details.toggle-details > summary { display: none !important; }
html, body { background: #fff !important; }
.bd-page-width, .bd-main .bd-content, .bd-main .bd-content .bd-article-container { max-width: none !important; }
.bd-main .bd-content { margin-left: 0 !important; }
.bd-main .bd-content .bd-article-container .bd-article { padding-left: 0 !important; padding-right: 0 !important; }
#jb-print-docs-body h1 { font-size: 2.2em !important; }
#jb-print-toc h2 { font-size: 1.4em !important; }
figure, .cell_output img, table { break-inside: avoid; }
img { max-width: 100% !important; height: auto; }
pre { white-space: pre-wrap !important; }
"""

#: Run in every page after it loaded: open what is folded, give the print title its chapter number,
#: and list every id of the article in a hidden block of links, so that Chromium records where each
#: one lands (links from other pages point there). Returns the page's title and its headings.
PREPARE_JS = r"""() => {
    document.querySelectorAll('details').forEach(d => { d.open = true; });
    document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
    document.querySelectorAll('img[loading="lazy"]').forEach(i => { i.loading = 'eager'; });
    const text = el => {
        const clone = el.cloneNode(true);
        clone.querySelectorAll('.headerlink').forEach(n => n.remove());
        return clone.textContent.replace(/\s+/g, ' ').trim();
    };
    const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
    const h1 = article.querySelector('h1');
    const title = h1 ? text(h1) : document.title;
    const printTitle = document.querySelector('#jb-print-docs-body h1');
    if (printTitle) printTitle.textContent = title;
    const anchors = document.createElement('div');
    anchors.style.display = 'none';
    anchors.setAttribute('aria-hidden', 'true');
    article.querySelectorAll('[id]').forEach(e => {
        const a = document.createElement('a');
        a.href = '#' + encodeURIComponent(e.id);
        anchors.appendChild(a);
    });
    document.body.appendChild(anchors);
    const sections = Array.from(article.querySelectorAll('h2')).map(h => {
        const section = h.id ? h : h.closest('section[id]');
        return [text(h), section ? section.id : ''];
    }).filter(s => s[1]);
    return {title: title, sections: sections};
}"""

#: Waits (at most ``ms``) until MathJax has typeset the page, its fonts and images have loaded; returns
#: what went wrong, or "".
READY_JS = """async (ms) => {
    const ready = (async () => {
        if (document.querySelector('.math') && !window.MathJax) return 'MathJax did not load';
        if (window.MathJax && window.MathJax.startup) await window.MathJax.startup.promise;
        if (document.fonts) await document.fonts.ready;
        await Promise.all(Array.from(document.images).map(i => i.complete ? null :
            new Promise(done => { i.addEventListener('load', done); i.addEventListener('error', done); })));
        const broken = Array.from(document.images).filter(i => !(i.naturalWidth > 0)).map(i => i.src);
        return broken.length ? 'images did not load: ' + broken.join(', ') : '';
    })();
    const late = new Promise(done => setTimeout(
        () => done(`not ready after ${ms / 1000} s (MathJax typesetting, fonts or images)`), ms));
    return Promise.race([ready, late]);
}"""


class BookPdfError(Exception):
    """A problem the reader can fix; the message says what to do."""


@dataclass
class Entry:
    """One page of the table of contents, and where it ended up in the PDF."""

    page: str  # "book/intro", as in _toc.yml
    part: str | None  # the sidebar caption it sits under (None: the landing page)
    title: str = ""  # the page's h1, with its chapter number, as the site shows it
    pdf: bytes = b""
    pages: int = 0
    start: int = 0  # its first page in the book PDF (0-based)
    sections: list[tuple[str, str]] = field(default_factory=list)  # (title, id) of its h2 sections


# --------------------------------------------------------------------------- the table of contents


def toc_entries(toc: dict) -> list[Entry]:
    """The pages of a jb-book ``_toc.yml`` in order, each with the caption it sits under in the sidebar.

    A part without a caption continues the one before (the sidebar shows chapters 5-8 under
    "Applications").
    """
    entries = [Entry(toc["root"], None)]
    caption = None

    def walk(items):
        for item in items or []:
            if "file" in item:
                entries.append(Entry(item["file"], caption))
            walk(item.get("sections"))

    for part in toc.get("parts", []):
        caption = part.get("caption") or caption
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return entries


def _config(book_root: Path) -> dict:
    import yaml

    path = book_root / "_config.yml"
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}


# --------------------------------------------------------------------------- browser


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the progress lines are the output
        pass


@contextlib.contextmanager
def serve(folder: Path):
    """Serve ``folder`` on an ephemeral localhost port; yields the base URL (no trailing slash)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def find_chromium(given: str | None) -> str:
    """The Chromium to print with: ``given``, else Debian's, else the first on PATH."""
    if given:
        if not Path(given).is_file():
            raise BookPdfError(f"--chromium {given}: no such file. " + CHROMIUM_HINT)
        return given
    for candidate in (CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise BookPdfError(f"Chromium is not installed (looked for {CHROMIUM} and chromium on PATH). " + CHROMIUM_HINT)


def _print_html(browser, markup: str, **options) -> bytes:
    """A small HTML document of our own (title page, contents, page numbers) printed to PDF."""
    tab = browser.new_page()
    try:
        tab.set_content(markup, wait_until="load")
        return tab.pdf(print_background=True, **{**PAPER, **options})
    finally:
        tab.close()


def print_page(browser, base_url: str, page: str, timeout_s: float) -> tuple[bytes, dict]:
    """Open one page of the book, make it ready, print it; returns the PDF and the page's title and h2s."""
    from playwright.sync_api import Error as PlaywrightError

    context = browser.new_context(viewport={"width": 1100, "height": 1400}, color_scheme="light",
                                  service_workers="block")
    tab = context.new_page()
    tab.set_default_timeout(timeout_s * 1000)
    try:
        tab.goto(f"{base_url}/{page}.html", wait_until="load")
        problem = tab.evaluate(READY_JS, timeout_s * 1000)
        if problem:
            raise BookPdfError(f"{page}.html: {problem}. Rebuild the book with 'make book', or allow more time "
                               "with --timeout.")
        info = tab.evaluate(PREPARE_JS)
        tab.add_style_tag(content=PRINT_CSS)
        tab.emulate_media(media="print")
        problem = tab.evaluate(READY_JS, timeout_s * 1000)  # images inside opened dropdowns, print fonts
        if problem:
            raise BookPdfError(f"{page}.html, made ready to print: {problem}.")
        return tab.pdf(print_background=True, scale=SCALE, **PAPER), info
    except PlaywrightError as err:
        raise BookPdfError(f"{page}.html could not be printed: {str(err).splitlines()[0]}") from err
    finally:
        context.close()


# --------------------------------------------------------------------------- our own pages

_BASE_CSS = """
body { font-family: "Lato", "DejaVu Sans", "Liberation Sans", sans-serif; color: #222; margin: 0; }
"""


def title_page(title: str, author: str, copyright: str, footer: str, built: str) -> str:
    e = html.escape
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{e(title)}</title><style>{_BASE_CSS}
.t {{ margin-top: 70mm; text-align: center; }}
h1 {{ font-size: 30pt; font-weight: 600; line-height: 1.2; margin: 0 0 12mm; }}
.a {{ font-size: 15pt; margin-bottom: 60mm; }}
.s {{ font-size: 10pt; color: #555; line-height: 1.6; }}
</style></head><body><div class="t"><h1>{e(title)}</h1><div class="a">{e(author)}</div>
<div class="s">{e(footer)}<br>Printed from the online book on {e(built)}.<br>&copy; {e(copyright)} {e(author)}</div>
</div></body></html>"""


def contents_page(entries: list[Entry], numbers: list[int]) -> str:
    """The table of contents: captions, page titles and page numbers; each entry links to ``#toc-<i>``
    (turned into a link to its page once the PDF is assembled)."""
    e = html.escape
    rows, caption = [], object()
    for i, (entry, number) in enumerate(zip(entries, numbers)):
        if entry.part != caption and entry.part:
            rows.append(f'<div class="part">{e(entry.part)}</div>')
        caption = entry.part
        rows.append(f'<a class="row" href="https://toc.invalid/{i}"><span class="title">{e(entry.title)}</span>'
                    f'<span class="fill"></span><span class="num">{number}</span></a>')
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Contents</title><style>{_BASE_CSS}
h1 {{ font-size: 22pt; font-weight: 600; margin: 0 0 8mm; }}
.part {{ font-size: 10pt; font-weight: 700; text-transform: uppercase; letter-spacing: 0.06em; color: #555;
         margin: 7mm 0 2mm; }}
.row {{ display: flex; align-items: baseline; font-size: 12pt; line-height: 1.45; margin: 1.5mm 0;
        color: #222; text-decoration: none; }}
.fill {{ flex: 1; border-bottom: 1px dotted #999; margin: 0 2mm; min-width: 10mm; }}
.num {{ min-width: 8mm; text-align: right; }}
</style></head><body><h1>Contents</h1>{''.join(rows)}</body></html>"""


def number_pages(count: int) -> str:
    """``count`` empty A4 pages (printed without margins) with their number (1, 2, ...) in the bottom margin:
    laid over the book's pages."""
    pages = "".join(f'<div class="p"><span>{n}</span></div>' for n in range(1, count + 1))
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>{_BASE_CSS}
.p {{ height: 290mm; position: relative; break-after: page; }}
.p:last-child {{ break-after: auto; }}
.p span {{ position: absolute; top: 284mm; left: 0; right: 0; text-align: center; font-size: 9pt; color: #555; }}
</style></head><body>{pages}</body></html>"""


# --------------------------------------------------------------------------- assembling


def _named_destinations(reader) -> dict[str, tuple[int, float | None]]:
    """Chromium's named destinations of one printed page: id -> (page index, top)."""
    found = {}
    for name, dest in reader.named_destinations.items():
        try:
            index = reader.get_destination_page_number(dest)
        except Exception:  # noqa: BLE001 - a destination pypdf cannot place is skipped, not fatal
            continue
        top = dest.get("/Top")
        found[unquote(str(name).lstrip("/"))] = (index, float(top) if top is not None else None)
    return found


def _goto(writer, index: int, top: float | None):
    from pypdf.generic import ArrayObject, FloatObject, NameObject, NullObject

    return ArrayObject([writer.pages[index].indirect_reference, NameObject("/XYZ"), NullObject(),
                        FloatObject(top if top is not None else PAGE_HEIGHT_PT), NullObject()])


def _relink(writer, entries: list[Entry], base_url: str,
            dests: list[dict[str, tuple[int, float | None]]]) -> dict[str, int]:
    """Links between pages of the book point inside the PDF; other links into the site become relative
    (they resolve from the copy in _build/html/); the contents page's links go to their pages."""
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    by_path = {f"{entry.page}.html": i for i, entry in enumerate(entries)}
    counts = {"internal": 0, "site": 0}

    def target(i: int, fragment: str):
        entry = entries[i]
        if fragment and fragment in dests[i]:
            index, top = dests[i][fragment]
            return _goto(writer, entry.start + index, top)
        return _goto(writer, entry.start, None)

    owner = []  # page index -> entry index (None: title and contents pages)
    for i, entry in enumerate(entries):
        owner += [i] * entry.pages
    owner = [None] * (len(writer.pages) - len(owner)) + owner

    for index, page in enumerate(writer.pages):
        for ref in page.get("/Annots", []) or []:
            annot = ref.get_object()
            if annot.get("/Subtype") != "/Link":
                continue
            dest = annot.get("/Dest")
            action = annot.get("/A")
            if dest is not None and not isinstance(dest, list) and owner[index] is not None:
                i = owner[index]
                name = unquote(str(dest).lstrip("/"))
                annot[NameObject("/Dest")] = target(i, name)
                counts["internal"] += 1
                continue
            if action is None or action.get("/S") != "/URI":
                continue
            url = str(action.get("/URI"))
            if url.startswith("https://toc.invalid/"):
                i = int(url.rsplit("/", 1)[1])
                del annot["/A"]
                annot[NameObject("/Dest")] = target(i, "")
                counts["internal"] += 1
                continue
            if not url.startswith(base_url + "/"):
                continue
            parts = urlsplit(url)
            path = unquote(parts.path.lstrip("/"))
            if path in by_path:
                del annot["/A"]
                annot[NameObject("/Dest")] = target(by_path[path], unquote(parts.fragment))
                counts["internal"] += 1
            else:  # a download, a zip, the index: relative to the site's root, where the copy is served
                relative = path + (f"#{parts.fragment}" if parts.fragment else "")
                annot[NameObject("/A")] = DictionaryObject({NameObject("/S"): NameObject("/URI"),
                                                            NameObject("/URI"): TextStringObject(relative)})
                counts["site"] += 1
    return counts


def build(html_dir: Path, output: Path, copy_to: Path | None, book_root: Path, chromium: str | None,
          timeout_s: float = 120, log=print) -> Path:
    """Print the book in ``html_dir`` to ``output`` (and copy it to ``copy_to``); returns ``output``."""
    import yaml
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import Fit

    if not (html_dir / "index.html").is_file():
        raise BookPdfError(f"No built book in {_show(html_dir)}: run 'make book' first.")
    toc_path = book_root / "_toc.yml"
    if not toc_path.is_file():
        raise BookPdfError(f"No table of contents at {toc_path}: pass --book-root, the folder of _toc.yml.")
    entries = toc_entries(yaml.safe_load(toc_path.read_text(encoding="utf-8")))
    missing = [f"{e.page}.html" for e in entries if not (html_dir / f"{e.page}.html").is_file()]
    if missing:
        raise BookPdfError(f"The built book in {_show(html_dir)} has no {', '.join(missing)} (listed in "
                           f"{_show(toc_path)}): run 'make book' again.")
    executable = find_chromium(chromium)
    config = _config(book_root)
    title = config.get("title") or "The book"
    author = config.get("author") or ""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        raise BookPdfError(f"Playwright is not installed in {sys.executable} ({err}): run 'make setup'.") from err

    start = time.monotonic()
    log(f"Printing {len(entries)} pages of {_show(html_dir)} with {executable}")
    with serve(html_dir) as base_url, sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        except PlaywrightError as err:
            raise BookPdfError(f"Chromium ({executable}) did not start: {str(err).splitlines()[0]}. "
                               + CHROMIUM_HINT) from err
        try:
            for n, entry in enumerate(entries, 1):
                t0 = time.monotonic()
                entry.pdf, info = print_page(browser, base_url, entry.page, timeout_s)
                entry.title, entry.sections = info["title"], [tuple(s) for s in info["sections"]]
                entry.pages = len(PdfReader(io.BytesIO(entry.pdf)).pages)
                log(f"[{n:2d}/{len(entries)}] {entry.page}.html: {entry.pages} page{'s' * (entry.pages != 1)} "
                    f"({time.monotonic() - t0:.1f} s)  {entry.title}")
            built = datetime.date.today().isoformat()
            front = _print_html(browser, title_page(title, author, str(config.get("copyright") or ""),
                                                   str((config.get("html") or {}).get("extra_footer") or ""),
                                                   built))
            front_pages = len(PdfReader(io.BytesIO(front)).pages)
            # the contents' length does not depend on the numbers (fixed width): lay it out once to count
            draft = _print_html(browser, contents_page(entries, [999] * len(entries)))
            toc_pages = len(PdfReader(io.BytesIO(draft)).pages)
            first = front_pages + toc_pages
            for entry in entries:
                entry.start, first = first, first + entry.pages
            contents = _print_html(browser, contents_page(entries, [e.start + 1 for e in entries]))
            if len(PdfReader(io.BytesIO(contents)).pages) != toc_pages:
                raise BookPdfError("the contents changed length once numbered; report this as a bug")
            total = first
            no_margin = {"top": "0", "bottom": "0", "left": "0", "right": "0"}
            numbers = PdfReader(io.BytesIO(_print_html(browser, number_pages(total), margin=no_margin)))
        finally:
            browser.close()

        log(f"Assembling {total} pages: title page, contents, bookmarks, page numbers, links")
        writer = PdfWriter()
        readers = [PdfReader(io.BytesIO(front)), PdfReader(io.BytesIO(contents))]
        readers += [PdfReader(io.BytesIO(e.pdf)) for e in entries]
        for reader in readers:
            for page in reader.pages:
                writer.add_page(page)
        if len(numbers.pages) != total:
            raise BookPdfError(f"the page numbers came out as {len(numbers.pages)} pages for {total}; "
                               "report this as a bug")
        for index in range(front_pages, total):
            writer.pages[index].merge_page(numbers.pages[index])
            writer.pages[index].compress_content_streams()  # merging leaves them uncompressed (x10 in size)
        dests = [_named_destinations(r) for r in readers[2:]]
        counts = _relink(writer, entries, base_url, dests)

    writer.add_outline_item(title="Contents", page_number=front_pages)
    parts = {}
    for entry, dest in zip(entries, dests):
        parent = None
        if entry.part:
            if entry.part not in parts:
                parts[entry.part] = writer.add_outline_item(title=entry.part, page_number=entry.start,
                                                            is_open=True)
            parent = parts[entry.part]
        item = writer.add_outline_item(title=entry.title, page_number=entry.start, parent=parent, is_open=False)
        for section, anchor in entry.sections:
            if anchor not in dest:
                continue
            index, top = dest[anchor]
            writer.add_outline_item(title=section, page_number=entry.start + index, parent=item,
                                    fit=Fit.xyz(top=top) if top is not None else Fit.fit())
    writer.add_metadata({"/Title": title, "/Author": author, "/Creator": "tools/book_pdf.py (Chromium, pypdf)"})
    writer.page_mode = "/UseOutlines"
    writer.compress_identical_objects()
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as fh:
        writer.write(fh)
    size = output.stat().st_size / 1e6
    log(f"Wrote {_show(output)}: {total} pages, {size:.1f} MB, {counts['internal']} links inside the PDF "
        f"({time.monotonic() - start:.0f} s)")
    if copy_to is not None and copy_to.resolve() != output.resolve():
        copy_to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(output, copy_to)
        log(f"Copied to {_show(copy_to)} (the landing page links to it)")
    return output


def _show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/book_pdf.py", description=__doc__.split("Examples")[0].replace("``", "").strip(),
        epilog=("The run prints one line per page (each takes a few seconds: MathJax typesets, Chromium prints). "
                "Needs the built book (make book) and Debian's chromium.\n\nExamples:\n"
                "  make pdf\n\n"
                "To print a book built elsewhere (jupyter-book build . --path-output DIR), pass its DIR/_build/html "
                "as --html and a PDF path as --output; add --no-copy to leave that site as it is."),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--html", type=Path, default=REPO / "_build" / "html",
                        help="the built book (default: _build/html, made by make book)")
    parser.add_argument("--output", "-o", type=Path, default=None,
                        help=f"the PDF to write (default: _build/pdf/{PDF_NAME} next to the --html folder)")
    parser.add_argument("--no-copy", action="store_true",
                        help=f"do not copy the PDF into the --html folder as {PDF_NAME} (the landing page links "
                             "to that copy)")
    parser.add_argument("--book-root", type=Path, default=REPO,
                        help="the folder of _toc.yml and _config.yml (default: the repository)")
    parser.add_argument("--chromium", default=None,
                        help="the Chromium executable (default: /usr/bin/chromium, else chromium on PATH)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds allowed per page (default: 120)")
    args = parser.parse_args(argv)
    html_dir = args.html
    output = args.output or html_dir.parent / "pdf" / PDF_NAME
    copy_to = None if args.no_copy else html_dir / PDF_NAME
    try:
        build(html_dir, output, copy_to, args.book_root, args.chromium, args.timeout,
              log=functools.partial(print, flush=True))
    except BookPdfError as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
