"""Autograder speed on one assignment: ``grade --jobs 1``, ``--jobs N``, plain nbgrader, nbclient alone.

``--n`` perfect submissions of one assignment (``autograder.perfect_submission``,
written with ``autograder.write_submission``) are timed five ways, each from a
fresh course directory and counting everything an instructor would wait for
(loading the assignment into the gradebook, staging, grading):

(a) ``grade_submissions(jobs=1)``: our autograder, serial: checker and worker forked
    from the templates of :mod:`autograder.engine.zygote`;
(b) ``grade_submissions(jobs=N)``: our autograder, ``--jobs`` grading slots sharing
    one pair of templates;
(c) plain serial ``nbgrader autograde`` of the same submissions, with nbgrader's own
    ``Execute`` preprocessor (one kernel runs student code and tests together: no
    sandbox, no separate checker), one ``api.autograde`` call per student;
(d) nbclient alone executing, one after another, the notebooks the autograder
    actually graded (``<course>/submitted/<student>/<assignment>/``, written by (a):
    the student's answers with every visible and hidden test);
(e) ``grade_submissions(jobs=1)`` with ``AUTOGRADER_ZYGOTE=0``: our autograder with a
    fresh checker and worker interpreter per notebook (the design before the
    templates), to show what they gain.

Each run of (a), (b) and (e) starts from no templates (:func:`autograder.engine.zygote.shutdown`
before it) and ends them after it, as one ``grade`` command does: the templates'
start-up is counted in every batch, and their CPU time (and their forks') is counted
once they are reaped.

The table gives total and per-submission seconds, the speed-up over (c) and the
ratio to (d), whether every submission got full marks (a benchmark that grades
wrong is useless, so this is checked, not assumed), the CPU seconds spent per
submission (see :func:`_cpu` for what it misses) and the load of the machine.
Below it, where (a)'s time goes, from the per-cell seconds the checker writes to
``<course>/runs/<student>/<assignment>/<notebook>.json``.

The submissions are split into ``--rounds`` batches; every method runs on every batch
(its totals are summed), in an order reversed every other round, so a change in the
load of a shared machine hits every method alike rather than the one running then.
Each batch counts its own gradebook set-up, so a method's total is a little more
than one big batch would take.

Every method gets ``OMP_NUM_THREADS=1`` (what ``make test`` and the sandbox use), so
none of them gains from threads the others do not have. One untimed nbclient run
first warms the disk cache for all of them. Timings are printed, never asserted.

Examples
--------
``python benchmarks/bench_autograde.py --n 4`` (a quick check);
``python benchmarks/bench_autograde.py --assignment pac_bayes --n 40 --jobs 2`` (the README table).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

METHODS = ("a", "b", "c", "d", "e")


# --------------------------------------------------------------------------- set-up


def build_submissions(repo, assignment: str, students: list[str], folder: Path) -> None:
    """Write a perfect submission of ``assignment`` for each of ``students`` under ``folder``."""
    from autograder import perfect_submission, write_submission

    notebooks = {
        name: perfect_submission(repo.solutions / assignment / f"{name}.ipynb")
        for name in repo.notebook_names(assignment)
    }
    for sid in students:
        for name, nb in notebooks.items():
            write_submission(folder, sid, assignment, name, nb)


def machine_info(sandbox: str) -> dict:
    """Cores, CPU, Python, OS, load, sandbox mode: what the numbers depend on."""
    from autograder.engine.sandbox import SandboxConfig, resolve_mode

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover
        load = float("nan")
    try:
        mode = resolve_mode(SandboxConfig(mode=sandbox))
    except (ValueError, RuntimeError) as exc:
        mode = f"unavailable ({exc})"
    import nbclient
    import nbgrader

    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": f"{usable} usable of {os.cpu_count()}",
        "cpu": cpu,
        "python": platform.python_version(),
        "os": platform.platform(),
        "load (1 min, at start)": f"{load:.1f}",
        "sandbox": mode,
        "nbgrader": nbgrader.__version__,
        "nbclient": nbclient.__version__,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", ""),
    }


def _cpu() -> float:
    """CPU seconds (user + system) of this process and of the child processes it has waited for.

    A fresh worker in a new PID namespace (``bwrap --unshare-pid``, method (e)) is not
    counted: its namespace's init is reaped without its children's time. A worker forked
    by the worker template is: its parent, outside the box, reaps it, and the templates
    are reaped at the end of each run.
    """
    import resource

    return sum(
        u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                          resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - not available
        return float("nan")


# --------------------------------------------------------------------------- the four methods


def run_ours(repo, assignment: str, folder: Path, course_dir: Path, jobs: int, sandbox: str, timeout: float,
             templates: bool = True):
    """(a)/(b)/(e): ``grade_submissions``; returns (seconds, full marks?, results).

    ``templates=False`` sets ``AUTOGRADER_ZYGOTE=0`` for the run: fresh interpreters per notebook.
    """
    from autograder import grade_submissions
    from autograder.engine import zygote

    zygote.shutdown()  # as a new ``grade`` command: no templates yet
    before = os.environ.get(zygote.ENV)
    os.environ[zygote.ENV] = "1" if templates else "0"
    try:
        start = time.perf_counter()
        results = grade_submissions(
            folder, repo=repo, course_dir=course_dir, assignment=assignment, jobs=jobs,
            sandbox=sandbox, timeout=timeout, progress=True,
        )
        seconds = time.perf_counter() - start
    finally:
        if before is None:
            os.environ.pop(zygote.ENV, None)
        else:
            os.environ[zygote.ENV] = before
        zygote.shutdown()  # reaped: their CPU time (and their forks') is counted
    full = bool(results) and all(r.status == "graded" and r.score == r.max_score for r in results)
    return seconds, full, results


def plain_nbgrader_config(course, timeout: float):
    """autograder's Config with nbgrader's own preprocessors put back (Execute, not the sandbox)."""
    from nbgrader.converters import Autograde, GenerateFeedback

    from autograder.instructor._nbgrader import make_config

    c = make_config(course)
    c.Autograde.autograde_preprocessors = list(Autograde.class_traits()["autograde_preprocessors"].default())
    c.GenerateFeedback.preprocessors = list(GenerateFeedback.class_traits()["preprocessors"].default())
    c.Execute.timeout = int(timeout)
    if "SandboxExecute" in c:  # older make_config set it; the task executor's does not
        del c["SandboxExecute"]
    names = [p.__name__ for p in c.Autograde.autograde_preprocessors]
    if "Execute" not in names or "SandboxExecute" in names:
        raise RuntimeError(f"expected nbgrader's default preprocessors with Execute, got {names}")
    return c


def run_plain_nbgrader(repo, assignment: str, folder: Path, students: list[str], course_dir: Path,
                       timeout: float, tag: str = ""):
    """(c): nbgrader's API with its own Execute, one ``autograde`` per student, serially."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from tqdm import tqdm

    from autograder import open_course
    from autograder.instructor._nbgrader import explain_failure

    start = time.perf_counter()
    course = open_course(repo, course_dir)
    course.root.mkdir(parents=True, exist_ok=True)
    for sid in students:  # nbgrader reads <course>/submitted/<student>/<assignment>/ as it is
        shutil.copytree(folder / sid / assignment, course.root / "submitted" / sid / assignment)
    config = plain_nbgrader_config(course, timeout)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    result = api.generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader generate_assignment failed: {explain_failure(result)}")
    failures = []
    bar = tqdm(students, desc=f"(c) nbgrader autograde {tag}".strip(), unit="submission", file=sys.stderr,
               dynamic_ncols=True)
    for sid in bar:
        result = api.autograde(assignment, sid, force=True, create=True)
        if not result["success"]:
            failures.append(f"{sid}: {explain_failure(result)}")
    seconds = time.perf_counter() - start
    full = not failures
    with Gradebook(course.db_url) as gb:
        for sid in students:
            sub = gb.find_submission(assignment, sid)
            full = full and float(sub.score) == float(sub.max_score)
    for line in failures[:3]:
        print(f"  (c) failed: {line}", file=sys.stderr)
    return seconds, full


def graded_cells_pass(nb) -> bool:
    """True when every graded test cell of an executed notebook ran without an error output."""
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                return False
    return True


def execute_notebook(path: Path, timeout: float):
    """Execute one notebook with nbclient in a scratch copy of its folder; return it executed."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(os.fspath(path), as_version=4)
    with tempfile.TemporaryDirectory(prefix="bench-nbclient-") as tmp:
        cwd = Path(tmp) / "work"
        shutil.copytree(path.parent, cwd)
        NotebookClient(
            nb, timeout=int(timeout), kernel_name="python3", allow_errors=True,
            extra_arguments=["--IPKernelApp.log_level=ERROR"], resources={"metadata": {"path": os.fspath(cwd)}},
        ).execute()
    return nb


def nbclient_fixed_cost(timeout: float, repeat: int = 3) -> float:
    """Mean seconds for nbclient to run a one-cell notebook (``pass``): kernel start and shutdown."""
    import nbformat
    from nbclient import NotebookClient

    times = []
    with tempfile.TemporaryDirectory(prefix="bench-nbclient-") as tmp:
        for _ in range(repeat):
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass")])
            start = time.perf_counter()
            NotebookClient(
                nb, timeout=int(timeout), kernel_name="python3",
                extra_arguments=["--IPKernelApp.log_level=ERROR"], resources={"metadata": {"path": tmp}},
            ).execute()
            times.append(time.perf_counter() - start)
    return statistics.mean(times)


def run_nbclient(graded_course: Path, assignment: str, students: list[str], timeout: float, tag: str = ""):
    """(d): nbclient alone on the notebooks (a) graded, serially."""
    from tqdm import tqdm

    paths = [p for sid in students for p in sorted((graded_course / "submitted" / sid / assignment).glob("*.ipynb"))]
    if not paths:
        raise RuntimeError(f"no graded notebooks in {graded_course}/submitted: method (a) must run first")
    start = time.perf_counter()
    full = True
    bar = tqdm(paths, desc=f"(d) nbclient execute {tag}".strip(), unit="notebook", file=sys.stderr,
               dynamic_ncols=True)
    for path in bar:
        full = graded_cells_pass(execute_notebook(path, timeout)) and full
    return time.perf_counter() - start, full


# --------------------------------------------------------------------------- where the time goes


def breakdown(courses: list[Path], assignment: str, results) -> dict:
    """Per-submission means for (a): autograde call, time in cells, the slowest cells."""
    per_cell: dict[str, list[float]] = {}
    in_cells = []
    paths = [p for course in courses for p in sorted((course / "runs").glob(f"*/{assignment}/*.json"))
             if not p.name.endswith(".result.json")]  # the task's whole result, not the run's report
    for path in paths:
        seconds = json.loads(path.read_text(encoding="utf-8")).get("seconds", {})
        in_cells.append(sum(seconds.values()))
        for index, s in seconds.items():
            per_cell.setdefault(f"{path.stem} cell {index}", []).append(s)
    slowest = sorted(((statistics.mean(v), k) for k, v in per_cell.items()), reverse=True)[:3]
    return {
        "autograde": statistics.mean(r.seconds for r in results) if results else float("nan"),
        "cells": statistics.mean(in_cells) if in_cells else float("nan"),
        "slowest": slowest,
    }


# --------------------------------------------------------------------------- report


def format_report(info: dict, rows: dict, n: int, jobs: int, assignment: str, split: dict | None) -> str:
    """The machine, the table (Markdown, so it pastes into the README) and (a)'s breakdown."""
    labels = {
        "a": "(a) `grade --jobs 1`",
        "b": f"(b) `grade --jobs {jobs}`",
        "c": "(c) plain `nbgrader autograde`, serial",
        "d": "(d) nbclient alone, serial",
        "e": "(e) `grade --jobs 1`, `AUTOGRADER_ZYGOTE=0`",
    }
    lines = [f"Autograder benchmark: {n} perfect submissions of {assignment}"]
    lines += [f"  {k}: {v}" for k, v in info.items()]
    lines += ["", "| method | total s | s / submission | speed-up vs (c) | ratio vs (d) | all full marks "
                  "| CPU s / submission | load |",
              "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    base_c = rows.get("c", {}).get("seconds")
    base_d = rows.get("d", {}).get("seconds")
    for key in METHODS:
        if key not in rows:
            continue
        s, full = rows[key]["seconds"], rows[key]["full"]
        speed = f"{base_c / s:.2f}x" if base_c else "-"
        ratio = f"{s / base_d:.2f}x" if base_d else "-"
        load, cpu = rows[key].get("load", float("nan")), rows[key].get("cpu", float("nan"))
        lines.append(
            f"| {labels[key]} | {s:.1f} | {s / n:.2f} | {speed} | {ratio} | {'yes' if full else 'NO'} "
            f"| {cpu / n:.2f} | {load:.1f} |"
        )
    if split:
        lines += [
            "",
            f"Where (a)'s time goes, per submission: {split['autograde']:.2f} s from its task's start to its "
            f"row in the gradebook (restore and run in a grading thread, then nbgrader's autograde call in the "
            f"coordinator, which overlaps the next task), of which {split['cells']:.2f} s running cells "
            f"(checker's per-cell seconds, worker start-up included in the first cell); (a) took "
            f"{rows['a']['seconds'] / n:.2f} s per submission in all, loading the assignment, staging and the "
            "templates' start included.",
            "Slowest cells (mean s): " + ", ".join(f"{name} {s:.2f}" for s, name in split["slowest"]),
        ]
    if max((len(r.get("per_round", [])) for r in rows.values()), default=0) > 1:
        lines.append("")
        lines.append("Seconds per submission in each round: " + "; ".join(
            f"({k}) " + " ".join(f"{x:.1f}" for x in rows[k]["per_round"]) for k in METHODS if k in rows))
    if "nbclient_fixed" in rows.get("d", {}):
        lines.append(
            f"(d)'s fixed cost per notebook (a one-cell notebook, kernel start and shutdown): "
            f"{rows['d']['nbclient_fixed']:.2f} s"
        )
    lines.append("CPU s: user + system time of the benchmark and of the processes it started once they are reaped "
                 "(kernels; the templates with their forked checkers and workers; fresh checkers; a fresh "
                 "student worker (e) only with --sandbox none: bubblewrap's PID namespace hides it from "
                 "getrusage, while a forked worker's parent is outside the box and reaps it).")
    lines.append("load: the 1-minute load average when the method finished, mean over the rounds "
                 "(other programs share the cores).")
    return "\n".join(lines)


def round_order(methods: list[str], index: int) -> list[str]:
    """The order of the methods in round ``index``: reversed every other round, (d) always after (a)."""
    order = [m for m in ("c", "a", "b", "e") if m in methods]
    if index % 2:
        order.reverse()
    if "d" in methods:
        order.insert(order.index("a") + 1, "d")
    return order


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", default="pac_bayes", help="assignment to grade (default pac_bayes)")
    parser.add_argument("--n", type=int, default=40, help="number of submissions (default 40)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for method (b) (default 2)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="split the submissions into this many batches and run every method on each, "
                             "alternating the order, so that changes in the machine's load hit every method "
                             "alike; at most --n (default 4)")
    parser.add_argument("--sandbox", default="auto", choices=("auto", "bwrap", "none"),
                        help="sandbox of methods (a) and (b) (default auto)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="per-cell limit in seconds, all methods (default 600)")
    parser.add_argument("--methods", default="abcde",
                        help="which methods to run, e.g. 'ad' (default abcde; (d) needs (a))")
    parser.add_argument("--keep", metavar="DIR",
                        help="work in DIR and keep the course directories (default: a temporary folder)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers to FILE as JSON")
    args = parser.parse_args(argv)
    if args.n < 1 or args.jobs < 1 or args.rounds < 1:
        parser.error("--n, --jobs and --rounds must be positive integers")
    args.rounds = min(args.rounds, args.n)  # each round needs a submission
    methods = [m for m in METHODS if m in args.methods]
    if not methods:
        parser.error(f"--methods {args.methods!r} names none of a, b, c, d, e")
    if "d" in methods and "a" not in methods:
        parser.error("method (d) executes the notebooks method (a) graded: include 'a' in --methods")
    if args.keep and Path(args.keep).exists():
        parser.error(f"--keep {args.keep}: the folder exists; pass a new one")

    from autograder import AutograderError, find_repo
    from autograder.instructor._nbgrader import quiet, skip_slow_optional_imports

    skip_slow_optional_imports()  # as the command line does
    quiet()
    repo = find_repo()
    try:
        repo.check_assignment(args.assignment)
    except AutograderError as exc:
        parser.error(str(exc).replace("or pass --repo", "").rstrip("; "))
    info = machine_info(args.sandbox)
    info["rounds"] = f"{args.rounds} (order per round: " + "; ".join(
        ",".join(round_order(methods, r)) for r in range(min(args.rounds, 2))) + ")"

    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as tmp:
        work = Path(args.keep).absolute() if args.keep else Path(tmp)
        students = [f"student{i:03d}" for i in range(args.n)]
        batches = [students[r::args.rounds] for r in range(args.rounds)]
        rows = {m: {"seconds": 0.0, "cpu": 0.0, "full": True, "loads": [], "per_round": []} for m in methods}
        results_a, courses_a = [], []
        for r, batch in enumerate(batches):
            folder = work / f"round{r}" / "submissions"
            build_submissions(repo, args.assignment, batch, folder)
            if r == 0:  # warm the disk cache (torch, numpy...) for every method alike; not timed
                execute_notebook(sorted((folder / batch[0] / args.assignment).glob("*.ipynb"))[0], args.timeout)
            for m in round_order(methods, r):
                course = work / f"round{r}" / f"course_{m}"
                tag = f"round {r + 1}/{args.rounds}"
                cpu = _cpu()
                if m == "c":
                    s, full = run_plain_nbgrader(repo, args.assignment, folder, batch, course, args.timeout,
                                                 tag=tag)
                elif m in ("a", "b", "e"):
                    jobs = args.jobs if m == "b" else 1
                    print(f"({m}) grade --jobs {jobs}{' AUTOGRADER_ZYGOTE=0' if m == 'e' else ''}, {tag}",
                          file=sys.stderr)
                    s, full, results = run_ours(repo, args.assignment, folder, course, jobs, args.sandbox,
                                                args.timeout, templates=m != "e")
                    if m == "a":
                        results_a += results
                        courses_a.append(course)
                else:
                    s, full = run_nbclient(work / f"round{r}" / "course_a", args.assignment, batch, args.timeout,
                                           tag=tag)
                rows[m]["seconds"] += s
                rows[m]["cpu"] += _cpu() - cpu
                rows[m]["per_round"].append(round(s / len(batch), 2))
                rows[m]["full"] = rows[m]["full"] and full
                rows[m]["loads"].append(_load())
        for row in rows.values():
            row["load"] = statistics.mean(row["loads"])
        if "d" in rows:
            rows["d"]["nbclient_fixed"] = nbclient_fixed_cost(args.timeout)
        split = breakdown(courses_a, args.assignment, results_a) if courses_a else None
        info["load (1 min, at end)"] = f"{_load():.1f}"

    report = format_report(info, rows, args.n, args.jobs, args.assignment, split)
    print(report)
    out = {"machine": info, "n": args.n, "jobs": args.jobs, "assignment": args.assignment, "rows": rows,
           "breakdown": split}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
