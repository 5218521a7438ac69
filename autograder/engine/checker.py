"""The trusted side of grading one notebook: runs the tests, calls the student's code through a pipe.

Run by :func:`autograder.engine.run.run_notebook`, as a fork of the checker template
(:mod:`autograder.engine.zygote`) or as ``python -m autograder.engine.checker JOB.json RESULT.json``.
It starts the student's worker the same way: forked by the worker template when
``AUTOGRADER_WORKER_ZYGOTE`` names its socket (:func:`autograder.engine.sandbox.spawn_worker`),
else a fresh ``python worker.py`` (:func:`autograder.engine.sandbox.worker_command`).
``JOB.json`` lists the notebook's code cells with a *role* each:

``student``
    the student's answer cells and cells they added: run in the worker only;
``shared``
    the instructor's setup cells (imports, constants, helpers): run in both;
``checker``
    the instructor's cells that use the student's names (demos): here only;
``test``
    the graded test cells, visible and hidden: here only, never sent to the worker.

After each student cell the checker fetches the names the assignment asks for
(``expected``) from the worker: plain data arrive as copies, functions and other
objects as :class:`autograder.engine.rpc.Remote` handles. So nothing the student's code
does to its own interpreter (monkeypatching numpy, import hooks, rewriting later
cells, faking a kernel) can reach the tests, and the worker never sees them.

The result (outputs per cell, notes) is rewritten after every cell, so a run
stopped by the per-submission time limit keeps what it had graded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback

from .rpc import CellTimeout, Endpoint, ProtocolError, RemoteError, WorkerGone, _Reader
from .sandbox import SandboxConfig, spawn_worker, worker_command
from .zygote import WORKER_SOCKET_ENV

#: Seconds a fresh student process may take to start (the interpreter and the worker's imports,
#: slower on a loaded machine), apart from the per-cell time limit.
WORKER_START_S = 60.0

__all__ = ["main", "run_job"]


class _Capture:
    """Collects output for the current cell, keeping at most ``max_bytes`` and ``max_lines``."""

    def __init__(self, max_bytes: int, max_lines: int):
        self.max_bytes, self.max_lines = max_bytes, max_lines
        self.reset()

    def reset(self) -> None:
        self.parts: list[str] = []
        self.kept = self.lines = self.dropped = 0

    def write(self, text) -> int:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        n = len(text)
        if self.kept < self.max_bytes and self.lines < self.max_lines:
            room = self.max_bytes - self.kept
            piece = text[:room]
            lines = piece.split("\n")
            if self.lines + len(lines) - 1 > self.max_lines:
                piece = "\n".join(lines[: self.max_lines - self.lines]) + "\n"
            self.parts.append(piece)
            self.kept += len(piece)
            self.lines += piece.count("\n")
            self.dropped += n - len(piece)
        else:
            self.dropped += n
        return n

    def flush(self) -> None:
        pass

    def text(self) -> str:
        out = "".join(self.parts)
        if self.dropped:
            out += f"\n[output truncated: {self.dropped} more characters not shown]\n"
        return out


def _describe_exit(proc: subprocess.Popen | None, reason: WorkerGone, timeout: float, memory_mb: int) -> str:
    if isinstance(reason, CellTimeout):
        return (f"ran past the {timeout:g} s per-cell time limit, so the student's process and everything it "
                "started were stopped (an endless loop, or code that is just too slow)")
    if isinstance(reason, ProtocolError):
        return f"broke the grading protocol ({reason}), so the student's process was stopped"
    rc = None if proc is None else proc.poll()
    if rc is None:
        return f"lost contact with the student's process ({reason})"
    if rc < 0 or rc > 128:  # bubblewrap's init reports a child killed by signal s as 128 + s
        sig = -rc if rc < 0 else rc - 128
        name = {signal.SIGSEGV: "crashed with a segmentation fault (compiled code, ctypes?)",
                signal.SIGABRT: "aborted (a crash in compiled code)",
                signal.SIGKILL: f"was killed (out of memory? the limit is {memory_mb} MiB)",
                signal.SIGBUS: "crashed (bus error)", signal.SIGFPE: "crashed (floating-point exception)"}
        return "the student's process " + name.get(sig, f"was killed by signal {sig}")
    return (f"the student's process exited with status {rc} (os._exit(), or exit() called from compiled code) "
            "instead of returning")


class Student:
    """The student's worker process and the connection to it."""

    def __init__(self, job: dict, capture: _Capture):
        self.job = job
        self.capture = capture
        self.config = SandboxConfig(**job.get("sandbox", {}))
        self.proc: subprocess.Popen | None = None
        self.ep = Endpoint(-1, -1)
        self.ep.cache_rng = True  # the worker runs code only when asked (see Endpoint.cache_rng)
        self.restarts = 0
        self.mode = None
        self.stopped = False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        if self.proc is not None and not self.stopped:
            self.stop()  # it died between cells: its box and pipes go before a new one starts
        self.stopped = False
        zygote = os.environ.get(WORKER_SOCKET_ENV)
        if zygote:  # this checker was forked by the checker template: fork the worker from its template too
            try:
                self.proc, stdin, stdout, stderr, self.mode = spawn_worker(zygote, self.job["workdir"], self.config)
                self.proc.stdin, self.proc.stdout, self.proc.stderr = stdin, stdout, stderr
            except OSError as exc:  # the template is gone: a fresh interpreter, as without templates
                print(f"autograder: the worker zygote did not answer ({exc}); starting a fresh worker",
                      file=sys.__stderr__, flush=True)
                os.environ.pop(WORKER_SOCKET_ENV, None)
                self.proc = None
        if not zygote or self.proc is None:
            argv, env, preexec, self.mode = worker_command(self.job["workdir"], self.config)
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=env, preexec_fn=_with_parent_death(preexec), close_fds=True,
                cwd=self.job["workdir"],
            )
        self.ep.reader = _Reader(self.proc.stdout.fileno(), self.proc.stderr.fileno(), self.capture.write)
        self.ep.wfd = self.proc.stdin.fileno()
        self.ep.generation += 1
        self.ep._rng_synced = None  # a fresh worker: its generators are its own until the next call
        self.ep.objects.clear()
        self.ep._ids.clear()

    def stop(self) -> None:
        if self.proc is None or self.stopped:
            return
        self.stopped = True
        if isinstance(self.proc, subprocess.Popen):  # a template's child is killed by its template (no pid race)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)
        with contextlib.suppress(Exception):
            self.ep.reader.drain_side()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(Exception):
                stream.close()
        if not isinstance(self.proc, subprocess.Popen):
            self.proc.close()

    def request(self, op: str, **fields):
        return self.ep.request(op, **fields)


def _with_parent_death(preexec):
    def run() -> None:
        preexec()
        try:  # die with the checker even without bubblewrap
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:  # noqa: BLE001
            pass

    return run


def _error_output(exc: BaseException, *, show_traceback: bool) -> dict:
    remote_tb = getattr(exc, "remote_traceback", "")
    if isinstance(exc, RemoteError):
        ename, evalue = exc.type_name, str(exc).split(": ", 1)[-1]
    else:
        ename, evalue = type(exc).__name__, str(exc)
    lines = []
    if remote_tb:
        lines.append("Traceback in your code (most recent call last):")
        lines.extend(remote_tb.rstrip("\n").split("\n"))
    elif show_traceback:
        lines.extend("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip("\n").split("\n"))
    else:
        lines.append(f"{ename}: {evalue}")
    return {"output_type": "error", "ename": ename, "evalue": evalue[:20000], "traceback": lines[-200:]}


def _trusted_ns() -> dict:
    def display(*objs, **kwargs):
        for obj in objs:
            print(obj)

    class Shell:
        def __getattr__(self, name):
            return lambda *a, **k: None

    shell = Shell()
    return {"__name__": "__main__", "display": display, "get_ipython": lambda: shell}


def _compile_trusted(source: str, name: str):
    if any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()):
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
    return compile(source, f"<test {name}>", "exec")


def run_job(job: dict, result_path: str) -> dict:
    """Run every cell of ``job``; write and return ``{"outputs", "done", "notes", "mode"}``."""
    timeout = float(job["timeout"])
    capture = _Capture(int(job.get("max_output_bytes", 100_000)), int(job.get("max_output_lines", 500)))
    student = Student(job, capture)
    ns = _trusted_ns()
    expected = list(job.get("expected", []))
    max_restarts = int(job.get("max_restarts", 5))
    history: list[dict] = []  # cells replayed into a fresh worker
    result = {"outputs": {}, "done": [], "notes": [], "mode": None}
    os.environ.setdefault("MPLBACKEND", "Agg")
    gave_up = False

    def save() -> None:
        tmp = result_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(result, fh)
        os.replace(tmp, result_path)

    def ensure_worker() -> None:
        if student.alive():
            return
        if student.proc is not None:
            student.restarts += 1
            if student.restarts > max_restarts:
                raise _GiveUp()
        student.start()
        result["mode"] = student.mode
        # The fresh interpreter's start-up is not a cell's time: wait for it on its own allowance,
        # and import there the modules whose random state every call carries (rpc), which the
        # first call would otherwise import inside a cell's time limit. Nothing is bound in the
        # student's namespace.
        student.ep.deadline = time.monotonic() + max(timeout, WORKER_START_S)
        carried = [name for name in ("numpy", "torch") if name in sys.modules]
        student.request("eval", source=f"[__import__(m) for m in {carried!r}] and None")
        for old in history:
            student.ep.deadline = time.monotonic() + timeout
            try:
                student.request("exec", source=old["source"], name=old["name"])
            except WorkerGone:
                raise
            except Exception:  # noqa: BLE001 - it failed before too, or is not needed
                pass
        fetch_names()
        student.capture.reset()  # what the replay printed belongs to earlier cells

    def fetch_names() -> None:
        if expected:
            values = student.request("get", names=expected)
            if isinstance(values, dict):
                ns.update({k: v for k, v in values.items() if isinstance(k, str)})

    for cell in job["cells"]:
        role, name, source = cell["role"], cell["name"], cell["source"]
        if role == "skip":
            continue
        capture.reset()
        outputs: list[dict] = []
        error = None
        started = time.monotonic()
        student.ep.deadline = started + timeout
        try:
            if gave_up and role in ("student", "shared"):
                raise _GiveUp()
            if student.proc is not None and not student.alive() and not gave_up:
                ensure_worker()  # crashed in an earlier cell: restart before the handles are used
                student.ep.deadline = time.monotonic() + timeout  # the cell's own time starts now
            if role in ("student", "shared"):
                ensure_worker()
                student.ep.deadline = time.monotonic() + timeout
                student.ep.post("exec", source=source, name=name)
            if role in ("shared", "checker", "test"):
                # a shared cell runs here while the worker runs its copy (both import the same things)
                code = _compile_trusted(source, name)
                with contextlib.redirect_stdout(capture), contextlib.redirect_stderr(capture):
                    try:
                        exec(code, ns)  # noqa: S102 - the instructor's cells
                    finally:
                        if role == "shared":
                            # the worker's copy prints what this one printed: keep one copy
                            student.ep.reader.on_side = _discard
                            try:
                                student.ep.wait()
                                student.ep.reader.drain_side()
                            except WorkerGone:
                                raise
                            except Exception:  # noqa: BLE001 - the student's copy of a setup cell failed
                                pass
                            finally:
                                student.ep.reader.on_side = capture.write
                            history.append(cell)
            elif role == "student":
                try:
                    student.ep.wait()
                except WorkerGone:
                    raise
                except BaseException:
                    # like a notebook kernel: what the cell defined before it raised stays defined
                    history.append(cell)
                    fetch_names()
                    raise
                history.append(cell)
                fetch_names()
        except _GiveUp:
            gave_up = True
            error = {"output_type": "error", "ename": "NotRun", "evalue": "not run",
                     "traceback": [f"NotRun: the student's process stopped or crashed {max_restarts + 1} times; "
                                   "this cell was not run"]}
        except WorkerGone as exc:
            if not isinstance(exc, CellTimeout) and student.proc is not None:
                with contextlib.suppress(Exception):
                    student.proc.wait(timeout=2)  # the pipe closes a moment before the exit status is known
            why = _describe_exit(student.proc, exc, timeout, student.config.memory_mb)
            student.stop()
            result["notes"].append(
                f"cell {name!r}: {why}; this cell scores 0, and grading went on in a fresh process"
            )
            error = {"output_type": "error", "ename": "StudentProcessStopped", "evalue": why,
                     "traceback": [f"StudentProcessStopped: {why}"]}
        except BaseException as exc:  # noqa: BLE001 - SystemExit included: a test's failure
            error = _error_output(exc, show_traceback=role in ("shared", "checker"))
            if isinstance(exc, MemoryError) or getattr(exc, "type_name", "") == "MemoryError":
                result["notes"].append(
                    f"cell {name!r}: ran out of memory (the limit is {student.config.memory_mb} MiB per submission)"
                )
        finally:
            student.ep.deadline = None
            with contextlib.suppress(Exception):
                student.ep.reader.drain_side()
            plt = sys.modules.get("matplotlib.pyplot")
            if plt is not None:
                with contextlib.suppress(Exception):
                    plt.close("all")
        text = capture.text()
        if text:
            outputs.append({"output_type": "stream", "name": "stdout", "text": text})
        if error is not None:
            outputs.append(error)
        result["outputs"][str(cell["index"])] = outputs
        result["done"].append(cell["index"])
        result.setdefault("seconds", {})[str(cell["index"])] = round(time.monotonic() - started, 3)
        save()
    student.stop()
    result["mode"] = result["mode"] or student.mode
    save()
    return result


class _GiveUp(Exception):
    pass


def _discard(chunk) -> None:
    pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m autograder.engine.checker JOB.json RESULT.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as fh:
        job = json.load(fh)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(key, "1")
    run_job(job, argv[1])
    sys.stdout.flush()
    os._exit(0)  # do not wait on anything the instructor's cells left running


if __name__ == "__main__":
    sys.exit(main())
