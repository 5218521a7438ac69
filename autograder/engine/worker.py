"""The student's side of grading: runs the student's cells, answers the checker's calls.

Started by :mod:`autograder.engine.checker` inside the sandbox (see :mod:`autograder.engine.sandbox`)
as ``python .../autograder/engine/worker.py``: a plain script, so that nothing but
:mod:`autograder.engine.rpc` and :mod:`autograder.engine.guard` (next to it) is imported;
or, the same module imported the same way, by a fork of the worker template of
:mod:`autograder.engine.zygote` (numpy, scipy and torch already imported, nothing
else; :func:`main` then runs in the fork). It never sees test code: the
checker sends it the student's cells and the instructor's setup cells, then calls
the student's functions through handles.

Protocol on the original stdin/stdout (moved to private descriptors at start);
what the student's code prints (fd 1 and fd 2) goes to the original stderr,
which the checker reads, caps and attributes to the cell running at the time.
"""

from __future__ import annotations

import builtins
import linecache
import os
import re
import sys

if __package__:
    from .guard import install_from_env
    from .rpc import Endpoint
else:  # run as a script inside the sandbox
    from guard import install_from_env
    from rpc import Endpoint

_IPYTHON_SYNTAX = re.compile(r"^\s*[%!]|\?\s*$", re.M)


class _Shell:
    """Enough of ``get_ipython()`` for notebook magics to be harmless when grading."""

    def run_line_magic(self, name, line, *args, **kwargs):
        if name not in ("matplotlib", "config", "load_ext", "autoreload", "time", "timeit"):
            print(f"(the magic %{name} is ignored when grading)")
        if name in ("time", "timeit"):
            return eval(compile(line, "<cell magic>", "eval"), _NS)  # noqa: S307 - the student's own code
        return None

    def run_cell_magic(self, name, line, cell):
        print(f"(the cell magic %%{name} is ignored when grading)")

    def system(self, cmd, *args, **kwargs):
        print("(shell commands (!...) are not run when grading)")

    getoutput = system

    def __getattr__(self, name):
        return lambda *a, **k: None


_SHELL = _Shell()


def _display(*objs, **kwargs):
    for obj in objs:
        print(obj)


_NS: dict = {"__name__": "__main__", "__builtins__": builtins, "display": _display, "get_ipython": lambda: _SHELL}


def _compile_cell(source: str, name: str):
    if _IPYTHON_SYNTAX.search(source):
        try:
            from IPython.core.inputtransformer2 import TransformerManager

            source = TransformerManager().transform_cell(source)
        except Exception:  # noqa: BLE001 - fall back to plain Python
            pass
    filename = f"<cell {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return compile(source, filename, "exec")


def _close_figures() -> None:
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        try:
            plt.close("all")
        except Exception:  # noqa: BLE001
            pass


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - the student may have replaced them
            pass


def main() -> None:
    # H5 (#15): refuse the assignment's forbidden modules before any student code, in every
    # sandbox mode (the list comes from sandbox.worker_command's AUTOGRADER_FORBIDDEN; engine/guard.py).
    install_from_env()
    rfd, wfd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True, errors="backslashreplace")
        except Exception:  # noqa: BLE001
            pass
    if "" not in sys.path:
        sys.path.insert(1, "")  # like a notebook kernel: the submission's own modules import
    ep = Endpoint(rfd, wfd)
    ep.before_send = _flush
    parent = os.getpid()

    def forked() -> None:
        # A child made by os.fork() (or a fork bomb) must never speak on the grading
        # channel: it would answer the checker in its parent's place.
        for fd in (rfd, wfd):
            try:
                os.close(fd)
            except OSError:
                pass

    os.register_at_fork(after_in_child=forked)

    def op_exec(msg, bufs):
        code = _compile_cell(str(msg["source"]), str(msg.get("name", "?")))
        try:
            exec(code, _NS)  # noqa: S102 - this process exists to run the student's code
        finally:
            _close_figures()
        ep.reply_value(None)

    def op_get(msg, bufs):
        names = [str(n) for n in msg.get("names", [])]
        ep.reply_value({n: _NS[n] for n in names if n in _NS})

    def op_eval(msg, bufs):
        ep.reply_value(eval(compile(str(msg["source"]), "<cell check>", "eval"), _NS))  # noqa: S307

    ep.handlers.update({"exec": op_exec, "get": op_get, "eval": op_eval})
    while True:
        try:
            msg, bufs = ep.reader.read_frame(None)
            ep.serve_one(msg, bufs)
        except BaseException:  # noqa: BLE001 - the checker left, or this is a forked child
            if os.getpid() == parent:
                _flush()
            os._exit(0)


__all__ = ["main"]

if __name__ == "__main__":
    main()
