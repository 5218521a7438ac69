"""Mutation score of every assignment: how many plausible wrong answers the real grader catches.

For each assignment, every mutant of ``tests/mutants/<assignment>.py`` (at least five
plausible wrong implementations per answer cell, see ``tests/mutation.py``) is swapped into
the perfect submission and graded by the real grader (sandboxed worker, separate checker).
The table gives, per assignment, the answer cells, the mutants, how many lost points
(killed), how many of those got a message naming the mistake, the graded submissions it
took (several mutants ride in one submission) and the wall time. ``tests/test_mutation.py``
requires 100% in both columns; this script prints the numbers and the survivors by name.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import mutation  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*", help="assignments to run (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="grading processes (default: 2)")
    args = parser.parse_args(argv)
    import autograder

    names = args.assignments or autograder.find_repo(ROOT).assignments()
    print("| assignment | answer cells | mutants | killed | kill rate | message names the mistake | "
          "graded submissions | wall s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    totals = [0, 0, 0, 0, 0, 0.0]
    details = []
    start = time.monotonic()
    for name in names:
        mutants = mutation.load_mutants(name)
        cells = len(mutation.answer_cells(mutation.graded_source(name)))
        report = mutation.run(name, jobs=args.jobs, mutants=mutants)
        named = report.killed - len(report.silent)
        rate = f"{100 * report.killed / len(mutants):.1f}%" if mutants else "n/a"
        print(f"| {name} | {cells} | {len(mutants)} | {report.killed} | {rate} | {named} | "
              f"{report.submissions} | {report.seconds:.0f} |", flush=True)
        for i, v in enumerate((cells, len(mutants), report.killed, named, report.submissions, report.seconds)):
            totals[i] += v
        if report.survivors or report.silent or report.problems:
            details.append(mutation.format_report(report))
    cells, n, killed, named, subs, _ = totals
    rate = f"{100 * killed / n:.1f}%" if n else "n/a"
    print(f"| **all** | {cells} | {n} | {killed} | {rate} | {named} | {subs} | {time.monotonic() - start:.0f} |")
    for text in details:
        print()
        print(text)
    return 1 if details else 0


if __name__ == "__main__":
    raise SystemExit(main())
