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


def keep(name: str, value) -> None:
    """Glue a computed value under ``name`` for the page's prose (``{glue:text}`name:.3f```).

    numpy scalars become plain Python numbers (so format specs apply). Strings are
    glued as they are: myst-nb reads a glued value back with ``ast.literal_eval`` of its
    ``repr``, which gives the string itself, without quotes (a string glued without its
    quotes would be evaluated: "16,000" became the tuple (16, 0) on the page).
    Only meaningful inside a notebook executed by myst-nb.
    """
    from myst_nb import glue

    if isinstance(value, np.generic):
        value = value.item()
    glue(name, value, display=False)
