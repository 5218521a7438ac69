"""The feedback page a student gets: readable offline, failed tests first.

nbgrader's own feedback template (``feedback/index.html.j2``) loads MathJax 2 from
a CDN, lists every test as "Test cell", leaves long lines to scroll sideways, has
no table styles and shows the instructor's helper code in full. This module puts
our template (``autograder/instructor/templates/lrlab_feedback``, built on nbgrader's) and
one preprocessor, :class:`FeedbackCells`, in its place:

- **Math offline.** MathJax 3 (``tex-svg-full.js``, from the pinned
  ``django-static-mathjax`` package the book uses, see ``book/_ext/offline_mathjax.py``)
  is *inlined*, compressed, into every page whose notebook has math: the SVG
  output needs no font files and the full component no extensions, so the page
  loads nothing else. A page is one self-contained file because that is all
  nbgrader's ``release_feedback`` sends a student (it copies ``<notebook>.html``
  alone), and a page mailed, uploaded or zipped on its own must work too. It adds
  about 0.95 MB to a page with math; pages without math get none. The browser
  unpacks it (``DecompressionStream``: browsers from 2023 on); an older one shows
  the TeX as written.
- **A summary that names the tests.** A table of the graded cells: the test's
  ``grade_id`` (linked to the cell), the first line of its docstring, points and
  passed/failed in words, failed rows marked, and a link to the first failed test.
- **Long lines wrap**, in code and in outputs (``pre-wrap``, ``overflow-wrap: anywhere``).
- **Tables are styled** (markdown tables and the summary).
- **Helper code is folded.** The input of each read-only instructor cell that is
  not a test (imports, helpers such as ``check_raises``, demos) sits in a closed
  ``<details>``; its output stays visible.
- **Failed tests stand out**: a red panel with "Failed" in words, green for passed.

Wiring: :func:`autograder.instructor._nbgrader.make_config` puts :class:`FeedbackCells` in
``GenerateFeedback.preprocessors`` (after nbgrader's ``GetGrades``) and calls
:func:`configure`; :func:`write_feedback` stands in for
``NbGraderAPI.generate_feedback``, which would force nbgrader's own template.
"""

from __future__ import annotations

import base64
import functools
import gzip
import re
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from ..notebook import cell_label, grade_id, grading_kind, is_graded, nbgrader_meta, points

__all__ = [
    "FeedbackCells", "TEMPLATE_NAME", "TEMPLATE_DIR", "cell_label", "configure", "mathjax_script", "write_feedback",
]

TEMPLATE_NAME = "lrlab_feedback"
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
#: The MathJax component inlined in pages with math: TeX input with every extension, SVG output
#: (no web fonts to load), the menu. Nothing else is fetched at run time.
MATHJAX_COMPONENT = "tex-svg-full.js"
_MATH = re.compile(r"\$|\\\(|\\\[|\\begin\{")


def mathjax_dir() -> Path:
    """The ``es5/`` folder of the pinned MathJax 3 distribution (``django-static-mathjax``)."""
    try:
        import mathjax  # the django-static-mathjax package; it needs no Django to provide the files
    except ImportError as err:  # pragma: no cover - the pinned requirements include it
        raise RuntimeError("MathJax is missing: install the pinned requirements (make setup), "
                           "which include django-static-mathjax") from err
    return Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5"


@functools.lru_cache(maxsize=1)
def mathjax_script() -> str:
    """MathJax's code (:data:`MATHJAX_COMPONENT`), gzip-compressed and base64-encoded.

    The page carries it in a ``<script type="application/gzip;base64">`` data
    block and unpacks it with the browser's ``DecompressionStream`` (Chrome and
    Edge 80, Firefox 113, Safari 16.4): about 0.95 MB instead of 2.3 MB a page. In
    an older browser the math stays as TeX, which is still readable.
    """
    path = mathjax_dir() / MATHJAX_COMPONENT
    if not path.is_file():  # pragma: no cover
        raise RuntimeError(f"no {MATHJAX_COMPONENT} in {path.parent}: reinstall django-static-mathjax")
    packed = gzip.compress(path.read_bytes(), compresslevel=9, mtime=0)  # mtime=0: the same bytes every run
    return base64.b64encode(packed).decode("ascii")


def _has_math(nb) -> bool:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and _MATH.search(cell.source):
            return True
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/latex" in data or _MATH.search(str(data.get("text/markdown", ""))):
                return True
    return False


_KIND_WORDS = {"test": "Test", "coding": "Coding answer", "written": "Written answer", "task": "Task"}


def _num(x) -> str:
    return f"{float(x or 0):g}"


class FeedbackCells(Preprocessor):
    """Label the graded cells, mark the failed ones, find the helper cells; MathJax if needed.

    Runs after nbgrader's ``GetGrades`` (which puts each cell's ``score`` in its
    metadata). Each cell that the page treats specially gets
    ``metadata.lrlab_feedback`` (``kind``, ``label``, ``status``, ``score``,
    ``points``); ``resources["lrlab_feedback"]`` gets the summary rows, the first
    failed test and the MathJax code (empty for a notebook without math).
    """

    enabled = Bool(True, help="nbconvert's preprocessors are off unless enabled").tag(config=True)

    def preprocess(self, nb, resources):
        rows, comments = [], []
        for cell in nb.cells:
            kind = grading_kind(cell)
            if kind is None:
                continue
            meta = nbgrader_meta(cell)  # GetGrades added ``score`` and ``comment``
            gid = grade_id(cell) or ""
            info = {"kind": kind, "id": gid}
            if kind == "helper":
                lines = len(cell.source.splitlines())
                info["summary"] = (f"Instructor's code, cell {gid}: {lines} line{'s' * (lines != 1)}"
                                   if gid else f"Instructor's code: {lines} line{'s' * (lines != 1)}")
            else:
                if is_graded(cell):
                    score, worth = float(meta.get("score") or 0), points(cell)
                    status = "passed" if score >= worth else ("failed" if score <= 0 else "partial")
                    info.update(score=_num(score), points=_num(worth), status=status)
                info["label"] = cell_label(cell.source) if kind == "test" else ""
                info["words"] = _KIND_WORDS.get(kind, "")
                if is_graded(cell) or kind == "task":
                    rows.append(info)
                if meta.get("comment"):
                    comments.append(gid)
            cell.metadata["lrlab_feedback"] = info
        first_failed = next((r["id"] for r in rows if r.get("status") in ("failed", "partial")), "")
        n_failed = sum(r.get("status") in ("failed", "partial") for r in rows)
        resources["lrlab_feedback"] = {
            "rows": rows,
            "comments": comments,
            "first_failed": first_failed,
            "n_failed": n_failed,
            "mathjax": mathjax_script() if _has_math(nb) else "",
        }
        return nb, resources


def configure(c) -> None:
    """Make nbgrader's ``GenerateFeedback`` in the traitlets config ``c`` use this page.

    Parameters
    ----------
    c : traitlets.config.Config
        The course's config (see :func:`autograder.instructor._nbgrader.make_config`).
    """
    import nbgrader

    formgrader = Path(nbgrader.__file__).resolve().parent / "server_extensions" / "formgrader"
    c.HTMLExporter.template_name = TEMPLATE_NAME
    # Our template (its conf.json names nbgrader's "feedback" as its base) and nbgrader's.
    c.HTMLExporter.extra_template_basedirs = [str(TEMPLATE_DIR), str(formgrader / "templates")]
    # Where ``{% extends 'feedback/index.html.j2' %}`` and nbgrader's
    # ``include_css('bootstrap.min.css')`` find their files (GenerateFeedback sets only the latter).
    c.HTMLExporter.extra_template_paths = [
        str(formgrader / "static" / "node_modules" / "bootstrap" / "dist" / "css"), str(formgrader / "templates"),
    ]


def write_feedback(api, assignment: str, student: str) -> dict:
    """nbgrader's ``NbGraderAPI.generate_feedback(assignment, student, force=True)``, with our page.

    nbgrader's method sets ``HTMLExporter.template_name = 'feedback'`` over any
    configuration; this does the same steps with :data:`TEMPLATE_NAME`.

    Parameters
    ----------
    api : nbgrader.apps.NbGraderAPI
        From :func:`autograder.instructor._nbgrader.make_api` (its config comes from ``make_config``).
    assignment, student : str
        Which autograded submission.

    Returns
    -------
    dict
        nbgrader's result: ``success``, and ``log``/``error`` when there are any.
    """
    from nbgrader.converters import GenerateFeedback
    from nbgrader.utils import capture_log, temp_attrs
    from traitlets.config import Config

    c = Config()
    configure(c)
    with temp_attrs(api.coursedir, assignment_id=assignment, student_id=student):
        app = GenerateFeedback(coursedir=api.coursedir, parent=api)
        app.update_config(c)
        app.force = True
        return capture_log(app)
