"""Command line: ``python -m autograder {release,check,grade,export,feedback,validate,lab,bundle}``."""

from __future__ import annotations

import argparse
import os
import sys
from textwrap import dedent

from .layout import AutograderError

__all__ = ["main", "build_parser"]

_FMT = argparse.RawDescriptionHelpFormatter

_TOOL_EPILOG = dedent(
    """\
    Example (the instructors' workflow):
      python -m autograder release                  # solutions/ -> exercises/ (commit it)
      python -m autograder check                    # CI: exercises/ up to date, nothing leaks
      python -m autograder grade submissions/ --jobs 2
      python -m autograder export -o grades.csv
      python -m autograder feedback --assignment schedules
      python -m autograder report --assignment schedules
    Students' self-check of one notebook (visible tests only):
      python -m autograder validate exercises/schedules/schedules.ipynb
    Students' JupyterLab with the assignment list (make lab), and downloads:
      python -m autograder lab
      python -m autograder bundle schedules

    Sources live in solutions/<assignment>/<notebook>.ipynb (nbgrader source
    notebooks); grading state (gradebook.db, submitted/, autograded/, feedback/)
    lives in the course directory, .course/ at the repository root unless
    --course-dir says otherwise. Exit status: 0 on success, 1 when something
    needs fixing (the message says what), 2 for a usage error.
    """
)


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument("--repo", metavar="DIR", help="repository root (holds solutions/ and exercises/); "
                       "default: found from the current directory")
    group.add_argument("--course-dir", metavar="DIR", help="course directory for the gradebook, submitted/, "
                       "autograded/ and feedback/ (default: <repo>/.course)")
    group.add_argument("--db", metavar="URL", help="gradebook database URL (default: "
                       "sqlite:///<course-dir>/gradebook.db)")
    group.add_argument("-v", "--verbose", action="store_true", help="show nbgrader's and traitlets' log")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m autograder``."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Release, check and grade the course's nbgrader assignments.",
        epilog=_TOOL_EPILOG,
        formatter_class=_FMT,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "release", parents=[common], formatter_class=_FMT,
        help="regenerate exercises/ from solutions/",
        description="Regenerate the student notebooks exercises/<assignment>/ from the nbgrader sources "
                    "solutions/<assignment>/ (nbgrader generate_assignment). Solutions, hidden tests and "
                    "outputs are stripped; the result is deterministic, so re-running it leaves git diff clean.",
        epilog=dedent("""\
            Examples:
              python -m autograder release                 # every assignment
              python -m autograder release schedules       # just one
            """),
    )
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="assignments to release (default: all)")

    p = sub.add_parser(
        "check", parents=[common], formatter_class=_FMT,
        help="fail if exercises/ is out of date or leaks solutions",
        description="Regenerate the release into a temporary folder and compare it byte for byte with "
                    "exercises/; scan exercises/ for the BEGIN/END SOLUTION and HIDDEN TESTS markers and for "
                    "non-trivial lines from inside those regions of the sources. Exit 1 with the list of "
                    "problems, 0 when exercises/ is up to date.",
        epilog=dedent("""\
            Example (in CI, or before committing):
              python -m autograder check || python -m autograder release
            """),
    )

    p = sub.add_parser(
        "grade", parents=[common], formatter_class=_FMT,
        help="autograde a folder (or .zip) of submissions",
        description="Autograde every <student_id>/<assignment>/<notebook>.ipynb in SUBMISSIONS into nbgrader's "
                    "gradebook. Each notebook is rebuilt on the instructor's skeleton (test cells always come "
                    "from solutions/), the tests run in a trusted checker process, and the student's code runs "
                    "in a separate sandboxed process (bubblewrap: no network, no access to solutions/, the "
                    "gradebook or other submissions; memory, process and time limits). A bad submission "
                    "(invalid JSON, empty file, missing notebook, endless loop, crash, exit) loses only the "
                    "points it deserves, with a note, and the batch goes on. Prints a summary table; exit 0 "
                    "when every submission was handled (a score of 0 is still graded).",
        epilog=dedent("""\
            Examples:
              python -m autograder grade submissions/
              python -m autograder grade submissions.zip --assignment schedules --jobs 2 --timeout 120
            Layout:
              submissions/alice/schedules/schedules.ipynb
              submissions/bob/schedules/schedules.ipynb
            Also understood as downloaded: a zip of per-student zips, Moodle's
            <Name>_<n>_assignsubmission_file_/ folders, and Canvas's flat download
            (<name>_[late_]<user id>_<id>_<file>; the newest upload of each file is graded,
            `late` is kept). Two copies of one submission: the newest is graded and the row
            is marked for review. Notes name files from SUBMISSIONS as you typed it, or from
            its own name when it is absolute or climbs with ../ (so notes never hold ../).
            Regrading the same folder replaces the earlier automatic grades and gives the same scores.
            """),
    )
    p.add_argument("submissions", metavar="SUBMISSIONS", help="folder laid out <student_id>/<assignment>/"
                   "<notebook>.ipynb, or a .zip of one")
    p.add_argument("--assignment", metavar="A", help="grade only this assignment")
    p.add_argument("--jobs", "-j", type=int, default=1, metavar="N", help="submissions graded at once on this "
                   "machine with --executor local (default 1; keep it at or below the cores); ignored with "
                   "--executor dask://..., where the workers' slots decide")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="per-cell time limit (default 60): a cell still running is stopped, with the "
                        "student's whole process group, and scores 0")
    p.add_argument("--submission-timeout", type=float, default=None, metavar="SECONDS",
                   help="time limit for one notebook as a whole (default 900); cells not reached score 0")
    p.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto",
                   help="isolation of student code: bwrap (bubblewrap), none (limits only, no file or network "
                        "isolation), auto (bwrap when installed; default)")
    p.add_argument("--memory-mb", type=int, default=4096, metavar="MIB",
                   help="address-space limit of the student's process (default 4096)")
    p.add_argument("--max-processes", type=int, default=256, metavar="N",
                   help="processes and threads the student's code may have (default 256)")
    p.add_argument("--executor", default="local", metavar="WHERE",
                   help="where submissions are graded: local (this machine, --jobs at once; default) or "
                        "dask://HOST:PORT (the workers of the Dask scheduler at that address, started with `dask "
                        "scheduler` and `dask worker ... --nthreads 1`; see the instructors' guide, 'Grading on "
                        "several machines'); either way only this command writes the gradebook")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser(
        "export", parents=[common], formatter_class=_FMT,
        help="write the grades as CSV",
        description="Write one CSV row per (student, assignment) of the gradebook with the columns "
                    "student_id,assignment,score,max_score,status,late,review,integrity,note. A submission "
                    "that failed to grade has score 0 and a note; one never handed in has status 'missing'. "
                    "--wide writes one row per student instead (a column per assignment and a total), "
                    "--format canvas the CSV that Canvas's gradebook import reads. Writes to standard "
                    "output unless -o is given.",
        epilog=dedent("""\
            Examples:
              python -m autograder export                   # CSV on stdout
              python -m autograder export -o grades.csv
              python -m autograder export --wide -o grades-wide.csv
              python -m autograder export --format canvas -o canvas-import.csv
            """),
    )
    p.add_argument("-o", "--output", metavar="FILE", default="-", help="output file (default: - for stdout)")
    p.add_argument("--assignment", metavar="A", help="export only this assignment")
    p.add_argument("--format", dest="shape", choices=("rows", "wide", "canvas"), default=None,
                   help="rows: one per student and assignment (default); wide: one per student, a column per "
                        "assignment and a total; canvas: Canvas's gradebook import (Grades > Import)")
    p.add_argument("--wide", action="store_true", help="the same as --format wide")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (shown on standard error for "
                   "large classes)")

    p = sub.add_parser(
        "feedback", parents=[common], formatter_class=_FMT,
        help="write per-student HTML feedback",
        description="Run nbgrader generate_feedback for the autograded submissions and print where each HTML "
                    "file went (<course-dir>/feedback/<student>/<assignment>/<notebook>.html).",
        epilog=dedent("""\
            Examples:
              python -m autograder feedback
              python -m autograder feedback --assignment schedules --student alice
            """),
    )
    p.add_argument("--assignment", metavar="A", help="only this assignment")
    p.add_argument("--student", metavar="S", help="only this student")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser(
        "report", parents=[common], formatter_class=_FMT,
        help="per-question report of a graded class, with a histogram of totals",
        description="Read the gradebook and print, for every graded cell of an assignment, the class's mean "
                    "score, the share of students with full marks and the most common failure message, so "
                    "you see which question the class got wrong; and draw a histogram of the totals.",
        epilog=dedent("""\
            Examples:
              python -m autograder report --assignment schedules
              python -m autograder report --assignment schedules --figure totals.png
            """),
    )
    p.add_argument("--assignment", metavar="A", help="the assignment (default: the only graded one)")
    p.add_argument("--figure", metavar="FILE.png", help="where to write the histogram of totals "
                   "(default: <course-dir>/reports/<assignment>-totals.png)")

    p = sub.add_parser(
        "validate", formatter_class=_FMT,
        help="students: run a notebook's visible tests and report each graded cell",
        description="Run your saved notebook as the grader will, with the grader's own engine (your code in "
                    "one process, the tests in another; the test cells as released, restored where you "
                    "edited them; the course's reference modules refused; sandboxed where bubblewrap is "
                    "installed), in a temporary copy of its folder, and print, for every graded test cell, "
                    "PASS or FAIL, the points at stake and the test's message. Visible tests only: hidden "
                    "tests are added when your instructor grades. Exit 0 when every visible test passes, 1 "
                    "otherwise.",
        epilog=dedent("""\
            Example:
              python -m autograder validate exercises/schedules/schedules.ipynb
            """),
    )
    p.add_argument("notebook", metavar="PATH.ipynb", help="your notebook")
    p.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                   help="per-cell time limit (default 120)")

    p = sub.add_parser(
        "lab", formatter_class=_FMT,
        help="students: open JupyterLab in workspace/ with every assignment offered (what `make lab` runs)",
        description="Prepare workspace/ (ignored by git) and open JupyterLab there. nbgrader's student "
                    "extensions are set up on a local exchange: the Assignments tab lists every released "
                    "assignment in course order, Fetch copies one into workspace/<assignment>/ (exercises/ "
                    "stays untouched), the Validate button runs a notebook's visible tests, and Submit leaves "
                    "a time-stamped copy in workspace/.exchange/. Only student tools are on: no Formgrader, "
                    "Create Assignment, Course List or Fetch Feedback. Jupyter's configuration for the lab is "
                    "workspace/.jupyter/ (JUPYTER_CONFIG_DIR). Arguments after the options go to `jupyter lab`.",
        epilog=dedent("""\
            Examples:
              make lab                                   # the same as the next line, with the course's .venv
              python -m autograder lab
              python -m autograder lab --no-browser --port 8890
            """),
    )
    p.add_argument("--workspace", metavar="DIR", help="where JupyterLab opens (default: <repo>/workspace)")
    p.add_argument("--repo", metavar="DIR", help="repository root (default: found from the current directory)")

    p = sub.add_parser(
        "bundle", formatter_class=_FMT,
        help="students/instructors: zip an assignment with what it needs outside the repository",
        description="Write <assignment>.zip: the released notebook, the lrlab helpers it imports (the modules "
                    "that solve it replaced by stubs that say so), the autograder's self-check, a "
                    "requirements.txt of only the packages these import (and JupyterLab), pinned as the course "
                    "pins them, and a README.txt with the steps (torch's CPU wheel first). The book links one "
                    "per assignment.",
        epilog=dedent("""\
            Examples:
              python -m autograder bundle schedules --dest dist/
              python -m autograder bundle            # every released assignment, into _build/bundles/
            """),
    )
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="assignments to bundle (default: all released)")
    p.add_argument("--dest", metavar="DIR", help="folder for the zips (default: <repo>/_build/bundles)")
    p.add_argument("--repo", metavar="DIR", help="repository root (default: found from the current directory)")
    return parser


def _run(args: argparse.Namespace) -> int:
    # The students' commands first, without nbgrader: an assignment's download ships only what
    # `validate` imports (autograder.student.bundle.bundle_modules).
    if args.command == "validate":
        from .student.validate import format_report, validate_notebook

        checks = validate_notebook(args.notebook, timeout=args.timeout)
        print(format_report(args.notebook, checks))
        return 0 if all(c.passed for c in checks) else 1

    if args.command == "lab":
        from .student.lab import prepare_workspace

        ws = prepare_workspace(repo=args.repo, root=args.workspace)
        print(f"workspace: {ws.root} ({len(ws.assignments)} assignments offered in the Assignments tab)")
        jupyter = os.path.join(os.path.dirname(sys.executable), "jupyter")
        argv = [jupyter if os.path.exists(jupyter) else "jupyter", "lab", f"--ServerApp.root_dir={ws.root}",
                *[a for a in args.jupyter_args if a != "--"]]
        if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in argv:
            argv.append("--allow-root")  # a container's root user; Jupyter refuses root without it
        os.chdir(ws.root)
        # nbgrader_config.py, the student-only extensions and settings live in <workspace>/.jupyter
        os.environ["JUPYTER_CONFIG_DIR"] = str(ws.config_dir)
        os.execvp(argv[0], argv)

    if args.command == "bundle":
        from .layout import find_repo
        from .student.bundle import make_bundle

        repo = find_repo(args.repo)
        names = args.assignments or sorted(
            p.name for p in (repo.root / "exercises").iterdir() if p.is_dir() and any(p.glob("*.ipynb"))
        )
        for name in names:
            print(f"wrote {os.path.relpath(make_bundle(name, repo=repo, dest=args.dest))}")
        return 0

    from .instructor import gradebook, grading
    from .instructor.release import check, release

    common = dict(repo=args.repo)
    if args.command == "release":
        written = release(args.assignments or None, verbose=args.verbose, **common)
        for path in written:
            print(f"wrote {os.path.relpath(path)}")
        return 0

    if args.command == "check":
        problems = check(verbose=args.verbose, **common)
        if problems:
            print(f"exercises/ has {len(problems)} problem(s):", file=sys.stderr)
            for problem in problems:
                print(f"  - {problem}", file=sys.stderr)
            print("Run `python -m autograder release` to regenerate exercises/ from solutions/ "
                  "(and never edit exercises/ by hand).", file=sys.stderr)
            return 1
        print("exercises/ is up to date with solutions/ and carries no solution or hidden-test code.")
        return 0

    common.update(course_dir=args.course_dir, db=args.db)
    if args.command == "grade":
        timeout = grading.DEFAULT_TIMEOUT if args.timeout is None else args.timeout
        whole = grading.DEFAULT_SUBMISSION_TIMEOUT if args.submission_timeout is None else args.submission_timeout
        results = grading.grade_submissions(
            args.submissions, assignment=args.assignment, jobs=args.jobs, timeout=timeout,
            submission_timeout=whole, sandbox=args.sandbox, memory_mb=args.memory_mb,
            max_processes=args.max_processes, verbose=args.verbose, progress=not args.no_progress,
            executor=args.executor, **common,
        )
        print(gradebook.format_table(results))
        counts = {}
        for r in results:
            counts[r.status] = counts.get(r.status, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        marks = [(sum(1 for r in results if has(r)), what) for has, what in (
            (lambda r: r.late, "late"), (lambda r: r.review, "to review"),
            (lambda r: r.integrity, "with an integrity flag"))]
        marked = "".join(f"; {n} {what}" for n, what in marks if n)
        print(f"\n{len(results)} submission(s): {summary}{marked}. "
              "Export with `python -m autograder export -o grades.csv`.")
        return 0

    if args.command == "export":
        if args.wide and args.shape not in (None, "wide"):
            raise AutograderError(f"--wide and --format {args.shape} ask for two shapes: pass one of them")
        shape = "wide" if args.wide else args.shape or "rows"
        rows = gradebook.export_grades(args.output, assignment=args.assignment, shape=shape,
                                       progress=not args.no_progress, **common)
        if args.output != "-":
            print(f"wrote {len(rows)} row(s) to {args.output}", file=sys.stderr)
        return 0

    if args.command == "feedback":
        files, problems = gradebook.generate_feedback(
            assignment=args.assignment, student=args.student, verbose=args.verbose,
            progress=not args.no_progress, **common
        )
        for path in files:
            print(f"feedback: {os.path.relpath(path)}")
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1 if problems else 0
    if args.command == "report":
        from .instructor.report import class_report, format_report

        report = class_report(assignment=args.assignment, figure=args.figure, **common)
        print(format_report(report))
        return 0
    raise AssertionError(args.command)  # pragma: no cover


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 when something needs fixing, 2 for usage errors.
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "lab":
        args.jupyter_args = extra  # options for `jupyter lab`, in their order
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "lab" and not extra:
        args.jupyter_args = []
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if getattr(args, "jobs", 1) is not None and getattr(args, "jobs", 1) < 1:
        parser.error(f"--jobs must be >= 1, got --jobs {args.jobs}")
    if getattr(args, "timeout", None) is not None and not args.timeout > 0:
        parser.error(f"--timeout must be a positive number of seconds, got --timeout {args.timeout:g}")
    if getattr(args, "submission_timeout", None) is not None and not args.submission_timeout > 0:
        parser.error("--submission-timeout must be a positive number of seconds, got "
                     f"--submission-timeout {args.submission_timeout:g}")
    from .instructor._nbgrader import skip_slow_optional_imports

    skip_slow_optional_imports()
    try:
        return _run(args)
    except AutograderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
