"""Unit tests of :mod:`autograder.engine.checker`: small jobs of cells with roles, no nbgrader.

The worker runs with sandbox mode ``none`` here (fast, and no bubblewrap needed);
tests/test_autograder_sandbox.py runs jobs inside bubblewrap.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.engine.checker import _Capture, run_job

REPO = Path(__file__).resolve().parents[1]


def make_job(tmp_path: Path, cells, *, expected=(), timeout=20.0, **extra) -> dict:
    """A job for :func:`run_job`: ``cells`` is a list of ``(role, source)``; cell ``i`` is named ``c<i>``."""
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    job = {
        "cells": [{"index": i, "role": role, "source": source, "name": f"c{i}"} for i, (role, source) in
                  enumerate(cells)],
        "expected": list(expected),
        "timeout": timeout,
        "workdir": os.fspath(workdir),
        "sandbox": {"mode": "none"},
    }
    job.update(extra)
    return job


def run(tmp_path, cells, **kwargs) -> dict:
    return run_job(make_job(tmp_path, cells, **kwargs), os.fspath(tmp_path / "result.json"))


def stdout(result, i) -> str:
    return "".join(o["text"] for o in result["outputs"][str(i)] if o["output_type"] == "stream")


def error(result, i):
    errors = [o for o in result["outputs"][str(i)] if o["output_type"] == "error"]
    return errors[0] if errors else None


def assert_ok(result, *cells):
    for i in cells:
        assert error(result, i) is None, f"cell {i} failed: {error(result, i)}"


# --------------------------------------------------------------------------- roles


def test_student_names_reach_the_tests_only_when_expected(tmp_path):
    result = run(tmp_path, [
        ("student", "def double(x):\n    return 2 * x\nhelper = 5\n"),
        ("test", "assert double(2) == 4\n"),
        ("test", "helper\n"),
    ], expected=["double"])
    assert_ok(result, 0, 1)
    assert error(result, 2)["ename"] == "NameError"


def test_shared_cells_run_on_both_sides(tmp_path):
    result = run(tmp_path, [
        ("shared", "import math\nSCALE = 3\nprint('setup ran')\n"),
        ("student", "def scaled(x):\n    return SCALE * math.sqrt(x)\n"),
        ("test", "assert scaled(4) == SCALE * 2\n"),
    ], expected=["scaled"])
    assert_ok(result, 0, 1, 2)
    assert "setup ran" in stdout(result, 0)


def test_shared_cell_output_is_shown_once(tmp_path):
    result = run(tmp_path, [("shared", "print('setup ran')\n")])
    assert stdout(result, 0) == "setup ran\n"


def test_checker_and_test_cells_never_run_in_the_worker(tmp_path):
    result = run(tmp_path, [
        ("checker", "CHECKER_ONLY = 1\n"),
        ("test", "TEST_ONLY = 2\n"),
        ("student", "import linecache\nprint(sorted(k for k in globals() if k.endswith('_ONLY')))\n"
                    "print(sorted(k for k in linecache.cache if k.startswith('<')))\n"),
    ])
    assert_ok(result, 0, 1, 2)
    lines = stdout(result, 2).splitlines()
    assert lines[0] == "[]"
    assert lines[1] == "['<cell c2>']", "only the student's own cell may have been compiled in the worker"


def test_checker_cell_sees_student_names_and_its_output_is_its_own(tmp_path):
    result = run(tmp_path, [
        ("student", "rate = 0.5\nprint('student prints')\n"),
        ("checker", "print('demo', rate * 2)\n"),
    ], expected=["rate"])
    assert_ok(result, 0, 1)
    assert stdout(result, 0) == "student prints\n"
    assert stdout(result, 1) == "demo 1.0\n"


def test_skip_cells_are_not_run_or_reported(tmp_path):
    result = run(tmp_path, [("skip", "raise SystemExit"), ("student", "x = 1")])
    assert result["done"] == [1]
    assert "0" not in result["outputs"]


def test_student_monkeypatching_does_not_reach_the_tests(tmp_path):
    result = run(tmp_path, [
        ("student", "import math, builtins\nmath.isclose = lambda *a, **k: True\n"
                    "builtins.AssertionError = type('Nope', (Exception,), {})\n"),
        ("test", "import math\nassert not math.isclose(1, 2)\n"),
        ("test", "assert 1 == 2, 'must fail'\n"),
    ])
    assert_ok(result, 0, 1)
    assert error(result, 2)["ename"] == "AssertionError"
    assert error(result, 2)["evalue"] == "must fail"


def test_test_failure_shows_message_not_the_test_code(tmp_path):
    result = run(tmp_path, [("test", "SECRET = 41\nassert SECRET + 1 == 43, 'off by one'\n")])
    err = error(result, 0)
    assert err["ename"] == "AssertionError" and err["evalue"] == "off by one"
    assert not any("SECRET" in line for line in err["traceback"])


def test_student_error_inside_a_test_shows_the_students_traceback(tmp_path):
    result = run(tmp_path, [
        ("student", "def peak(n):\n    if n <= 0:\n        raise ValueError(f'n must be positive, got {n}')\n"
                    "    return n // 2\n"),
        ("test", "peak(0)\n"),
    ], expected=["peak"])
    err = error(result, 1)
    assert err["ename"] == "ValueError" and err["evalue"] == "n must be positive, got 0"
    text = "\n".join(err["traceback"])
    assert "Traceback in your code" in text and "<cell c0>" in text


def test_function_defined_before_the_cell_raised_is_kept(tmp_path):
    result = run(tmp_path, [
        ("student", "def double(x):\n    return 2 * x\nraise RuntimeError('half done')\n"),
        ("test", "assert double(3) == 6\n"),
    ], expected=["double"])
    assert error(result, 0)["ename"] == "RuntimeError"
    assert "half done" in error(result, 0)["evalue"]
    assert_ok(result, 1)


def test_student_exit_costs_only_its_cell(tmp_path):
    result = run(tmp_path, [
        ("student", "x = 1\n"),
        ("student", "raise SystemExit(0)\n"),
        ("test", "assert x == 1\n"),
    ], expected=["x"])
    assert error(result, 1) is not None
    assert_ok(result, 0, 2)


def test_shared_cell_failing_on_the_checker_side_shows_a_traceback(tmp_path):
    result = run(tmp_path, [("shared", "import no_such_module_here\n")])
    err = error(result, 0)
    assert err["ename"] == "ModuleNotFoundError"
    assert any("Traceback" in line for line in err["traceback"])


# --------------------------------------------------------------------------- output caps


def test_output_is_capped_in_bytes_with_a_marker(tmp_path):
    result = run(tmp_path, [("student", "print('x' * 5000)\n"), ("test", "print('y' * 5000)\n")],
                 max_output_bytes=300)
    for i in (0, 1):
        text = stdout(result, i)
        assert "[output truncated:" in text and "more characters not shown]" in text
        assert len(text) < 400
        assert text.startswith("xxx" if i == 0 else "yyy")


def test_output_is_capped_in_lines_with_a_marker(tmp_path):
    result = run(tmp_path, [("student", "for i in range(1000):\n    print(i)\n")], max_output_lines=5)
    text = stdout(result, 0)
    kept, marker = text.split("[output truncated:")
    assert kept.split() == ["0", "1", "2", "3", "4"]
    assert "more characters not shown]" in marker


def test_output_under_the_caps_is_not_marked(tmp_path):
    result = run(tmp_path, [("student", "print('short')\n")], max_output_bytes=300, max_output_lines=5)
    assert stdout(result, 0) == "short\n"


def test_capture_counts_dropped_characters():
    cap = _Capture(max_bytes=10, max_lines=100)
    cap.write("abcdefghijklmnop")
    cap.write(b"qrs")
    assert cap.text() == "abcdefghij\n[output truncated: 9 more characters not shown]\n"


def test_capture_line_cap_keeps_whole_lines():
    cap = _Capture(max_bytes=10_000, max_lines=2)
    cap.write("a\nb\nc\nd\n")
    kept = cap.text().split("[output truncated")[0]
    assert kept.rstrip("\n").split("\n") == ["a", "b"]


# --------------------------------------------------------------------------- time limits and restarts


def test_cell_timeout_stops_the_cell_and_the_next_cells_run_in_a_fresh_worker(tmp_path):
    start = time.monotonic()
    result = run(tmp_path, [
        ("student", "import os\nx = 41\nfirst_pid = os.getpid()\n"),
        ("student", "while True:\n    pass\n"),
        ("student", "import os\nx += 1\nsecond_pid = os.getpid()\n"),
        ("test", "assert x == 42, x\nassert first_pid == second_pid  # both cells ran in the replacement\n"),
    ], expected=["x", "first_pid", "second_pid"], timeout=1.5)
    assert time.monotonic() - start < 15
    err = error(result, 1)
    assert err["ename"] == "StudentProcessStopped" and "time limit" in err["evalue"]
    assert any("'c1'" in note and "time limit" in note for note in result["notes"])
    assert_ok(result, 0, 2, 3)


def test_a_slow_starting_student_process_is_not_charged_to_a_cell(tmp_path, monkeypatch):
    """On a loaded machine the interpreter may take longer to start than a cell's time limit: the
    start-up (first start and restart after a stopped cell) has its own allowance."""
    from autograder.engine import checker

    real = checker.worker_command

    def slow(workdir, config):
        argv, env, preexec, mode = real(workdir, config)
        return ["/bin/sh", "-c", 'sleep 2; exec "$@"', "slow-start", *argv], env, preexec, mode

    monkeypatch.setattr(checker, "worker_command", slow)
    result = run(tmp_path, [
        ("student", "def spin():\n    while True:\n        pass\n"
                    "def ok():\n    return 'fine'\n"),
        ("test", "assert ok() == 'fine'\n"),
        ("test", "spin()\n"),
        ("test", "assert ok() == 'fine'\n"),
    ], expected=["spin", "ok"], timeout=1.0)
    assert_ok(result, 0, 1, 3)
    assert error(result, 2)["ename"] == "StudentProcessStopped"


def test_looping_student_function_called_by_a_test_costs_only_that_test(tmp_path):
    result = run(tmp_path, [
        ("student", "def spin():\n    print('spinning', flush=True)\n    while True:\n        pass\n"
                    "def ok():\n    return 'fine'\n"),
        ("test", "spin()\n"),
        ("test", "assert ok() == 'fine'\n"),
    ], expected=["spin", "ok"], timeout=1.5)
    err = error(result, 1)
    assert err["ename"] == "StudentProcessStopped" and "time limit" in err["evalue"]
    assert "spinning" in stdout(result, 1), "what the cell printed before it was stopped is kept"
    assert_ok(result, 0, 2)


def test_crashing_worker_is_replaced_and_stops_after_max_restarts(tmp_path):
    crash = "import os\nos._exit(3)\n"
    result = run(tmp_path, [
        ("student", "y = 1\n"),
        ("student", crash),
        ("test", "assert y == 1\n"),
        ("student", crash),
        ("student", "z = 2\n"),
    ], expected=["y"], max_restarts=1)
    assert error(result, 1)["ename"] == "StudentProcessStopped"
    assert "grading went on in a fresh process" in " ".join(result["notes"])
    assert_ok(result, 2)
    assert error(result, 3)["ename"] == "StudentProcessStopped"
    assert error(result, 4)["ename"] == "NotRun"


def test_exit_status_is_reported_even_when_the_exit_lags_the_pipe(tmp_path):
    result = run(tmp_path, [
        ("student", "import os, time\nos.closerange(3, 1024)\ntime.sleep(0.5)\nos._exit(3)\n"),
    ])
    assert "exited with status 3" in error(result, 0)["evalue"]


# --------------------------------------------------------------------------- the result file


def test_result_file_is_complete_at_the_end(tmp_path):
    result = run(tmp_path, [("student", "a = 1\n"), ("skip", ""), ("test", "assert a == 1\n")], expected=["a"])
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk == result
    assert on_disk["done"] == [0, 2]
    assert set(on_disk["outputs"]) == {"0", "2"}
    assert on_disk["mode"] == "none"
    assert not (tmp_path / "result.json.tmp").exists()


def test_checker_killed_midway_leaves_the_cells_done_so_far(tmp_path):
    job = make_job(tmp_path, [
        ("student", "import os\nopen('worker.pid', 'w').write(str(os.getpid()))\nx = 1\n"),
        ("test", "assert x == 1\n"),
        ("student", "import time\ntime.sleep(120)\n"),
        ("test", "assert False\n"),
    ], expected=["x"], timeout=120)
    job_file, result_file = tmp_path / "job.json", tmp_path / "result.json"
    job_file.write_text(json.dumps(job))
    proc = subprocess.Popen([sys.executable, "-m", "autograder.engine.checker", os.fspath(job_file), os.fspath(result_file)],
                            cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        done = []
        while time.monotonic() < deadline:
            if result_file.exists():
                done = json.loads(result_file.read_text())["done"]
                if done == [0, 1]:
                    break
            time.sleep(0.05)
        assert done == [0, 1], "the checker did not get to the sleeping cell in time"
        time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    result = json.loads(result_file.read_text())
    assert result["done"] == [0, 1]
    assert set(result["outputs"]) == {"0", "1"}
    assert not any(o["output_type"] == "error" for o in result["outputs"]["1"])
    pid = int((tmp_path / "work" / "worker.pid").read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text() if Path(f"/proc/{pid}/status").exists() else ""
        if "State:\tZ" in status:
            break
        time.sleep(0.05)
    status = Path(f"/proc/{pid}/status").read_text() if Path(f"/proc/{pid}/status").exists() else ""
    assert not status or "State:\tZ" in status, "the worker outlived the checker that was killed"


def test_checker_main_usage_message():
    proc = subprocess.run([sys.executable, "-m", "autograder.engine.checker"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "usage: python -m autograder.engine.checker JOB.json RESULT.json" in proc.stderr
