"""Print every benchmark table of the course (``make bench``).

1. Schedules: evaluating 10^6 steps with lrlab (vectorized) vs stepping torch's scheduler.
2. Grading: seconds per graded submission vs executing the same notebook with nbclient.
3. Autograder speed: 40 submissions of pac_bayes graded with --jobs 1 and --jobs 2, vs plain
   ``nbgrader autograde`` and vs nbclient alone (the README's table; about an hour on 2 busy cores).
   Run ``python benchmarks/bench_autograde.py --n 4`` for a quick look.
4. Mutation score: per assignment, how many of the plausible wrong answers in ``tests/mutants/``
   the real grader catches, and how many get a message naming the mistake.
5. Solution notebooks: seconds per notebook on the default device (``cuda`` when present), with
   every graded cell checked there (``benchmarks/notebook_timings.md`` holds a GPU run).

Timings are measured here and printed, never asserted in tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_autograde  # noqa: E402
import bench_grading  # noqa: E402
import bench_mutants  # noqa: E402
import bench_notebooks  # noqa: E402
import bench_schedules  # noqa: E402


def main() -> None:
    bench_schedules.main([])
    print()
    bench_grading.main([])
    print()
    bench_autograde.main([])
    print()
    bench_mutants.main([])
    print()
    bench_notebooks.main([])


if __name__ == "__main__":
    main()
