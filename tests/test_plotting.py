"""lrlab.plotting: no colour-only encodings, and figures shown with alternative text."""

from __future__ import annotations

from itertools import islice

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lrlab import plotting  # noqa: E402
from lrlab.schedules import constant_schedule, cosine_schedule, linear_schedule  # noqa: E402


def test_the_first_eight_styles_differ_in_line_style_not_only_colour():
    first = list(islice(plotting.styles(), len(plotting.PALETTE)))
    dashes = [str(s["linestyle"]) for s in first]
    assert len(set(dashes)) == len(first), f"two styles share a line style: {dashes}"
    assert len({s["color"] for s in first}) == len(first)


def test_plot_helpers_draw_each_curve_with_its_own_line_style():
    fig, (ax1, ax2) = plt.subplots(1, 2)
    plotting.plot_schedules({"a": constant_schedule(0.1), "b": cosine_schedule(0.1, 10), "c": linear_schedule(0.1, 0.0, 10)}, 10, ax=ax1)
    plotting.plot_curves({"a": np.ones(5), "b": np.ones(5) * 2, "c": np.ones(5) * 3}, ax=ax2)
    for ax in (ax1, ax2):
        dashes = [(line.get_linestyle(), str(line.get_dashes() if hasattr(line, "get_dashes") else "")) for line in ax.lines]
        assert len({d[0] for d in dashes}) == len(ax.lines), f"lines told apart by colour alone: {dashes}"
    plt.close(fig)


@pytest.mark.parametrize("alt", ["", "   ", "a plot"])
def test_show_refuses_missing_or_empty_alt_text(alt):
    with pytest.raises(ValueError, match="alt must describe"):
        plotting.show(alt=alt)


@pytest.mark.slow
def test_show_in_a_notebook_attaches_the_alt_text_to_the_image(tmp_path):
    from nbclient import NotebookClient

    alt = "A straight line rising from zero to one, the only curve in the figure."
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\nfrom lrlab.plotting import show, use_style\nuse_style()\n"
        f"fig, ax = plt.subplots()\nax.plot([0, 1])\nshow(fig, alt={alt!r})\nprint(plt.get_fignums())"
    )]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1, f"expected one PNG output, got {[o.get('output_type') for o in outputs]}"
    assert images[0].metadata["image/png"]["alt"] == alt
    assert "width" in images[0].metadata["image/png"], "retina sizing lost"
    assert "height" not in images[0].metadata["image/png"], (
        "show() fixes the display height too: a page narrower than the width squashes the figure"
    )
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert printed.strip() == "[]", "show() should close the figure (no second copy at the end of the cell)"


@pytest.mark.slow
def test_inline_and_glued_figures_carry_a_width_but_no_height(tmp_path):
    """The book's figures (displayed or glued by myst-nb after ``use_style()``) keep their aspect ratio.

    A PNG output whose metadata has both ``width`` and ``height`` becomes an image with
    a fixed ``width: ...px; height: ...px`` in the book; in a column narrower than the width
    the browser narrows it but keeps the height (issue #12, item 2). Retina resolution stays:
    the width is half the pixel width.
    """
    import base64
    import struct

    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\nfrom myst_nb import glue\nfrom lrlab.plotting import use_style\nuse_style()\n"
        "fig, ax = plt.subplots(1, 2, figsize=(12, 3.6))\nax[0].plot([0, 1])\n"
        "glue('fig-wide', fig, display=False)\ndisplay(fig)\nplt.close(fig)"
    )]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    glued = "application/papermill.record/image/png"  # how myst-nb's glue stores a PNG
    images = [o for o in nb.cells[0].outputs if {"image/png", glued} & set(o.get("data", {}))]
    assert len(images) == 2, f"expected the glued and the displayed figure, got {[o.get('output_type') for o in nb.cells[0].outputs]}"
    for image in images:
        metadata = image.get("metadata", {}).get("image/png", {})
        assert "height" not in metadata, f"a fixed display height squashes the figure on narrow pages: {metadata}"
        png = base64.b64decode(image["data"].get("image/png") or image["data"][glued])
        pixel_width = struct.unpack(">I", png[16:20])[0]
        assert metadata.get("width") == pixel_width // 2, f"retina width lost: {metadata}, {pixel_width} px"
