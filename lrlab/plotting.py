"""The course's figure style: one palette (Okabe-Ito, colour-blind safe), sizes and line styles.

Every chapter draws through these helpers so figures look alike. Lines differ
by style as well as colour, so no figure relies on colour alone. In a notebook,
:func:`show` displays a figure together with its alternative text (what a
screen reader says, and the ``alt`` of the image in exported HTML and in the
autograder's feedback).
"""

from __future__ import annotations

from itertools import cycle
from typing import Mapping

import numpy as np

__all__ = ["PALETTE", "LINESTYLES", "use_style", "styles", "plot_schedules", "plot_curves", "show"]

#: Okabe & Ito (2008) colour-blind-safe palette (black first).
PALETTE = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#F0E442"]
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2, 2, 2))]


def use_style() -> None:
    """Set matplotlib defaults for the book: readable fonts, light grid, high-DPI output.

    Figures are drawn on an opaque white background (not the transparent one of
    Jupyter's inline backend), so their black text and axes stay readable when the
    book is read in dark mode (tests/test_browser.py checks the rendered pages).
    """
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.figsize": (7.0, 3.6),
            "figure.dpi": 110,
            "savefig.dpi": 200,
            "font.size": 10.5,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "axes.prop_cycle": mpl.cycler(color=PALETTE),
            # opaque white figures: readable on the book's dark theme too
            "figure.facecolor": "white",
            "figure.edgecolor": "white",
            "savefig.facecolor": "white",
            "savefig.edgecolor": "white",
            "savefig.transparent": False,
        }
    )
    _retina_inline_figures()


def _retina_inline_figures() -> None:
    """In a notebook (the book's chapters), render inline figures at twice the resolution.

    IPython's "retina" format records both a display width and a display height
    (half the pixel size) with each PNG, and the book turns them into a fixed
    ``width: ...px; height: ...px`` on the image: in a column narrower than the
    width, the browser shrinks the width but keeps the height, and the figure is
    squashed. Only the width is kept here, so a page scales the figure to its
    column with its aspect ratio intact (tests/test_browser.py measures it).
    """
    try:
        from IPython import get_ipython
        from matplotlib.figure import Figure
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # plain Python: nothing to do
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    set_matplotlib_formats("retina")
    png = shell.display_formatter.formatters["image/png"]
    retina = png.lookup_by_type(Figure)
    png.for_type(Figure, lambda fig: _width_only(retina(fig)))


def _width_only(rendered):
    """``(png, {"width": w, "height": h})`` -> ``(png, {"width": w})``; ``None`` (an empty figure) stays ``None``.

    >>> _width_only(("png", {"width": 385, "height": 198}))
    ('png', {'width': 385})
    >>> _width_only(None) is None
    True
    """
    if rendered is None:
        return None
    data, metadata = rendered
    return data, {key: value for key, value in metadata.items() if key != "height"}


def styles():
    """An endless iterator of ``dict(color=..., linestyle=...)`` pairs."""
    return ({"color": c, "linestyle": ls} for c, ls in cycle(zip(PALETTE, LINESTYLES)))


def plot_schedules(schedules: Mapping[str, object], total_steps: int, ax=None, logy: bool = False):
    """Plot each schedule's rate over ``0 .. total_steps - 1`` on one axis; returns the axis."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    steps = np.arange(total_steps)
    for (name, sched), style in zip(schedules.items(), styles()):
        ax.plot(steps, sched(steps), label=name, lw=1.8, **style)
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"learning rate $\eta(t)$")
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize=9, ncol=2)
    return ax


def plot_curves(curves: Mapping[str, np.ndarray], ax=None, logy: bool = True, xlabel="step $t$", ylabel="loss"):
    """Plot named 1-D curves (e.g. expected loss per step) with the course's styles; returns the axis."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    for (name, y), style in zip(curves.items(), styles()):
        ax.plot(np.arange(len(y)), y, label=name, lw=1.8, **style)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize=9)
    return ax


def show(fig=None, alt: str = "") -> None:
    """Display a figure in a notebook with alternative text, then close it.

    The figure is displayed as a PNG whose output metadata carries ``alt``
    (``{"image/png": {"alt": ...}}``, which nbconvert's HTML exporter, and so
    nbgrader's feedback pages, turn into the image's ``alt`` attribute). Outside
    IPython (a script, or a grader's plain Python process) it falls back to
    ``plt.show()``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure, optional
        The figure (default: the current one).
    alt : str
        One or two sentences saying what the figure shows (axes, curves, the
        message), for readers who cannot see it; at least 20 characters.

    Raises
    ------
    ValueError
        If ``alt`` is missing or too short to describe anything.

    >>> show(alt="")
    Traceback (most recent call last):
    ...
    ValueError: alt must describe what the figure shows in a sentence (at least 20 characters), got alt=''
    """
    import io

    import matplotlib.pyplot as plt

    text = str(alt).strip()
    if len(text) < 20:
        raise ValueError(
            f"alt must describe what the figure shows in a sentence (at least 20 characters), got alt={alt!r}"
        )
    fig = fig if fig is not None else plt.gcf()
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:  # plain Python without IPython
        plt.show()
        return
    if get_ipython() is None:
        plt.show()
        return
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=2 * fig.dpi, bbox_inches="tight")
    plt.close(fig)
    image = Image(data=buffer.getvalue(), retina=True, metadata={"alt": text})
    image.height = None  # width only: the page scales the figure and keeps its aspect ratio
    display(image)
