"""Per-assignment downloads: ``python -m autograder bundle`` writes ``<assignment>.zip``.

:func:`make_bundle` writes ``<assignment>.zip``: the student notebook plus what it
needs outside the repository (the ``lrlab`` helpers it imports, without the
modules that solve the assignment; the self-check; the packages they import,
pinned as in ``requirements.txt``; a README with the steps).
"""

from __future__ import annotations

import ast
import os
import re
import sys
import zipfile
from pathlib import Path

import nbformat

from ..layout import AutograderError, Repo, find_repo
from ..notebook import forbidden_modules

__all__ = ["make_bundle", "bundle_modules", "student_requirements", "bundle_readme", "forbidden_of",
           "SELF_CHECK_MODULES", "SELF_CHECK_PACKAGES", "RELEASES", "TOOLS"]


def forbidden_of(notebook: os.PathLike | str) -> list[str]:
    """The lrlab modules a graded run of this notebook refuses (``metadata.autograder.forbidden_modules``)."""
    return forbidden_modules(nbformat.read(os.fspath(notebook), as_version=4))


_README = """\
{title}
{underline}

This folder holds everything the assignment `{name}` of the course on learning-rate
schedules needs outside the course repository:

  {notebooks}   the notebook you complete
  lrlab/            the course's helpers it imports (device choice, plotting, data, ...);
                    the modules that solve this assignment are left out on purpose
  autograder/       the self-check (below), with a pristine copy of the notebook
  requirements.txt  the packages the notebook, the helpers and the self-check import, and
                    JupyterLab, pinned to the versions the course is tested with

You need Python 3.11 (`python3.11 --version` says whether you have it). In this
folder, once (a few minutes):

  python3.11 -m venv .venv
{torch_step}  .venv/bin/python -m pip install -r requirements.txt

(On Windows: `py -3.11 -m venv .venv`, and .venv\\Scripts\\python in place of .venv/bin/python.)
{torch_note}
Open the notebook:

  .venv/bin/jupyter lab {first}

Write your code where a cell says `raise NotImplementedError()`, run the visible
tests under each part, then check the whole notebook as the grader will run it:

  .venv/bin/python -m autograder validate {first}

It runs the saved notebook with the grader's own engine (your code and the tests
in separate processes, the test cells as released, the reference modules refused;
in a sandbox where bubblewrap is installed) and prints PASS or FAIL for every
graded cell, the points at stake and the test's message. Hidden tests (edge cases)
are added when your instructor grades. The notebook uses the GPU when torch sees
one (`cuda`), else the CPU.
Hand in the .ipynb file as your course says.
"""

#: The torch step of README.txt: the CPU wheel from PyTorch's own index, before the rest.
_TORCH_STEP = "  .venv/bin/python -m pip install {pin} --index-url https://download.pytorch.org/whl/cpu\n"
_TORCH_NOTE = """
The second line installs torch's CPU build (a few hundred MB) from PyTorch's own
index. Without it, pip on Linux takes torch from PyPI, which is the CUDA build with
NVIDIA's libraries (several GB): leave the line out only if you want torch to use an
NVIDIA GPU. The assignment runs on a CPU in well under a minute. (On macOS and
Windows PyPI's torch has no CUDA libraries; the line does no harm there.)
"""

_ENGINE = Path(__file__).resolve().parent.parent / "engine"
#: The self-check's modules (``python -m autograder validate``) that a download ships: the command
#: line, the notebook format, the grading engine (every module of ``autograder/engine/``: the
#: self-check runs notebooks as grading does), the restore step (the released test cells put back)
#: and ``instructor/_nbgrader`` (the command line's start-up calls its skip_slow_optional_imports),
#: with ``__init__`` files of their own (:data:`_AUTOGRADER_INIT`, :data:`_INSTRUCTOR_INIT`): the
#: real ones import the whole grader.
SELF_CHECK_MODULES = ("__main__", "cli", "layout", "notebook", "student/__init__", "student/validate",
                      *sorted(f"engine/{p.stem}" for p in _ENGINE.glob("*.py")), "instructor/restore",
                      "instructor/_nbgrader")
#: What the self-check imports on its way (module-level imports of SELF_CHECK_MODULES are
#: stdlib or each other; `validate` imports these when it runs; tests/test_student.py records it).
SELF_CHECK_PACKAGES = ("nbformat",)
#: Where a download keeps the pristine release of its notebook(s), inside ``autograder/``: the
#: self-check restores the test cells from it (:func:`autograder.student.validate.find_release`).
RELEASES = "autograder/releases"
#: Distributions a student needs that no shipped file imports, and why.
TOOLS = {
    "jupyterlab": "README.txt opens the notebook with `jupyter lab`",
    "ipykernel": "the Python kernel that `jupyter lab` runs the notebook in (with IPython, which the "
                 "self-check uses for the notebook's % lines)",
}
_AUTOGRADER_INIT = '"""The course\'s self-check, as an assignment\'s download ships it: python -m autograder validate NOTEBOOK."""\n'
_INSTRUCTOR_INIT = '"""Only the restore step of the instructors\' side, which the self-check uses (validate)."""\n'


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _code_cells(notebook: os.PathLike | str) -> list[str]:
    """The notebook's code cells as Python (IPython magics and shell escapes left out)."""
    nb = nbformat.read(os.fspath(notebook), as_version=4)
    return ["\n".join(l for l in c.source.splitlines() if not l.lstrip().startswith(("%", "!")))
            for c in nb.cells if c.cell_type == "code"]


def _imports(source: str, module: str) -> set[str]:
    """Absolute names of every module ``source`` (the module ``module``) imports, at any depth."""
    package = module.rsplit(".", 1)[0] if "." in module else ""
    if module.endswith(".__init__"):
        package = module[: -len(".__init__")]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{a.name}" for a in node.names if a.name != "*")
    return {n for n in found if n}


def bundle_modules(assignment: str, repo: Repo | os.PathLike | str | None = None) -> dict[str, str | Path]:
    """What a download of ``assignment`` ships besides the notebook: ``{path in the zip: file or text}``.

    ``lrlab``: the modules the notebook imports and, in turn, the modules they import,
    found by reading their ``import`` statements; the modules the notebook's
    ``forbidden_modules`` names are replaced by stubs that raise an ImportError saying
    why (all of them, so that importing one explains itself). ``autograder``: the
    self-check, :data:`SELF_CHECK_MODULES` with ``__init__`` files that import nothing, and
    the released notebook(s) under :data:`RELEASES` (the test cells the self-check restores).
    """
    repo = find_repo(repo)
    notebooks = sorted((repo.root / "exercises" / assignment).glob("*.ipynb"))
    forbidden = set()
    for nb in notebooks:
        forbidden.update(forbidden_of(nb))
    queue = ["lrlab"]
    for nb in notebooks:
        for cell in _code_cells(nb):
            queue.extend(n for n in _imports(cell, "__main__") if n.split(".")[0] == "lrlab")
    shipped: dict[str, str | Path] = {}
    seen = set()
    while queue:
        module = queue.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        if (repo.root.joinpath(*parts) / "__init__.py").is_file():
            path, name = repo.root.joinpath(*parts) / "__init__.py", module + ".__init__"
        else:
            path, name = repo.root.joinpath(*parts).with_suffix(".py"), module
        if not path.is_file() or module in forbidden:
            continue  # a name imported from a module, not a module; or stubbed below
        rel = path.relative_to(repo.root).as_posix()
        if name == "lrlab.__init__" and "lrlab.schedules" in forbidden:
            shipped[rel] = _INIT
            continue
        shipped[rel] = path
        queue.extend(n for n in _imports(path.read_text(encoding="utf-8"), name) if n.split(".")[0] == "lrlab")
    for module in sorted(forbidden):
        if module.startswith("lrlab.") and repo.root.joinpath(*module.split(".")).with_suffix(".py").is_file():
            shipped[f"{module.replace('.', '/')}.py"] = _STUB.format(module=module)
    shipped["autograder/__init__.py"] = _AUTOGRADER_INIT
    shipped["autograder/instructor/__init__.py"] = _INSTRUCTOR_INIT
    for name in SELF_CHECK_MODULES:
        shipped[f"autograder/{name}.py"] = repo.root / "autograder" / f"{name}.py"
    for nb in notebooks:
        shipped[f"{RELEASES}/{nb.name}"] = nb
    return dict(sorted(shipped.items()))


def _distributions(modules: set[str]) -> set[str]:
    """Canonical distribution names of the third-party top-level modules in ``modules``."""
    import importlib.metadata as md

    owners = md.packages_distributions()
    dists = set()
    for top in sorted({m.split(".")[0] for m in modules}):
        if top in sys.stdlib_module_names or top in ("__future__", "lrlab", "autograder"):
            continue
        if top not in owners:
            raise AutograderError(f"no installed distribution provides the module {top!r} that the download imports")
        dists.add(_canon(sorted(owners[top])[0]))
    return dists


def _requirement_name(line: str) -> str:
    text = line.strip()
    if not text or text.startswith(("#", "-")):
        return ""
    return _canon(re.split(r"[=<>!~\[; ]", text, maxsplit=1)[0])


def student_requirements(assignment: str, repo: Repo | os.PathLike | str | None = None) -> list[str]:
    """The ``requirements.txt`` of ``assignment``'s download: only what it imports, pinned as the course pins it.

    The distributions whose modules the notebook's code cells and the shipped ``lrlab``
    files import (:func:`bundle_modules`, any ``import`` statement), what the self-check
    imports (:data:`SELF_CHECK_PACKAGES`) and :data:`TOOLS` (JupyterLab, the kernel);
    their own dependencies are left to pip. Each is written as the repository's
    ``requirements.txt`` pins it (``torch==2.13.0``: README.txt says where the CPU
    wheel comes from).

    Returns
    -------
    list of str
        Pinned lines, in the order of ``requirements.txt``.

    Raises
    ------
    AutograderError
        If an imported package is not installed or not pinned in ``requirements.txt``.
    """
    repo = find_repo(repo)
    modules: set[str] = set()
    for nb in sorted((repo.root / "exercises" / assignment).glob("*.ipynb")):
        for cell in _code_cells(nb):
            modules |= _imports(cell, "__main__")
    for rel, item in bundle_modules(assignment, repo).items():
        if rel.startswith("lrlab/") and isinstance(item, Path):
            modules |= _imports(item.read_text(encoding="utf-8"), rel[:-3].replace("/", "."))
    needed = _distributions(modules) | {_canon(p) for p in SELF_CHECK_PACKAGES} | {_canon(t) for t in TOOLS}
    lines, pinned = [], set()
    for line in (repo.root / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if _requirement_name(line) in needed:
            lines.append(line.strip())
            pinned.add(_requirement_name(line))
    if needed - pinned:
        raise AutograderError(
            f"requirements.txt pins no version of {', '.join(sorted(needed - pinned))}, which the download of "
            f"{assignment} needs: add the pin (pip freeze shows the installed version)"
        )
    return lines


def bundle_readme(assignment: str, notebooks: list[str], requirements: list[str]) -> str:
    """The README.txt of ``assignment``'s download (``notebooks``: file names, ``requirements``: its lines)."""
    torch = [line for line in requirements if _requirement_name(line) == "torch"]
    title = f"Assignment {assignment}"
    return _README.format(
        title=title, underline="=" * len(title), name=assignment, notebooks=", ".join(notebooks).ljust(15),
        first=notebooks[0], torch_step=_TORCH_STEP.format(pin=torch[0]) if torch else "",
        torch_note=_TORCH_NOTE if torch else "",
    )

_STUB = '''"""Not shipped with this exercise (see the ImportError below)."""
raise ImportError(
    "{module} is the course's reference implementation of what this assignment asks you to write, so "
    "it is not part of the assignment's download, and graded runs cannot import it either: write your own "
    "(numpy, torch and the other lrlab modules are available)."
)
'''
_INIT = '''"""lrlab helpers, as this assignment's download ships them (without lrlab.schedules, which it asks you to write)."""
__version__ = "bundle"
'''


def make_bundle(assignment: str, repo: Repo | os.PathLike | str | None = None, dest: os.PathLike | str | None = None) -> Path:
    """Write ``<dest>/<assignment>.zip``: the student notebook(s) and what they need outside the repo.

    The zip holds one folder, ``<assignment>/``, with the released notebook(s) of
    ``exercises/<assignment>/``, the ``lrlab`` modules they import and the self-check
    (:func:`bundle_modules`: the modules that solve the assignment replaced by stubs that
    say why), a ``requirements.txt`` with only the packages these import
    (:func:`student_requirements`) and a ``README.txt`` with the steps (:func:`bundle_readme`).

    Parameters
    ----------
    assignment : str
        A released assignment (a folder of ``exercises/``).
    repo : Repo or path-like, optional
        The repository.
    dest : path-like, optional
        Folder for the zip (default: ``<repo>/_build/bundles``).

    Returns
    -------
    Path
        The zip file.

    Raises
    ------
    AutograderError
        If the assignment has not been released.
    """
    repo = find_repo(repo)
    folder = repo.root / "exercises" / assignment
    notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if not notebooks:
        known = sorted(p.name for p in (repo.root / "exercises").glob("*") if p.is_dir())
        raise AutograderError(
            f"no released assignment {assignment!r} in exercises/ (known: {', '.join(known) or 'none'}); "
            "run `python -m autograder release` first"
        )
    dest = Path(dest) if dest is not None else repo.root / "_build" / "bundles"
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f"{assignment}.zip"
    tmp = target.with_suffix(".zip.part")
    requirements = student_requirements(assignment, repo)
    readme = bundle_readme(assignment, [nb.name for nb in notebooks], requirements)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for nb in notebooks:
            zf.write(nb, f"{assignment}/{nb.name}")
        for rel, item in bundle_modules(assignment, repo).items():
            if isinstance(item, Path):
                zf.write(item, f"{assignment}/{rel}")
            else:
                zf.writestr(f"{assignment}/{rel}", item)
        zf.writestr(
            f"{assignment}/requirements.txt",
            "# What this assignment's notebook, its lrlab helpers and the self-check import, and JupyterLab,\n"
            "# pinned as the course pins them (python -m autograder bundle). Install torch first: see README.txt.\n"
            + "\n".join(requirements) + "\n",
        )
        zf.writestr(f"{assignment}/README.txt", readme)
    tmp.replace(target)
    return target
