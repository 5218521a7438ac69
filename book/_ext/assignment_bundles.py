"""Build one ``<assignment>.zip`` per released assignment before the book is read, for {download} links.

The "how to take this course" page (book/assignments.md) links
``{download}`<assignment>.zip <../_build/bundles/<assignment>.zip>``` for every
assignment: the student notebook plus what it needs outside the repository
(:func:`autograder.student.bundle.make_bundle`). Sphinx copies a downloaded file when
it reads the page, so the zips are written at ``builder-inited``, from the
current ``exercises/``, into ``<repo>/_build/bundles/``. Nothing is fetched.
"""

from __future__ import annotations

from pathlib import Path

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)


def build_bundles(app) -> None:
    from autograder.student.bundle import make_bundle

    repo = Path(app.srcdir)
    exercises = repo / "exercises"
    if not exercises.is_dir():
        return
    dest = repo / "_build" / "bundles"
    names = sorted(p.name for p in exercises.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
    for name in names:
        make_bundle(name, repo=repo, dest=dest)
    LOGGER.info(f"assignment_bundles: {len(names)} zip(s) in {dest}")


def setup(app):
    app.connect("builder-inited", build_bundles)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
