"""book/_ext/notebook_downloads.py: the .ipynb a page offers is the executed notebook, also when its
outputs come from the execution cache (the second `make book`, or the Pages workflow's cached build)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from conftest import build_book, one_page_book

PAGE = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
# Probe

```{code-cell} ipython3
print(6 * 7)
```
"""


def _downloaded(book: Path) -> nbformat.NotebookNode:
    return nbformat.read(book / "_build" / "html" / "_sources" / "book" / "probe.ipynb", as_version=4)


@pytest.mark.slow
def test_a_page_built_from_the_execution_cache_still_offers_its_outputs(tmp_path):
    book = one_page_book(tmp_path / "src", PAGE)

    first = build_book(book)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert _downloaded(book).cells[1].outputs[0]["text"] == "42\n"

    # the second build reads the page again (a fresh html folder) and takes its outputs from the cache
    shutil.rmtree(book / "_build" / "html")
    shutil.rmtree(book / "_build" / "jupyter_execute")
    shutil.rmtree(book / "_build" / ".doctrees", ignore_errors=True)
    second = build_book(book)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "Using cached notebook" in second.stdout + second.stderr, "the second build did not use the cache"
    raw = nbformat.read(book / "_build" / "jupyter_execute" / "book" / "probe.ipynb", as_version=4)
    cell = _downloaded(book).cells[1]
    assert cell.outputs and cell.outputs[0]["text"] == "42\n", (
        f"the download lost its outputs on a cached build (myst-nb wrote {len(raw.cells[1].outputs)} outputs)")
    assert cell.execution_count == 1
