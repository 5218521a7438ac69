"""The fork servers of :mod:`autograder.engine.zygote`: what a fork inherits, restarts, the fresh path.

Every run here goes through :func:`autograder.engine.run.run_notebook`, as grading and
the self-check do. The tests compare the templates' forks with the fresh processes
(``AUTOGRADER_ZYGOTE=0``) where both should give the same answer, and look for state
that one submission could leave for the next one graded by the same templates.
"""

from __future__ import annotations

import ast
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from autograder.engine import zygote
from autograder.engine.run import Limits, run_notebook
from conftest import require_system

REPO = Path(__file__).resolve().parent.parent


def _meta(**kw):
    base = {"grade": False, "solution": False, "locked": True, "schema_version": 3}
    base.update(kw)
    return {"nbgrader": base}


def notebook(answer: str, test: str = "print('test ran')", setup: str = "import numpy as np", forbidden=()):
    """``(submission, source)``: a setup cell, one answer cell (``f`` and ``answer``), one graded test cell."""
    cells = [
        nbformat.v4.new_code_cell(setup, metadata=_meta(grade_id="setup")),
        nbformat.v4.new_code_cell("def f(x):\n    return 2 * x", metadata=_meta(grade_id="answer", solution=True,
                                                                              locked=False)),
        nbformat.v4.new_code_cell(test, metadata=_meta(grade_id="check", grade=True, points=1)),
    ]
    source = nbformat.v4.new_notebook(cells=cells, metadata={"autograder": {"forbidden_modules": list(forbidden)}})
    submission = nbformat.from_dict(source)
    submission.cells[1].source = "def f(x):\n    return 2 * x\n" + answer
    return submission, source


def run(tmp_path, answer, test="print('test ran')", mode="none", name=None, **kw):
    """Run the notebook; ``(student cell's printed text, test cell's printed text, error outputs)``."""
    if mode == "bwrap":
        require_system("bwrap", "apt-get install bubblewrap")
    nb, source = notebook(answer, test, **kw)
    result = run_notebook(nb, source, tmp_path / (name or uuid.uuid4().hex[:8]), Limits(sandbox=mode, timeout=60),
                          label="probe.ipynb")
    assert not result.notes, result.notes

    def text(i):
        return "".join(o.get("text", "") for o in result.outputs[i] if o.get("output_type") == "stream")

    errors = [o for i in (1, 2) for o in result.outputs[i] if o.get("output_type") == "error"]
    return text(1), text(2), errors


def last_line(text: str):
    return ast.literal_eval(text.strip().splitlines()[-1])


MODES = ["none", "bwrap"]


@pytest.fixture
def fresh_pair():
    """A pair of templates of its own (a full restart budget), ended afterwards."""
    zygote.shutdown()
    yield
    zygote.shutdown()


@pytest.fixture(autouse=True)
def _templates_on(monkeypatch):
    monkeypatch.delenv(zygote.ENV, raising=False)


# --------------------------------------------------------------------------- which path ran


@pytest.mark.parametrize("mode", MODES)
def test_runs_are_forks_of_the_shared_templates(tmp_path, mode):
    student, checker, errors = run(tmp_path, "import os\nprint(os.getppid())",
                                   test="import os\nassert f(3) == 6\nprint(os.getppid())", mode=mode)
    assert not errors
    pids = zygote.shared().pids()
    assert last_line(checker) == pids["checker"]
    # without a box the worker is the template's child; in the box its parent is outside its pid namespace
    assert last_line(student) == (pids["worker"] if mode == "none" else 0)


def test_autograder_zygote_0_runs_fresh_processes(tmp_path, monkeypatch):
    monkeypatch.setenv(zygote.ENV, "0")
    student, checker, errors = run(tmp_path, "import os, sys\nprint(os.getppid())",
                                   test="import os\nassert f(3) == 6\nprint(os.getppid())")
    assert not errors
    assert last_line(checker) == os.getpid()  # the checker is this process's own child
    pair = zygote._pair
    assert pair is None or last_line(student) not in pair.pids().values()


# --------------------------------------------------------------------------- nothing crosses submissions

LEAVE = """
import builtins, json, os, subprocess, sys, types
import numpy, torch
numpy.pi = 3.0                                  # monkeypatch the preloaded numpy
torch.zeros = lambda *a, **k: "patched"
json.MARK = builtins.MARK = "left by A"          # module and builtins globals
os.environ["MARK"] = "left by A"
sys.modules["ag_marker"] = types.ModuleType("ag_marker")
sys.path.append("/left-by-A")
numpy.random.seed(12345)
open("/tmp/mark-{tag}", "w").write("A")         # the box's /tmp (without a box: the machine's)
subprocess.Popen(["sleep", "{sleep}"], start_new_session=True)
print("left")
"""

LOOK = """
import builtins, json, math, os, sys
import numpy, torch
print(repr({{
    "pi": numpy.pi == math.pi, "zeros": torch.zeros(1).tolist(), "json": getattr(json, "MARK", None),
    "builtins": getattr(builtins, "MARK", None), "env": os.environ.get("MARK"), "marker": "ag_marker" in sys.modules,
    "path": "/left-by-A" in sys.path, "tmp": os.path.exists("/tmp/mark-{tag}"),
    "seeded": bool(numpy.random.get_state()[1][0] == numpy.random.RandomState(12345).get_state()[1][0]),
}}))
"""


@pytest.mark.parametrize("mode", MODES)
def test_a_submission_leaves_nothing_for_the_next_one(tmp_path, mode):
    tag, sleep = uuid.uuid4().hex[:8], str(900000 + os.getpid() % 90000)
    checker_leave = "import numpy\nnumpy.e = 1.0\nimport json\njson.CHECKER_MARK = 1\nprint('checker left')"
    student, checker, errors = run(tmp_path, LEAVE.format(tag=tag, sleep=sleep), test=checker_leave, mode=mode)
    assert "left" in student and "checker left" in checker and not errors
    look_checker = ("import json, math, numpy\n"
                    "print(repr((numpy.e == math.e, getattr(json, 'CHECKER_MARK', None))))")
    student, checker, errors = run(tmp_path, LOOK.format(tag=tag), test=look_checker, mode=mode)
    assert not errors, errors
    seen = last_line(student)
    expected = {"pi": True, "zeros": [0.0], "json": None, "builtins": None, "env": None, "marker": False,
                "path": False, "tmp": False, "seeded": False}
    if mode == "none":  # no box: the machine's /tmp is shared, as without templates
        del seen["tmp"], expected["tmp"]
    assert seen == expected
    assert last_line(checker) == (True, None)
    if mode == "bwrap":  # the box ended with its worker, and what the worker started with it
        deadline = time.monotonic() + 10
        while _processes_running(["sleep", sleep]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _processes_running(["sleep", sleep])
    else:
        for pid in _processes_running(["sleep", sleep]):  # no box: it escapes, as without templates
            os.kill(pid, signal.SIGKILL)


def _processes_running(cmdline: list[str]) -> list[int]:
    want = "\0".join(cmdline).encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes() == want:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("mode", MODES)
def test_each_fork_draws_its_own_random_seeds(tmp_path, mode):
    draw = ("import random, numpy, torch\n"
            "print(repr((random.random(), float(numpy.random.random()), float(torch.rand(1)))))")
    runs = [run(tmp_path, draw, test=draw, mode=mode) for _ in range(2)]
    for student, checker, errors in runs:
        assert not errors
    (s1, c1, _), (s2, c2, _) = runs
    for first, second in ((last_line(s1), last_line(s2)), (last_line(c1), last_line(c2))):
        assert all(a != b for a, b in zip(first, second)), (first, second)


# --------------------------------------------------------------------------- what a worker fork sees

PROBE = """
import os
def attempt(fn):
    try:
        return fn()
    except BaseException as exc:
        return "blocked: " + type(exc).__name__
status = open("/proc/self/status").read().splitlines()
print(repr({{
    "ids": (os.getuid(), os.geteuid(), os.getgid(), os.getgroups()),
    "caps": [l.split()[1] for l in status if l.startswith(("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb",
                                                            "NoNewPrivs"))],
    "fds": sorted(os.listdir("/proc/self/fd")),
    "cwd": os.getcwd(),
    "root": sorted(os.listdir("/")),
    "tmp": sorted(os.listdir("/tmp")),
    "env": dict(os.environ),
    "proc_environ_keys": sorted(set(k.split(b"=")[0].decode() for k in open("/proc/self/environ", "rb").read().split(b"\\0") if k) - set(os.environ)),
    "other": attempt(lambda: os.listdir({other!r})),
    "sockets": attempt(lambda: os.listdir({sockets!r})),
    "lrlab": sorted(m for m in __import__("sys").modules if m.startswith(("lrlab", "autograder"))),
    "threads_ok": len(os.listdir("/proc/self/task")) >= 1,
}}))
"""


@pytest.mark.parametrize("mode", MODES)
def test_a_worker_fork_sees_what_a_fresh_worker_sees(tmp_path, mode, monkeypatch):
    other = tmp_path / "other"
    other.mkdir()
    (other / "answers.txt").write_text("someone else's work")
    zygote.shared()
    sockets = zygote._pair.folder
    probe = PROBE.format(other=os.fspath(other), sockets=sockets)
    forked, _, errors = run(tmp_path, probe, mode=mode, name="a")
    assert not errors
    monkeypatch.setenv(zygote.ENV, "0")
    fresh, _, errors = run(tmp_path, probe, mode=mode, name="b")
    assert not errors
    forked, fresh = last_line(forked), last_line(fresh)
    if mode == "none":  # the working folder differs (a, b); without a box both can read anything
        for seen in (forked, fresh):
            seen["cwd"] = os.path.basename(seen["cwd"])
            for key in ("TMPDIR", "HOME", "PWD", "MPLCONFIGDIR"):
                seen["env"][key] = seen["env"][key].replace("/a", "/X").replace("/b", "/X")
        assert forked["cwd"] == "a" and fresh["cwd"] == "b"
        forked["cwd"] = fresh["cwd"] = "X"
        for key in ("root", "tmp", "other"):  # the machine's, changing as other tests run
            forked[key] = fresh[key] = None
    if mode == "bwrap":  # a throwaway uid per checker (100000 + its pid) when graded as root
        for seen in (forked, fresh):
            uid, euid, gid, groups = seen.pop("ids")
            assert uid == euid == gid and groups == [] and (uid >= 100000 or os.geteuid() != 0)
    assert forked == fresh
    assert forked["lrlab"] == []
    if mode == "bwrap":
        assert forked["other"].startswith("blocked") and forked["sockets"].startswith("blocked")
        assert set(forked["caps"][:5]) == {"0000000000000000"} and forked["caps"][5] == "1"


@pytest.mark.parametrize("mode", MODES)
def test_forbidden_modules_are_refused_in_a_fork(tmp_path, mode):
    student, _, errors = run(tmp_path, "import sys\nprint('lrlab' in sys.modules)\nimport lrlab.pac_bayes",
                             mode=mode, forbidden=["lrlab.pac_bayes"])
    assert last_line(student) is False  # the template never imported lrlab
    assert [e["ename"] for e in errors] == ["ImportError"]
    assert "reference implementation" in errors[0]["evalue"]


# --------------------------------------------------------------------------- lifetime, restarts, fallback


def test_a_killed_template_is_restarted_once_then_runs_start_fresh(tmp_path, fresh_pair, caplog):
    caplog.set_level(logging.WARNING, logger="autograder.engine")
    probe = "import os\nassert f(3) == 6\nprint(os.getppid())"
    _, checker, errors = run(tmp_path, "def f(x):\n    return 2 * x", test=probe)
    assert not errors
    first = zygote.shared().pids()
    for pid in first.values():
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    _, checker, errors = run(tmp_path, "def f(x):\n    return 2 * x", test=probe)
    assert not errors  # graded, by the restarted pair
    second = zygote.shared().pids()
    assert set(second) == {"checker", "worker"} and not set(second.values()) & set(first.values())
    assert last_line(checker) == second["checker"]
    assert "restarting" in caplog.text
    for pid in second.values():  # dies again: from now on, fresh processes
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    _, checker, errors = run(tmp_path, "def f(x):\n    return 2 * x", test=probe)
    assert not errors
    assert last_line(checker) == os.getpid()
    assert "fresh processes instead" in caplog.text


def test_a_checker_whose_template_dies_mid_run_is_run_again_fresh(tmp_path, fresh_pair, caplog):
    caplog.set_level(logging.WARNING, logger="autograder.engine")
    zygote.shared()
    pid = zygote._pair.pids()["checker"]
    killer = threading.Timer(1.5, os.kill, (pid, signal.SIGKILL))
    killer.start()
    try:  # the first run is killed with its template while its test cell sleeps; the second is fresh
        _, checker, errors = run(tmp_path, "def f(x):\n    return 2 * x",
                                 test=f"import os, time\nif os.getppid() == {pid}:\n    time.sleep(30)\n"
                                      "assert f(3) == 6\nprint(os.getppid())")
    finally:
        killer.cancel()
    assert not errors
    assert last_line(checker) == os.getpid()
    assert "run again" in caplog.text or "running that notebook again" in caplog.text


def test_one_pair_serves_several_threads(tmp_path, fresh_pair):
    results, failures = {}, []

    def grade(i):
        try:
            results[i] = run(tmp_path, f"def f(x):\n    return 2 * x\nprint({i})",
                             test="import os\nassert f(3) == 6\nprint(os.getppid())", name=f"t{i}")
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    threads = [threading.Thread(target=grade, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    checker_pid = zygote.shared().pids()["checker"]
    for i, (student, checker, errors) in results.items():
        assert not errors and last_line(student) == i and last_line(checker) == checker_pid


def test_no_template_outlives_the_process_that_started_it():
    code = ("from autograder.engine import zygote\n"
            "pair = zygote.shared()\n"
            "print(pair.pids()['checker'], pair.pids()['worker'], flush=True)\n"
            "import time\ntime.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
    finally:
        proc.kill()  # SIGKILL: no atexit, no clean-up: the templates see their stdin close
        proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("before", ["import lrlab", "import threading, time\n"
                                    "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()"])
def test_a_template_refuses_to_start_with_lrlab_or_a_thread(before):
    code = f"{before}\nfrom autograder.engine import zygote\nzygote.preload(('json',))\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert ("lrlab must not be imported" in proc.stderr) or ("threads after its imports" in proc.stderr)
