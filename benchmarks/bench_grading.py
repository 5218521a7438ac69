"""Time per graded submission (``autograder grade``) vs executing the same notebook with nbclient.

For each assignment, ``--count`` perfect submissions are graded in one batch in a
fresh course directory (gradebook set-up included, as an instructor would run
it), and the same notebook is executed ``--count`` times with nbclient alone.
The ratio is the autograder's overhead: nbgrader's preprocessing, the
gradebook, restoring hidden tests, and vetting.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder import find_repo, grade_submissions, perfect_submission, write_submission


def time_nbclient(nb, count: int, cwd: Path) -> float:
    start = time.perf_counter()
    for _ in range(count):
        NotebookClient(
            nbformat.from_dict(nb), timeout=600, kernel_name="python3",
            extra_arguments=["--IPKernelApp.log_level=ERROR"], resources={"metadata": {"path": str(cwd)}},
        ).execute()
    return (time.perf_counter() - start) / count


def time_grading(repo, assignment: str, notebook_name: str, nb, count: int, jobs: int) -> tuple[float, list]:
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        folder = Path(tmp) / "submissions"
        for i in range(count):
            write_submission(folder, f"student{i:02d}", assignment, notebook_name, nb)
        start = time.perf_counter()
        results = grade_submissions(folder, repo=repo, course_dir=Path(tmp) / "course", assignment=assignment,
                                    jobs=jobs, progress=False)
        return (time.perf_counter() - start) / count, results


def run(count: int = 3, jobs: int = 1) -> list[dict]:
    repo = find_repo()
    rows = []
    for source in sorted((repo.root / "solutions").glob("*/*.ipynb")):
        assignment, name = source.parent.name, source.stem
        nb = perfect_submission(source)
        with tempfile.TemporaryDirectory() as cwd:
            t_exec = time_nbclient(nb, count, Path(cwd))
        t_grade, results = time_grading(repo, assignment, name, nb, count, jobs)
        full = all(r.score == r.max_score for r in results)
        rows.append({"assignment": assignment, "grade_s": t_grade, "exec_s": t_exec, "ratio": t_grade / t_exec,
                     "full_marks": full})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=3, help="submissions per assignment (default 3)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel grading jobs (default 1)")
    args = parser.parse_args(argv)
    rows = run(args.count, args.jobs)
    print(f"Seconds per submission ({args.count} perfect submissions per assignment, --jobs {args.jobs})")
    print(f"{'assignment':<18}{'autograder grade':>18}{'nbclient execute':>18}{'grade / execute':>17}  full marks")
    for r in rows:
        print(f"{r['assignment']:<18}{r['grade_s']:>18.2f}{r['exec_s']:>18.2f}{r['ratio']:>16.2f}x  {r['full_marks']}")


if __name__ == "__main__":
    main()
