"""The forbidden-module guard of the student's worker: an import hook, in every sandbox mode.

An assignment's source notebook lists the course's reference modules that solve it
(``metadata.autograder.forbidden_modules``, e.g. ``["lrlab.pac_bayes"]``). A graded
run must refuse them whatever the sandbox: :mod:`autograder.engine.worker` calls
:func:`install_from_env` at start-up, before any student code, and the checker
passes the list in the environment variable :data:`ENV` (set by
:func:`autograder.engine.sandbox.worker_command`).

:func:`install` puts a finder first in ``sys.meta_path``. For a forbidden module
(``import lrlab.pac_bayes``, ``from lrlab import pac_bayes``,
``importlib.import_module``, ``__import__``) it hands Python a module whose code is
the very stub that ``--sandbox bwrap`` binds over the module's file
(``_STUB`` in :mod:`autograder.engine.sandbox`), so the ImportError and its text are
the same in both modes. When ``lrlab.schedules`` is forbidden, the package's
``__init__`` (which re-exports it) runs as bwrap's replacement ``_INIT`` does, so
the rest of ``lrlab`` still imports.

What it is and is not: with ``--sandbox none`` (and the students' self-check on a
machine without bubblewrap) this is a guard against *accidental* use of the
reference implementation, so that a notebook that imports it fails the self-check
exactly as it will fail grading. It is **not a security boundary**: the student's
code runs in the same interpreter and could remove the hook from ``sys.meta_path``
or load the file by path. With ``--sandbox bwrap`` the files themselves are
replaced in the worker's view, and this hook only adds the same refusal for copies
of the package found elsewhere (a copy of ``lrlab`` next to the notebook).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys

if __package__:
    from .sandbox import _INIT, _STUB
else:  # the worker runs as a plain script with this folder first on sys.path
    from sandbox import _INIT, _STUB

__all__ = ["ENV", "ForbiddenModules", "install", "install_from_env", "forbidden_from_env"]

#: The environment variable that carries the forbidden modules to the worker, comma-separated.
ENV = "AUTOGRADER_FORBIDDEN"


class _StubLoader(importlib.abc.Loader):
    """Runs ``source`` as the module's code (bwrap's stub file, without the file)."""

    def __init__(self, source: str, filename: str):
        self.source, self.filename = source, filename

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        exec(compile(self.source, self.filename, "exec"), module.__dict__)  # noqa: S102 - our own stub text


class ForbiddenModules(importlib.abc.MetaPathFinder):
    """A ``sys.meta_path`` finder that refuses ``forbidden`` (see the module docstring)."""

    def __init__(self, forbidden):
        self.forbidden = frozenset(forbidden)
        # lrlab's __init__ re-exports lrlab.schedules: like bwrap, run the stripped package init instead
        self.packages = {"lrlab"} if "lrlab.schedules" in self.forbidden else set()

    def _real_spec(self, fullname, path, target):
        for finder in sys.meta_path:
            if finder is self or isinstance(finder, ForbiddenModules):
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(fullname, path, target) if target is not None else find(fullname, path)
            if spec is not None:
                return spec
        return None

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.forbidden and fullname not in self.packages and not any(
            fullname.startswith(m + ".") for m in self.forbidden
        ):
            return None
        real = self._real_spec(fullname, path, target)
        if real is None:
            return None  # not installed at all: Python's own ModuleNotFoundError
        if fullname in self.packages:
            spec = importlib.machinery.ModuleSpec(fullname, _StubLoader(_INIT, real.origin or fullname),
                                                  origin=real.origin, is_package=True)
            spec.submodule_search_locations = list(real.submodule_search_locations or [])
            spec.has_location = bool(real.origin)
            return spec
        module = next(m for m in self.forbidden if fullname == m or fullname.startswith(m + "."))
        return importlib.machinery.ModuleSpec(
            fullname, _StubLoader(_STUB.format(module=module), f"<{module}: not available when grading>"),
            origin=real.origin,
        )


def install(forbidden) -> ForbiddenModules | None:
    """Refuse the modules ``forbidden`` in this interpreter from now on.

    Parameters
    ----------
    forbidden : iterable of str
        Module names (``"lrlab.pac_bayes"``); empty names are ignored.

    Returns
    -------
    ForbiddenModules or None
        The finder now first in ``sys.meta_path``, or ``None`` when nothing is forbidden.

    Notes
    -----
    Modules already imported (a pre-imported template process) are dropped from
    ``sys.modules`` when they are forbidden or reach a forbidden module: all of
    ``lrlab`` then, so that its next import goes through the guard.
    """
    names = sorted({str(m).strip() for m in forbidden if str(m).strip()})
    if not names:
        return None
    guard = ForbiddenModules(names)
    blocked = set(names) | guard.packages
    tops = {m.split(".")[0] for m in blocked}
    if any(m in sys.modules or any(k.startswith(m + ".") for k in sys.modules) for m in blocked):
        for key in [k for k in sys.modules if k.split(".")[0] in tops]:
            del sys.modules[key]
    sys.meta_path.insert(0, guard)
    importlib.invalidate_caches()
    return guard


def forbidden_from_env(environ=None) -> list[str]:
    """The module names in :data:`ENV` (comma-separated)."""
    value = (os.environ if environ is None else environ).get(ENV, "")
    return [m.strip() for m in value.split(",") if m.strip()]


def install_from_env(environ=None) -> ForbiddenModules | None:
    """:func:`install` the modules named in :data:`ENV`; what the worker calls at start-up."""
    return install(forbidden_from_env(environ))
