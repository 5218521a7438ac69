"""Each chapter's parameters and experiments, one module per book page (``book/<page>.md``).

A chapter and its claims test (``tests/test_<page>_claims.py``) import the same
module, so the numbers the book shows and the numbers the tests check come from
the same parameters and the same code. Library code (models, trainers,
statistics) lives in the concept modules of :mod:`lrlab`; these modules only
choose parameters and assemble experiments.

:func:`keep` hands a computed value to the page's prose (myst-nb's ``glue``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["keep"]


class _PlainText(str):
    """A string that glues without quotes (its repr is itself)."""

    def __repr__(self) -> str:
        return str(self)


def keep(name: str, value) -> None:
    """Glue a computed value under ``name`` for the page's prose (``{glue:text}`name:.3f```).

    numpy scalars become plain Python numbers (so format specs apply), strings
    lose their quotes. Only meaningful inside a notebook executed by myst-nb.
    """
    from myst_nb import glue

    if isinstance(value, str):
        value = _PlainText(value)
    elif isinstance(value, np.generic):
        value = value.item()
    glue(name, value, display=False)
