"""Serve MathJax 3 from the built site instead of a CDN, so math renders with no network.

MathJax's files come from the ``django-static-mathjax`` package (MathJax 3.2.2,
pinned in requirements.txt; it needs no Django to provide the files). At the end
of an HTML build the CHTML component, its fonts and the extensions it loads on
demand are copied to ``_static/mathjax/``, and ``mathjax_path`` points there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# Files and folders (relative to MathJax's es5/ directory) that the tex-mml-chtml
# component needs at run time: itself, its fonts, the TeX extensions it autoloads,
# the menu and the accessibility pieces the menu can switch on.
NEEDED = ["tex-mml-chtml.js", "output/chtml", "input/tex/extensions", "ui", "a11y", "sre", "adaptors"]
TARGET = "mathjax"  # under _static/
ENTRY = f"{TARGET}/tex-mml-chtml.js"


def mathjax_source() -> Path:
    """The es5/ directory of the installed MathJax distribution."""
    try:
        import mathjax  # the django-static-mathjax package
    except ImportError as err:  # pragma: no cover - setup installs it
        raise RuntimeError(
            "MathJax files are missing: install the pinned requirements (make setup), "
            "which include django-static-mathjax"
        ) from err
    src = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (src / "tex-mml-chtml.js").is_file():  # pragma: no cover
        raise RuntimeError(f"no tex-mml-chtml.js under {src}: reinstall django-static-mathjax")
    return src


def _use_local_path(app, config):
    config.mathjax_path = ENTRY


def _copy_files(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    src = mathjax_source()
    dest = Path(app.outdir) / "_static" / TARGET
    for rel in NEEDED:
        item = src / rel
        if item.is_dir():
            shutil.copytree(item, dest / rel, dirs_exist_ok=True)
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item, dest / rel)


def setup(app):
    mathjax_source()  # fail early, with the fix, if the files are not installed
    app.connect("config-inited", _use_local_path)
    app.connect("build-finished", _copy_files)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
