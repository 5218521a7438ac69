"""book/_ext/notebook_downloads.py: the .ipynb a page offers is the executed notebook, also when its
outputs come from the execution cache (the second `make book`, or the Pages workflow's cached build)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

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


def _build(book: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("jupyter-book")), "build", str(book)],
                          capture_output=True, text=True, timeout=300)


def _downloaded(book: Path) -> nbformat.NotebookNode:
    return nbformat.read(book / "_build" / "html" / "_sources" / "book" / "probe.ipynb", as_version=4)


@pytest.mark.slow
def test_a_page_built_from_the_execution_cache_still_offers_its_outputs(tmp_path):
    book = tmp_path / "src"
    (book / "book").mkdir(parents=True)
    for folder in ("_ext", "_static"):
        shutil.copytree(REPO / "book" / folder, book / "book" / folder)
    (book / "book" / "references.bib").write_text("")
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    (book / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (book / "_toc.yml").write_text("format: jb-book\nroot: book/probe\n")
    (book / "book" / "probe.md").write_text(PAGE)

    first = _build(book)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert _downloaded(book).cells[1].outputs[0]["text"] == "42\n"

    # the second build reads the page again (a fresh html folder) and takes its outputs from the cache
    shutil.rmtree(book / "_build" / "html")
    shutil.rmtree(book / "_build" / "jupyter_execute")
    shutil.rmtree(book / "_build" / ".doctrees", ignore_errors=True)
    second = _build(book)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "Using cached notebook" in second.stdout + second.stderr, "the second build did not use the cache"
    raw = nbformat.read(book / "_build" / "jupyter_execute" / "book" / "probe.ipynb", as_version=4)
    cell = _downloaded(book).cells[1]
    assert cell.outputs and cell.outputs[0]["text"] == "42\n", (
        f"the download lost its outputs on a cached build (myst-nb wrote {len(raw.cells[1].outputs)} outputs)")
    assert cell.execution_count == 1
