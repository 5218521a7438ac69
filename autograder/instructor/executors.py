"""Where grading tasks run: threads of this process, or the workers of a Dask cluster.

An executor takes :class:`Task` objects (the arguments of
:func:`autograder.instructor.task.grade_one` and the task's key) and yields an
:class:`Outcome` for each as it completes, in completion order. It never writes the
gradebook: the coordinating process (:func:`autograder.instructor.grading.grade_submissions`)
records each outcome once, then lets nbgrader save the grades.

- ``local`` (:class:`LocalExecutor`): ``jobs`` threads of this process. The CPU
  work happens in the engine's checker and worker processes, so threads suffice.
- ``dask://HOST:PORT`` (:class:`DaskExecutor`): the workers of the Dask scheduler at
  that address (``dask scheduler`` and ``dask worker``, see the instructors' guide).
  A task may run twice (a worker lost mid-task is replaced and its task re-run
  elsewhere): results are keyed, and each key is delivered once.
"""

from __future__ import annotations

import os
import re
import socket
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Iterable, Iterator

from ..layout import AutograderError

__all__ = ["Task", "Outcome", "executor_for", "LocalExecutor", "DaskExecutor", "check_slots"]

_DASK = re.compile(r"^dask://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})/?$")
_FORMS = "local (this machine, --jobs at once) or dask://HOST:PORT (a Dask scheduler, e.g. dask://127.0.0.1:8786)"


@dataclass(frozen=True)
class Task:
    """One submission to grade: :func:`~autograder.instructor.task.grade_one`'s arguments and key.

    ``gpu`` asks a Dask cluster for a worker started with ``--resources GPU=1``.
    """

    key: str
    submission: dict
    release: dict
    limits: dict
    gpu: bool = False


@dataclass(frozen=True)
class Outcome:
    """What came back for a task: the result of ``grade_one``, or ``error`` saying why there is none."""

    key: str
    result: dict | None = None
    error: str | None = None


def executor_for(spec: str, jobs: int = 1):
    """The executor named by ``spec``: ``"local"`` or ``"dask://HOST:PORT"``.

    Parameters
    ----------
    spec : str
        Where to grade.
    jobs : int
        Submissions graded at once by the local executor (ignored for Dask: the
        cluster's workers decide).

    Returns
    -------
    LocalExecutor or DaskExecutor
        Not yet started: use it as a context manager.

    Raises
    ------
    AutograderError
        For any other form.
    """
    if not isinstance(spec, str):
        raise AutograderError(f"executor={spec!r} is not one of the accepted forms: {_FORMS}")
    if spec == "local":
        return LocalExecutor(jobs)
    m = _DASK.match(spec)
    if m is None:
        hint = ""
        if spec.startswith(("tcp://", "dask:")) or "://" not in spec and ":" in spec:
            hint = "; write the scheduler's address as dask://HOST:PORT"
        raise AutograderError(f"executor={spec!r} is not one of the accepted forms: {_FORMS}{hint}")
    port = int(m.group("port"))
    if not 0 < port < 65536:
        raise AutograderError(f"executor={spec!r}: the port must be between 1 and 65535")
    return DaskExecutor(m.group("host"), port)


class LocalExecutor:
    """``jobs`` threads of this process calling ``grade_one``."""

    def __init__(self, jobs: int = 1):
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise AutograderError(f"jobs must be a positive integer, got jobs={jobs!r}")
        self.jobs = jobs

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def run(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        """Grade ``tasks``; yield each outcome as it completes."""
        from .task import grade_one

        tasks = _unique(tasks)
        if not tasks:
            return
        pool = ThreadPoolExecutor(max_workers=min(self.jobs, len(tasks)), thread_name_prefix="grade")
        try:
            futures = {pool.submit(grade_one, t.submission, t.release, t.limits): t for t in tasks}
            for future in as_completed(futures):
                task = futures.pop(future)
                try:
                    outcome = Outcome(task.key, future.result())
                except Exception as exc:  # noqa: BLE001 - a bug in grade_one: that submission fails
                    outcome = Outcome(task.key, error=f"grading raised {type(exc).__name__}: {exc} (a bug in the "
                                                      "autograder, please report it)")
                yield outcome
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _unique(tasks: Iterable[Task]) -> list[Task]:
    seen, out = set(), []
    for task in tasks:
        if task.key not in seen:
            seen.add(task.key)
            out.append(task)
    return out


def _cores() -> int:
    """Cores this process may use (run on each Dask worker by :func:`check_slots`)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _grader_version() -> str:
    from .task import grader_version

    return grader_version()


def check_slots(client) -> dict[str, tuple[int, int]]:
    """``{host: (grading slots, cores)}`` of a Dask cluster; raise if a host has more slots than cores.

    A slot is a worker thread: each runs one submission at a time. Several
    ``dask worker`` processes on one host add up.
    """
    workers = client.scheduler_info(n_workers=-1)["workers"]
    cores = client.run(_cores)  # measured on each worker
    per_host: dict[str, list[int]] = {}
    for address, info in workers.items():
        slots, most = per_host.setdefault(info["host"], [0, 0])
        per_host[info["host"]] = [slots + int(info["nthreads"]), max(most, int(cores.get(address, 0)))]
    over = {host: tuple(v) for host, v in per_host.items() if v[0] > v[1]}
    if over:
        listed = ", ".join(f"{host}: {s} slots on {c} cores" for host, (s, c) in sorted(over.items()))
        raise AutograderError(
            f"the Dask workers schedule more grading slots than cores ({listed}): two submissions sharing a core "
            "run slower and may hit their time limits; restart the workers with --nthreads 1 and at most one "
            "--nworkers per core"
        )
    return {host: tuple(v) for host, v in per_host.items()}


class DaskExecutor:
    """The workers of the Dask scheduler at ``HOST:PORT``.

    Starting it (``with``) connects, waits for a worker, checks that every worker
    runs this grader's code and that no host has more slots than cores. Tasks
    are submitted with the key ``grade-<task key>``, a bounded number ahead of the
    results; each future is released once its outcome has been handled (a held
    result is recomputed when its worker dies). A task whose workers kept dying
    (Dask's ``KilledWorker``) comes back as an error; the batch goes on.
    """

    def __init__(self, host: str, port: int, *, connect_timeout: float = 10.0, workers_timeout: float = 60.0):
        self.host, self.port = host, port
        self.spec = f"dask://{host}:{port}"
        self.address = f"tcp://{host}:{port}"
        self.connect_timeout, self.workers_timeout = connect_timeout, workers_timeout
        self.client = None

    def _how_to_start(self) -> str:
        host = self.host.strip("[]")
        return (f"start one on that machine with `dask scheduler --host {host} --port {self.port} --no-dashboard` "
                f"and workers with `dask worker {self.address} --nthreads 1` (see the instructors' guide), or "
                "grade on this machine with --executor local")

    def __enter__(self):
        try:
            from distributed import Client
        except ImportError:
            raise AutograderError(f"--executor {self.spec} needs the dask and distributed packages: "
                                  "pip install -r requirements.txt") from None
        try:  # a quick answer when nothing listens (Dask's own connect retries until its timeout)
            socket.create_connection((self.host.strip("[]"), self.port), timeout=self.connect_timeout).close()
        except OSError as exc:
            raise AutograderError(
                f"no Dask scheduler answers at {self.spec} ({exc.strerror or exc}): {self._how_to_start()}"
            ) from None
        try:
            self.client = Client(self.address, timeout=self.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise AutograderError(f"could not connect to a Dask scheduler at {self.spec} ({exc}): "
                                  f"{self._how_to_start()}") from None
        try:
            self._check_cluster()
        except BaseException:
            self.close()
            raise
        return self

    def _check_cluster(self) -> None:
        try:
            self.client.wait_for_workers(1, timeout=self.workers_timeout)
        except TimeoutError:
            raise AutograderError(
                f"the Dask scheduler at {self.spec} has no workers (waited {self.workers_timeout:g} s): start "
                f"them on the grading machines with `dask worker {self.address} --nthreads 1`"
            ) from None
        mine = _grader_version()
        try:
            theirs = self.client.run(_grader_version)
        except Exception as exc:  # noqa: BLE001 - typically ModuleNotFoundError: autograder
            raise AutograderError(
                f"the Dask workers of {self.spec} cannot run the autograder ({type(exc).__name__}: {exc}): start "
                "`dask worker` in the course's virtual environment, from the repository's folder or with it on "
                "PYTHONPATH"
            ) from None
        other = sorted(address for address, version in theirs.items() if version != mine)
        if other:
            raise AutograderError(
                f"Dask worker(s) {', '.join(other)} run other autograder code than this machine: check out the "
                "same commit of the repository everywhere and restart those workers"
            )
        check_slots(self.client)

    def _has_gpu_worker(self) -> bool:
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        return any(float((w.get("resources") or {}).get("GPU", 0)) >= 1 for w in workers.values())

    def run(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        """Grade ``tasks`` on the cluster; yield each outcome as it completes, each key once."""
        from distributed import as_completed as dask_completed

        from .task import grade_one

        tasks = _unique(tasks)
        if any(t.gpu for t in tasks) and not self._has_gpu_worker():
            raise AutograderError(
                f"some submissions need a GPU (metadata autograder.gpu in their source notebook) but no worker of "
                f"{self.spec} offers one: start `dask worker {self.address} --nthreads 1 --resources GPU=1` on a "
                "GPU machine"
            )
        if not tasks:
            return
        slots = sum(int(w["nthreads"]) for w in self.client.scheduler_info(n_workers=-1)["workers"].values())
        ahead = max(2 * slots, 16)  # submitted but not yet delivered: the scheduler holds their arguments
        pending = iter(tasks)
        by_future = {}
        done = dask_completed(loop=self.client.loop)

        def submit_next() -> bool:
            task = next(pending, None)
            if task is None:
                return False
            future = self.client.submit(
                grade_one, task.submission, task.release, task.limits, key=f"grade-{task.key}",
                resources={"GPU": 1} if task.gpu else None,
            )
            by_future[future.key] = (future, task)
            done.add(future)
            return True

        try:
            while len(by_future) < ahead and submit_next():
                pass
            delivered = set()
            for future in done:
                _, task = by_future.pop(future.key, (None, None))
                if task is None or task.key in delivered:
                    future.release()
                    continue
                delivered.add(task.key)
                yield self._outcome(future, task)
                future.release()  # stored by the coordinator: the worker may drop it
                submit_next()
        finally:
            for future, _ in by_future.values():
                future.cancel()
                future.release()

    @staticmethod
    def _outcome(future, task: Task) -> Outcome:
        from distributed import KilledWorker

        try:
            return Outcome(task.key, future.result())
        except KilledWorker as exc:
            return Outcome(task.key, error=f"the Dask workers running it kept dying (KilledWorker: {exc})")
        except Exception as exc:  # noqa: BLE001 - grade_one raised (a bug) or the task was lost
            return Outcome(task.key, error=f"grading raised {type(exc).__name__}: {exc} (a bug in the autograder, "
                                           "please report it)")

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.close(timeout=10)
            except Exception:  # noqa: BLE001 - closing a client of a scheduler that is gone
                pass
            self.client = None

    def __exit__(self, *exc):
        self.close()
        return None
