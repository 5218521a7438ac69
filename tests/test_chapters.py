"""lrlab.chapters.keep: what a glued value shows on the page is the value computed."""

from __future__ import annotations

import numpy as np
import pytest


def _shown(value, fmt_spec: str = "") -> str:
    """Glue ``value`` with keep() in a fake notebook and render it as ``{glue:text}`name:fmt``` would."""
    from IPython.core.formatters import PlainTextFormatter
    from myst_nb.core.variables import format_plain_text

    import lrlab.chapters as chapters

    captured = {}

    def fake_glue(name, obj, display=True):
        captured[name] = obj

    import myst_nb

    original = myst_nb.glue
    myst_nb.glue = fake_glue
    try:
        chapters.keep("x", value)
    finally:
        myst_nb.glue = original
    # what the notebook stores: the text/plain repr IPython makes of the glued object
    return format_plain_text(PlainTextFormatter()(captured["x"]), fmt_spec)


@pytest.mark.parametrize("text", ["16,000", "1.5e-3", "(a, b)", "AdamW", "3 < 4", "it's"])
def test_a_glued_string_is_shown_as_it_is(text):
    assert _shown(text) == text


@pytest.mark.parametrize("value, spec, shown", [(np.float64(0.12345), ".3f", "0.123"), (np.int64(16000), ",", "16,000"),
                                                (16000, ",d", "16,000"), (0.5, ".0%", "50%")])
def test_a_glued_number_takes_the_format_spec(value, spec, shown):
    assert _shown(value, spec) == shown
