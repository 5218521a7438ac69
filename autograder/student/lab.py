"""The students' lab: a local JupyterLab workspace with nbgrader's assignment list.

``make lab`` calls :func:`prepare_workspace` and opens JupyterLab in ``workspace/``
(ignored by git) with ``JUPYTER_CONFIG_DIR`` set to ``workspace/.jupyter`` (hidden
from the file browser). That folder points nbgrader's student extensions at a local
*exchange* (``workspace/.exchange``) in which every released assignment of
``exercises/`` is offered, and switches off what students do not use: nbgrader's
instructor panels (Formgrader, Create Assignment, Course List), the *Fetch Feedback*
button (feedback never arrives in a local exchange) and JupyterLab's first-start
question about Jupyter news. The **Assignments** tab lists the assignments in course
order (:func:`course_order`), **Fetch** copies one into ``workspace/<assignment>/``
(your working copy; ``exercises/`` stays untouched), the **Validate** button runs the
visible tests, and **Submit** leaves a time-stamped copy in the exchange's
``inbound/`` folder (hand in the notebook itself the way your course says).
Per-assignment downloads are :mod:`autograder.student.bundle`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..layout import AutograderError, Repo, find_repo

__all__ = ["COURSE_ID", "Workspace", "prepare_workspace", "course_order"]

#: The course id the local exchange files assignments under.
COURSE_ID = "lrlab"

_CONFIG = '''\
# Written by `python -m autograder lab` (what `make lab` runs), again at every start: nbgrader's
# student extensions (Assignments tab, Validate button) use the workspace's local exchange.
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {course!r}
c.Exchange.root = {exchange!r}
c.Exchange.path_includes_course = False
c.Exchange.assignment_dir = {root!r}
c.Exchange.cache = {cache!r}
'''

#: nbgrader's instructor-side JupyterLab plugins and server extensions: not for students.
INSTRUCTOR_LAB_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
)
INSTRUCTOR_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
)

#: Hides nbgrader's "Fetch Feedback" button (in the Submitted list): feedback never reaches a
#: local exchange, the instructor sends it (python -m autograder feedback).
_CUSTOM_CSS = '''\
/* Written by `python -m autograder lab` (make lab). Feedback never arrives in this local
   exchange (your instructor sends it), so the Assignments tab shows no "Fetch Feedback". */
#submitted_assignments_list .item_status button {
  display: none;
}
'''

#: JupyterLab's first-start question "receive official Jupyter news?" answered no (and no update check).
_NEWS_SETTINGS = {"fetchNews": "false", "checkForUpdates": False}

@dataclass(frozen=True)
class Workspace:
    """A prepared student workspace.

    Attributes
    ----------
    root : Path
        Where JupyterLab opens and where fetched assignments go.
    exchange : Path
        nbgrader's exchange root (``<root>/.exchange``).
    assignments : tuple of str
        The assignments offered in the exchange's ``outbound/`` folder, in course order.
    config_dir : Path
        The Jupyter configuration folder the lab runs with (``<root>/.jupyter``, its
        ``JUPYTER_CONFIG_DIR``): ``nbgrader_config.py``, the server and page config, the
        Assignments tab's CSS and JupyterLab's user settings.
    """

    root: Path
    exchange: Path
    assignments: tuple[str, ...]
    config_dir: Path


def course_order(repo: Repo | os.PathLike | str | None = None) -> list[str]:
    """The assignments in course order: as the table of ``book/assignments.md`` lists them.

    The table (and the README's, which follows it) runs chapter by chapter, ``schedules``
    first. Released assignments the table does not name yet come last, by name.
    """
    repo = find_repo(repo)
    released = sorted(
        p.name for p in (repo.root / "exercises").iterdir() if p.is_dir() and any(p.glob("*.ipynb"))
    ) if (repo.root / "exercises").is_dir() else []
    order: list[str] = []
    page = repo.root / "book" / "assignments.md"
    if page.is_file():
        for line in page.read_text(encoding="utf-8").splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else []
            for cell in cells:
                m = re.fullmatch(r"`([A-Za-z0-9_]+)`", cell)
                if m and m.group(1) in released and m.group(1) not in order:
                    order.append(m.group(1))
                    break
    return order + [name for name in released if name not in order]


def _write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def prepare_workspace(repo: Repo | os.PathLike | str | None = None, root: os.PathLike | str | None = None) -> Workspace:
    """Create (or refresh) the student workspace, its Jupyter configuration and its local nbgrader exchange.

    Every assignment of ``exercises/`` is copied to ``<exchange>/<course>/outbound/``,
    replacing an older copy there, so the Assignments tab always offers the current
    release. ``<root>/.jupyter/`` (the lab's ``JUPYTER_CONFIG_DIR``, hidden from the file
    browser) gets ``nbgrader_config.py`` (the exchange), ``jupyter_server_config.json``
    (nbgrader's instructor server extensions off, :mod:`autograder.student.labext` on, with the
    course order), ``labconfig/page_config.json`` (the instructor lab plugins off),
    ``custom/custom.css`` (no *Fetch Feedback* button) and, unless the student changed it,
    the notification setting that answers JupyterLab's news question with no. Nothing
    the student fetched or wrote is touched.

    Parameters
    ----------
    repo : Repo or path-like, optional
        The repository (default: found from the current directory).
    root : path-like, optional
        The workspace (default: ``<repo>/workspace``).

    Returns
    -------
    Workspace

    Raises
    ------
    AutograderError
        If ``exercises/`` holds no released assignment (run ``python -m autograder release``).
    """
    repo = find_repo(repo)
    exercises = repo.root / "exercises"
    names = course_order(repo)
    if not names:
        raise AutograderError(
            f"no released assignment in {exercises}: run `python -m autograder release` first "
            "(it writes exercises/ from solutions/)"
        )
    root = Path(root) if root is not None else repo.root / "workspace"
    root = root.resolve()
    exchange = root / ".exchange"
    course = exchange / COURSE_ID
    for folder in (exchange, course, course / "outbound", course / "inbound", course / "feedback"):
        folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        dest = course / "outbound" / name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(exercises / name, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    config_dir = root / ".jupyter"
    _write_if_changed(config_dir / "nbgrader_config.py", _CONFIG.format(
        course=COURSE_ID, exchange=str(exchange), root=str(root), cache=str(root / ".nbgrader-cache")))
    old = root / "nbgrader_config.py"  # where earlier versions wrote it, in sight of the file browser
    if old.is_file() and old.read_text(encoding="utf-8").startswith("# Written by `python -m autograder"):
        old.unlink()
    server = {
        "ServerApp": {"jpserver_extensions": {**{e: False for e in INSTRUCTOR_SERVER_EXTENSIONS},
                                              "autograder.student.labext": True}},
        "LabApp": {"custom_css": True},
        "CourseOrder": {"assignments": list(names)},
    }
    _write_if_changed(config_dir / "jupyter_server_config.json", json.dumps(server, indent=2) + "\n")
    page = {"disabledExtensions": {plugin: True for plugin in INSTRUCTOR_LAB_PLUGINS}}
    _write_if_changed(config_dir / "labconfig" / "page_config.json", json.dumps(page, indent=2) + "\n")
    _write_if_changed(config_dir / "custom" / "custom.css", _CUSTOM_CSS)
    news = config_dir / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    if not news.exists():  # the student's own choice, once made in the lab, is kept
        _write_if_changed(news, json.dumps(_NEWS_SETTINGS, indent=2) + "\n")
    return Workspace(root=root, exchange=exchange, assignments=tuple(names), config_dir=config_dir)
