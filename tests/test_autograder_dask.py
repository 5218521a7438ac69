"""Grading on a real Dask cluster: ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1.

No mocks: the scheduler and the workers are the ``dask`` command line, started as
an instructor starts them on lab machines (one thread each, no dashboard, the
scheduler's address read from its ``--scheduler-file``), with this repository on
their ``PYTHONPATH``. The toy class (tests/fixtures/toyrepo; max 4 points) is
graded through them and on this machine, and the two must agree; then a worker is
SIGKILLed (its whole process group: a lost machine) while the batch runs, and every
submission must still be graded exactly once with the same scores.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import nbformat
import pytest

import autograder

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dask")]
# The functions below that run on the scheduler travel by value: the scheduler cannot import this module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "tests" / "fixtures" / "toyrepo"
DASK = str(Path(sys.executable).with_name("dask"))
MAX = 4.0


def _wait_for(predicate, timeout: float, what: str, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


class DaskCluster:
    """A ``dask scheduler`` and ``n`` one-thread ``dask worker`` processes, each in its own process group."""

    def __init__(self, folder: Path, n_workers: int = 2):
        self.dir = folder
        self.dir.mkdir(parents=True, exist_ok=True)
        self.n_workers = n_workers
        self.scheduler_file = self.dir / "scheduler.json"
        self.scheduler = None
        self.workers: list[subprocess.Popen | None] = []
        self.client = None
        config = self.dir / "dask-config"  # empty: no ~/.config/dask leaks in
        config.mkdir(exist_ok=True)
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH")
                                                         else [])),
            "DASK_CONFIG": str(config),
            "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
            "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0",
            "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__GIL__ENABLED": "False",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }

    def _spawn(self, argv: list[str], log: str) -> subprocess.Popen:
        with open(self.dir / log, "wb") as fh:
            return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=self.env, cwd=REPO, start_new_session=True)

    def log(self, name: str) -> str:
        path = self.dir / name
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"

    def start(self) -> "DaskCluster":
        self.scheduler = self._spawn([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                      "--scheduler-file", str(self.scheduler_file)], "scheduler.log")

        def address():
            if self.scheduler.poll() is not None:
                raise RuntimeError("dask scheduler exited:\n" + self.log("scheduler.log"))
            try:  # written once the scheduler listens, not atomically
                return json.loads(self.scheduler_file.read_text()).get("address")
            except (OSError, ValueError):
                return None

        self.address = _wait_for(address, 60, "the scheduler file")
        self.spec = "dask://" + self.address.removeprefix("tcp://")
        for i in range(self.n_workers):
            self.workers.append(self._spawn(
                [DASK, "worker", self.address, "--host", "127.0.0.1", "--name", f"w{i}", "--nthreads", "1",
                 "--nworkers", "1", "--memory-limit", "0", "--no-dashboard", "--death-timeout", "30",
                 "--local-directory", str(self.dir / f"w{i}")], f"worker-{i}.log"))
        from distributed import Client

        self.client = Client(self.address, timeout=60, set_as_default=False)

        def ready():
            for i, proc in enumerate(self.workers):
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"dask worker w{i} exited:\n" + self.log(f"worker-{i}.log"))
            return len(self.client.scheduler_info(n_workers=-1)["workers"]) >= self.n_workers

        _wait_for(ready, 120, f"{self.n_workers} workers")
        return self

    def kill_worker(self, address: str) -> str:
        """SIGKILL the process group (nanny and worker) of the worker at ``address``; return its name."""
        name = self.client.scheduler_info(n_workers=-1)["workers"][address]["name"]
        i = int(str(name).removeprefix("w"))
        os.killpg(self.workers[i].pid, signal.SIGKILL)
        self.workers[i].wait(timeout=30)
        self.workers[i] = None
        return str(name)

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.close(timeout=10)
            except Exception:  # noqa: BLE001 - the scheduler may be gone already
                pass
        # workers first (a worker whose scheduler vanished retries for a while), then the scheduler
        for group in ([p for p in self.workers if p is not None], [self.scheduler] if self.scheduler else []):
            for proc in group:
                if proc.poll() is None:
                    try:
                        os.killpg(proc.pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
            for proc in group:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    pass
                try:  # leftovers of the group (a checker or worker of a grading run)
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass


def start_cluster(request, folder: Path) -> DaskCluster:
    cluster = DaskCluster(folder)
    request.addfinalizer(cluster.close)
    return cluster.start()


@pytest.fixture(scope="module")
def cluster(request, tmp_path_factory):
    return start_cluster(request, tmp_path_factory.mktemp("dask"))


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy") / "repo"
    shutil.copytree(TOY, root)
    autograder.release(repo=root)
    source, release = root / "solutions" / "toy" / "toy.ipynb", root / "exercises" / "toy" / "toy.ipynb"
    return {"root": root, "release": nbformat.read(release, as_version=4),
            "perfect": autograder.perfect_submission(source, release),
            "half": autograder.half_done_submission(source, release)}


def with_cell(nb, grade_id, source):
    nb = nbformat.from_dict(nb)  # a copy
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return nb
    raise KeyError(grade_id)


def run_cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def same(results) -> list[tuple]:
    """What must not depend on where a submission was graded."""
    return [(r.student_id, r.assignment, r.score, r.max_score, r.status, r.note, r.integrity) for r in results]


def test_a_class_graded_on_dask_gets_the_grades_and_notes_it_gets_locally(cluster, toy, tmp_path):
    subs = tmp_path / "subs"
    autograder.write_submission(subs, "a_malformed", "toy", "toy", '{\n "cells": [\n  {"cell_type": oops\n')
    autograder.write_submission(subs, "b_blank", "toy", "toy", toy["release"])
    autograder.write_submission(subs, "c_half", "toy", "toy", toy["half"])
    autograder.write_submission(subs, "d_perfect", "toy", "toy", toy["perfect"])
    crash = "import os\n\ndef double(x):\n    return 2 * x\n\nos._exit(3)"
    autograder.write_submission(subs, "e_crash", "toy", "toy", with_cell(toy["perfect"], "double", crash))
    loop = "def peak_step(total_steps):\n    return total_steps // 2\n\nwhile True:\n    pass"
    autograder.write_submission(subs, "f_loop", "toy", "toy", with_cell(toy["perfect"], "peak_step", loop))
    options = dict(repo=toy["root"], timeout=4, progress=False)

    local = autograder.grade_submissions(subs, course_dir=tmp_path / "local", jobs=2, **options)
    before = cluster.client.run_on_scheduler(grade_tasks)
    dask = autograder.grade_submissions(subs, course_dir=tmp_path / "dask", executor=cluster.spec, **options)

    assert same(dask) == same(local)
    got = {r.student_id: r for r in dask}
    assert [got[s].score for s in ("a_malformed", "b_blank", "c_half", "d_perfect")] == [0, 0, 1, MAX]
    assert got["a_malformed"].status == "failed" and "not valid JSON" in got["a_malformed"].note
    # The crash and the endless loop cost their cells only, with the engine's notes, wherever they ran.
    assert got["e_crash"].status == got["f_loop"].status == "graded"
    assert 0 < got["e_crash"].score < MAX and got["e_crash"].note
    assert got["f_loop"].score == MAX - 2 and "4 s" in got["f_loop"].note
    rows = {r["student_id"]: r for r in autograder.export_grades(repo=toy["root"], course_dir=tmp_path / "dask")}
    assert sorted(rows) == sorted(got) and all(float(rows[s]["score"]) == got[s].score for s in got)
    # The runnable five ran on the cluster, once each (the scheduler's log of task transitions), and the
    # coordinator released each result once stored: the scheduler then forgets the task.
    ran = cluster.client.run_on_scheduler(grade_tasks)
    assert {k: n - before.get(k, 0) for k, n in ran.items() if n > before.get(k, 0)} == dict.fromkeys(
        set(ran) - set(before), 1) and len(set(ran) - set(before)) == 5, (before, ran)
    _wait_for(lambda: not cluster.client.run_on_scheduler(held_tasks), 30, "the results to be released")


def grade_tasks(dask_scheduler) -> dict:
    """On the scheduler: how often each grading task (key ``grade-<hash>``) reached memory."""
    counts: dict = {}
    for t in dask_scheduler.transition_log:
        if str(t.key).startswith("grade-") and t.finish == "memory":
            counts[str(t.key)] = counts.get(str(t.key), 0) + 1
    return counts


def held_tasks(dask_scheduler) -> list:
    """On the scheduler: the grading tasks it still holds."""
    return [str(k) for k in dask_scheduler.tasks if str(k).startswith("grade-")]


def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(request, toy, tmp_path):
    killed = start_cluster(request, tmp_path / "dask")
    subs, course = tmp_path / "subs", tmp_path / "course"
    slow = "import time\n\ndef double(x):\n    return 2 * x\n\ntime.sleep(3)"
    students = [f"s{i}" for i in range(6)]
    for i, student in enumerate(students):
        nb = toy["perfect"] if i % 2 == 0 else toy["half"]
        autograder.write_submission(subs, student, "toy", "toy", with_cell(nb, "double", slow))

    proc = subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", subs, "--repo", toy["root"], "--course-dir", course,
         "--executor", killed.spec, "--no-progress"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        def stored():
            return sorted(p.parent.parent.name for p in (course / "runs").glob("*/toy/toy.result.json"))

        first = _wait_for(lambda: stored() or proc.poll() is not None, 300, "the first result")
        assert first is not True, "the batch ended before any result was stored:\n" + proc.stderr.read()
        busy = {w: [k for k in keys if str(k).startswith("grade-")]
                for w, keys in killed.client.processing().items()}
        busy = {w: keys for w, keys in busy.items() if keys}
        assert busy, "no worker was grading after the first result: the batch is too short to test a kill"
        done_before = stored()
        victim = sorted(busy)[0]
        name = killed.kill_worker(victim)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    # Mid-batch for real: when the worker died, some submissions were stored and others not yet.
    assert 0 < len(done_before) < len(students), (done_before, name)
    # Every submission exactly once in the table, the gradebook and the export, with the right score.
    table = [line.split()[0] for line in out.splitlines()[2:] if line.split() and line.split()[0] in students]
    assert sorted(table) == students, out
    rows = autograder.export_grades(repo=toy["root"], course_dir=course)
    assert sorted(r["student_id"] for r in rows) == students
    want = {s: (MAX if i % 2 == 0 else 1.0) for i, s in enumerate(students)}
    assert {r["student_id"]: float(r["score"]) for r in rows} == want
    assert all(r["status"] == "graded" for r in rows), rows


def test_the_cli_grades_on_dask_and_says_what_is_wrong_with_an_executor(cluster, toy, tmp_path):
    subs = tmp_path / "subs"
    autograder.write_submission(subs, "alice", "toy", "toy", toy["perfect"])
    proc = run_cli("grade", subs, "--repo", toy["root"], "--course-dir", tmp_path / "course",
                   "--executor", cluster.spec, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "alice" in proc.stdout and "4" in proc.stdout.split("alice", 1)[1].split("\n", 1)[0]

    proc = run_cli("grade", subs, "--repo", toy["root"], "--course-dir", tmp_path / "c2",
                   "--executor", "dask://127.0.0.1:1", "--no-progress")
    assert proc.returncode == 1
    assert "no Dask scheduler answers at dask://127.0.0.1:1" in proc.stderr
    assert "dask scheduler --host 127.0.0.1 --port 1 --no-dashboard" in proc.stderr
    assert not (tmp_path / "c2" / "submitted").exists()  # nothing staged

    proc = run_cli("grade", subs, "--repo", toy["root"], "--course-dir", tmp_path / "c3", "--executor", "banana")
    assert proc.returncode == 1
    assert "executor='banana' is not one of the accepted forms" in proc.stderr
    assert "dask://HOST:PORT" in proc.stderr and "local" in proc.stderr
