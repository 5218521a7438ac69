"""The per-question report of a graded class (``python -m autograder report``).

For every graded cell of an assignment, in notebook order: the points, the class's
mean, the share of full marks, how many submissions were graded and the most common
failure message, so an instructor sees which question the class got wrong; and the
totals of every submission, drawn as a histogram (a PNG figure).

The scores come from nbgrader's gradebook; the failure messages from the autograded
notebooks (``<course>/autograded/<student>/<assignment>/<notebook>.ipynb``), whose test
cells keep the error they raised. A message is the first line of ``ename: evalue``
(``AssertionError: warmup must reach peak_lr``), so that the same failure reads the
same for every student. Submissions that could not be run at all (status ``failed``:
unreadable notebook, kernel death) have no cell scores worth averaging; they are left
out of the report and counted apart.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..layout import AutograderError, Course, Repo, open_course
from ..notebook import grade_id
from ._nbgrader import quiet
from .gradebook import PROGRESS_MIN_SUBMISSIONS, _gradebook, _load_notes

__all__ = ["CellReport", "ClassReport", "class_report", "format_report", "failure_message", "cell_failures",
           "NOT_RUN"]

#: The failure of a test cell that scored less than full marks but shows no error (it never ran:
#: the notebook's time limit ran out first, or the grader stopped earlier).
NOT_RUN = "(no error shown: the cell did not run)"
#: Longest failure message shown in :func:`format_report` (the report keeps the whole first line).
MESSAGE_WIDTH = 80
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class CellReport:
    """How the class did on one graded cell.

    Attributes
    ----------
    grade_id : str
        The cell's nbgrader ``grade_id``.
    notebook : str
        The notebook it is in (file stem).
    points : float
        Points available.
    mean : float
        Mean score over the submissions graded on it.
    full_marks : float
        Share of those submissions with full marks, in [0, 1].
    graded : int
        Submissions with a score for this cell (manual grading still to do excluded).
    failure : str
        The most common failure message (see :func:`failure_message`), ``""`` when
        every graded submission got full marks.
    failure_count : int
        How many submissions failed with that message.
    """

    grade_id: str
    notebook: str
    points: float
    mean: float
    full_marks: float
    graded: int
    failure: str = ""
    failure_count: int = 0

    @property
    def common_failure(self) -> str:
        """The most common failure and its count, ``"AssertionError: ... (7 of 12)"``; ``""`` when none."""
        return f"{self.failure} ({self.failure_count} of {self.graded})" if self.failure else ""


@dataclass(frozen=True)
class ClassReport:
    """The report of one assignment (see :func:`class_report`).

    Attributes
    ----------
    assignment : str
    max_score : float
        Points available in the whole assignment.
    cells : list of CellReport
        One per graded cell, in notebook order.
    totals : dict of str to float
        Each reported submission's total, by student id (sorted).
    figure : pathlib.Path
        The histogram of totals (PNG).
    left_out : list of str
        Students whose submission could not be run (status ``failed``, score 0), left out.
    notebooks : list of str
        The assignment's notebooks.
    """

    assignment: str
    max_score: float
    cells: list
    totals: dict
    figure: Path
    left_out: list = field(default_factory=list)
    notebooks: list = field(default_factory=list)

    @property
    def size(self) -> int:
        """Number of submissions in the report."""
        return len(self.totals)

    @property
    def mean_total(self) -> float:
        """Mean total score (``nan`` for an empty class)."""
        return sum(self.totals.values()) / len(self.totals) if self.totals else math.nan


# --------------------------------------------------------------------------- failure messages


def failure_message(output) -> str:
    """The normalised message of an error output: first line of ``ename: evalue``, trimmed.

    Parameters
    ----------
    output : dict
        A notebook output of type ``error`` (keys ``ename``, ``evalue``).

    Returns
    -------
    str
        ``"AssertionError: double(2) should be 4"``, or just the exception's name
        when it has no message (``"NotImplementedError"``).

    Examples
    --------
    >>> failure_message({"output_type": "error", "ename": "AssertionError",
    ...                  "evalue": "  warmup must reach peak_lr\\n got 0.05 "})
    'AssertionError: warmup must reach peak_lr'
    >>> failure_message({"output_type": "error", "ename": "NotImplementedError", "evalue": ""})
    'NotImplementedError'
    """
    ename = " ".join(_ANSI.sub("", str(output.get("ename") or "Error")).split())
    lines = [line.strip() for line in _ANSI.sub("", str(output.get("evalue") or "")).splitlines()]
    first = next((line for line in lines if line), "")
    return f"{ename}: {' '.join(first.split())}" if first else ename


def cell_failures(nb) -> dict:
    """``{grade_id: message}`` for every graded cell of an autograded notebook that shows an error.

    Parameters
    ----------
    nb : nbformat.NotebookNode or dict
        An autograded notebook.

    Returns
    -------
    dict of str to str
        The first error of each graded cell that has one (see :func:`failure_message`).
    """
    found = {}
    for cell in nb.get("cells", []):
        gid = grade_id(cell)
        if gid is None or cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found[gid] = failure_message(output)
                break
    return found


def _cell_order(course: Course, assignment: str, notebook: str) -> list:
    """The grade ids of a notebook in the order of its cells (release copy of the course, else solutions/)."""
    import nbformat

    for path in (course.root / "release" / assignment / f"{notebook}.ipynb",
                 course.repo.solutions / assignment / f"{notebook}.ipynb"):
        try:
            nb = nbformat.read(path, as_version=4)
        except (OSError, ValueError):
            continue
        return [gid for gid in (grade_id(cell) for cell in nb.cells) if gid is not None]
    return []


def _read_failures(course: Course, student: str, assignment: str, notebook: str) -> dict:
    import nbformat

    path = course.root / "autograded" / student / assignment / f"{notebook}.ipynb"
    try:
        return cell_failures(nbformat.read(path, as_version=4))
    except (OSError, ValueError):
        return {}


# --------------------------------------------------------------------------- the report


def class_report(
    assignment: str | None = None,
    figure: os.PathLike | str | None = None,
    *,
    repo: Repo | os.PathLike | str | None = None,
    course_dir: os.PathLike | str | None = None,
    db: str | None = None,
    progress: bool = True,
) -> ClassReport:
    """Per-question report of a graded assignment, and a histogram of its totals.

    Parameters
    ----------
    assignment : str, optional
        The assignment; default the only one with graded submissions.
    figure : path-like, optional
        Where to write the histogram (PNG); default ``<course>/reports/<assignment>-totals.png``.
    repo, course_dir, db
        As for :func:`~autograder.instructor.grading.grade_submissions`.
    progress : bool
        Show a progress bar on standard error while reading a large class
        (:data:`~autograder.instructor.gradebook.PROGRESS_MIN_SUBMISSIONS` submissions or more).

    Returns
    -------
    ClassReport

    Raises
    ------
    AutograderError
        If nothing has been graded yet, ``assignment`` has no graded submissions
        (the message lists those that have), or ``assignment`` is omitted and
        several assignments are graded.
    """
    course = open_course(repo, course_dir, db)
    if not course.gradebook_exists():
        raise AutograderError(
            f"no gradebook in {course.root}: grade something first with `python -m autograder grade SUBMISSIONS` "
            "(or pass the --course-dir/--db you graded into)")
    quiet()
    notes = _load_notes(course)
    with _gradebook(course) as gb:
        graded = sorted(a.name for a in gb.assignments if a.submissions)
        if assignment is None:
            if not graded:
                raise AutograderError(f"nothing autograded in {course.root}: run `python -m autograder grade "
                                      "SUBMISSIONS` first")
            if len(graded) > 1:
                raise AutograderError(
                    f"{len(graded)} assignments are graded in {course.root} ({', '.join(graded)}): "
                    "say which one with --assignment A")
            assignment = graded[0]
        elif assignment not in graded:
            raise AutograderError(
                f"assignment={assignment!r} has no grades in {course.root} (graded assignments: "
                f"{', '.join(graded) or 'none'}): check the spelling, or grade it first with "
                "`python -m autograder grade SUBMISSIONS --assignment A`")
        a = gb.find_assignment(assignment)
        max_score = float(a.max_score)
        notebooks = sorted(nb.name for nb in a.notebooks)
        points = {(nb.name, cell.name): float(cell.max_score) for nb in a.notebooks for cell in nb.grade_cells}
        subs = sorted(a.submissions, key=lambda s: s.student_id)
        from tqdm import tqdm

        bar = tqdm(subs, desc="report", unit="submission", file=sys.stderr, dynamic_ncols=True,
                   disable=not progress or len(subs) < PROGRESS_MIN_SUBMISSIONS)
        scores: dict = {key: [] for key in points}
        failures: dict = {key: Counter() for key in points}
        totals, left_out = {}, []
        for sub in bar:
            student = sub.student_id
            if notes.get(f"{student}/{assignment}", {}).get("status") == "failed":
                left_out.append(student)
                continue
            totals[student] = float(sub.score)
            for nb in sub.notebooks:
                messages = None  # read the autograded notebook only when a cell there lost points
                for g in nb.grades:
                    key = (nb.name, g.name)
                    if key not in points or (g.needs_manual_grade and g.manual_score is None):
                        continue
                    score = float(g.score or 0.0)
                    scores[key].append(score)
                    if score < points[key]:
                        if messages is None:
                            messages = _read_failures(course, student, assignment, nb.name)
                        failures[key][messages.get(g.name, NOT_RUN)] += 1
        bar.close()
    if not totals:
        raise AutograderError(
            f"none of the {len(left_out)} submission(s) of {assignment!r} could be run (every one failed; "
            "see the notes of `python -m autograder export`): fix them and grade again")

    cells = []
    for notebook in notebooks:
        ids = [gid for (nb, gid) in points if nb == notebook]
        order = {gid: i for i, gid in enumerate(_cell_order(course, assignment, notebook))}
        for gid in sorted(ids, key=lambda g: (order.get(g, len(order)), ids.index(g))):
            key, got = (notebook, gid), scores[(notebook, gid)]
            full = sum(1 for s in got if s >= points[key] - 1e-9)
            failure, count = failures[key].most_common(1)[0] if failures[key] else ("", 0)
            cells.append(CellReport(
                grade_id=gid, notebook=notebook, points=points[key],
                mean=sum(got) / len(got) if got else math.nan,
                full_marks=full / len(got) if got else math.nan, graded=len(got),
                failure=failure, failure_count=count,
            ))
    path = Path(figure) if figure is not None else course.root / "reports" / f"{assignment}-totals.png"
    _histogram(list(totals.values()), max_score, assignment, path)
    return ClassReport(assignment=assignment, max_score=max_score, cells=cells, totals=dict(sorted(totals.items())),
                       figure=path.resolve(), left_out=left_out, notebooks=notebooks)


# --------------------------------------------------------------------------- the figure

#: Okabe & Ito's colour-blind-safe blue (bars) and vermillion (the mean), as in lrlab.plotting.
BAR_COLOUR, MEAN_COLOUR = "#0072B2", "#D55E00"


def histogram_bins(max_score: float, totals=()) -> list:
    """Bin edges for a histogram of totals out of ``max_score``: one bin per point up to 25 points, else about 20.

    Every bin is centred on a round score (0, 1, 2... or 0, 5, 10...), so integer
    totals never fall on an edge; the bins cover 0 to ``max_score`` and any total
    beyond (extra credit).

    Examples
    --------
    >>> histogram_bins(4)
    [-0.5, 0.5, 1.5, 2.5, 3.5, 4.5]
    >>> histogram_bins(100)[:3], histogram_bins(100)[-1]
    ([-2.5, 2.5, 7.5], 102.5)
    """
    top = max([float(max_score), *map(float, totals), 0.0])
    step = 1.0
    if top > 25:
        raw = top / 20
        magnitude = 10 ** math.floor(math.log10(raw))
        step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    n = int(math.ceil(top / step - 1e-9)) + 1
    return [round((i - 0.5) * step, 10) for i in range(n + 1)]


def _histogram(totals: list, max_score: float, assignment: str, path: Path) -> None:
    """Draw the histogram of ``totals`` with the mean marked, as a PNG at ``path``."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    mean = sum(totals) / len(totals)
    fig = Figure(figsize=(6.4, 4.0), dpi=120, layout="constrained")
    ax = fig.add_subplot()
    bins = histogram_bins(max_score, totals)
    counts, _, _ = ax.hist(totals, bins=bins, color=BAR_COLOUR, edgecolor="white", linewidth=1.0,
                           label="submissions")
    ax.axvline(mean, color=MEAN_COLOUR, linestyle="--", linewidth=2.0, label=f"mean {mean:.3g}")
    title = f"{assignment}: totals of {len(totals)} submission{'s' if len(totals) != 1 else ''}"
    ax.set_title(title, pad=26)  # room for the legend between the title and the axes
    ax.set_xlabel(f"total score (out of {max_score:g})")
    ax.set_ylabel("submissions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(bins[0], bins[-1])
    ax.set_ylim(0, max(counts) * 1.1 + 0.2)
    # above the axes, under the title: never over a bar or the mean's line
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False, borderaxespad=0.2)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    alt = (f"Histogram of the totals of {len(totals)} submissions of {assignment}, out of {max_score:g}; "
           f"mean {mean:.3g}, lowest {min(totals):g}, highest {max(totals):g}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", metadata={"Title": title, "Description": alt})
    except OSError as exc:
        raise AutograderError(f"could not write the figure to {path} ({exc}): pass --figure FILE.png "
                              "in a folder you can write to") from None


# --------------------------------------------------------------------------- text


def format_report(report: ClassReport) -> str:
    """The report as plain text: a table of the graded cells, the class size and mean total, the figure.

    Parameters
    ----------
    report : ClassReport

    Returns
    -------
    str
        Columns ``grade_id, points, mean, full marks, most common failure``, one
        line per graded cell; then the class's size and mean total, any
        submissions left out, and where the figure went.
    """
    several = len(report.notebooks) > 1

    def cut(text: str) -> str:
        return text if len(text) <= MESSAGE_WIDTH else text[:MESSAGE_WIDTH - 3] + "..."

    header = ("grade_id", "points", "mean", "full marks", "most common failure")
    rows = [(
        f"{c.notebook}/{c.grade_id}" if several else c.grade_id,
        f"{c.points:g}",
        "-" if math.isnan(c.mean) else f"{c.mean:.2f}",
        "-" if math.isnan(c.full_marks) else f"{100 * c.full_marks:.0f}%",
        (f"{cut(c.failure)} ({c.failure_count} of {c.graded})" if c.failure else "-"),
    ) for c in report.cells]
    widths = [max(len(x) for x in col) for col in zip(header, *rows)][:-1]
    right = (False, True, True, True)
    lines = []
    for row in (header, *rows):
        cells = [x.rjust(w) if r else x.ljust(w) for x, w, r in zip(row[:-1], widths, right)]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(header[-1]))
    lines.append("")
    lines.append(f"{report.assignment}: {report.size} submission{'s' if report.size != 1 else ''}, mean total "
                 f"{report.mean_total:.2f} of {report.max_score:g}.")
    if report.left_out:
        lines.append(f"Left out: {len(report.left_out)} submission(s) that could not be run (score 0): "
                     f"{', '.join(report.left_out)}; their notes are in `python -m autograder export`.")
    lines.append(f"Histogram of totals: {_shown(report.figure)}")
    return "\n".join(lines)


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it is inside it, else absolute."""
    try:
        return str(Path(path).absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
