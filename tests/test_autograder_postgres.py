"""The PostgreSQL gradebook (``--db postgresql://...``), against a live server.

Several graders can share one class by pointing ``--db`` at one PostgreSQL
database. These tests need a server and a role that may create databases, named
by ``LRLAB_TEST_PG_URL`` (e.g. ``postgresql://lrlab_test:lrlab_test@127.0.0.1:5432/postgres``);
``.ci/run`` installs Debian's ``postgresql``, starts it and sets the variable.
Without it they skip (fail under ``LRLAB_STRICT_SYSTEM=1``), saying what to do.

Each test grades into a fresh database with a unique name, made through the
driver and dropped afterwards. The submissions are the toy assignment's
(tests/fixtures/toyrepo, max 4 points: perfect 4, half-done 1, untouched release
0, malformed JSON 0 and "failed"); see ``test_autograder_grading.py``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest

import autograder
from autograder.layout import AutograderError, normalize_db_url, open_course

pytestmark = pytest.mark.xdist_group("postgres")

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "tests" / "fixtures" / "toyrepo"
MAX = 4.0
PG_URL_VAR = "LRLAB_TEST_PG_URL"
SETUP_HINT = (
    "install Debian's postgresql (apt-get install postgresql), start it (pg_ctlcluster <version> main start), "
    "make a role that may create databases and set "
    f"{PG_URL_VAR}=postgresql://USER:PASSWORD@127.0.0.1:5432/postgres; `bash .ci/run` does all of this"
)
#: What the toy submissions score: (student, score, status).
EXPECTED = [("blank", 0.0, "graded"), ("broken", 0.0, "failed"), ("half", 1.0, "graded"), ("perfect", MAX, "graded")]
MALFORMED = '{\n "cells": [\n  {"cell_type": oops\n'


def require_postgres() -> str:
    """The admin URL from ``LRLAB_TEST_PG_URL``; skip (fail when strict) if unset, fail if unusable."""
    url = os.environ.get(PG_URL_VAR, "").strip()
    if not url:
        message = f"{PG_URL_VAR} is not set, so there is no PostgreSQL server to test against: {SETUP_HINT}"
        if os.environ.get("LRLAB_STRICT_SYSTEM") == "1":
            pytest.fail(message + " (LRLAB_STRICT_SYSTEM=1 makes this a failure)")
        pytest.skip(message)
    import psycopg2

    try:
        psycopg2.connect(url, connect_timeout=10).close()
    except psycopg2.Error as exc:
        pytest.fail(f"{PG_URL_VAR} is set but the server cannot be reached with it ({exc}); {SETUP_HINT}")
    return url


def _admin(url: str, sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=10)
    try:
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@contextlib.contextmanager
def temporary_database(admin_url: str):
    """A new database with a unique name, as a plain ``postgresql://`` URL; dropped on exit."""
    from sqlalchemy.engine import make_url

    name = f"lrlab_test_{uuid.uuid4().hex[:16]}"
    _admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        # FORCE (PostgreSQL 13+) ends connections a crashed grader may have left open.
        _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def pg_server() -> str:
    """The admin URL of the test server (skips or fails when there is none)."""
    return require_postgres()


@pytest.fixture()
def pg_db(pg_server):
    """A fresh database for one test, dropped afterwards."""
    with temporary_database(pg_server) as url:
        yield url


def query(url: str, sql: str) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A released copy of the toy repository and its four kinds of submission."""
    root = tmp_path_factory.mktemp("toy") / "repo"
    shutil.copytree(TOY, root)
    autograder.release(repo=root)
    source = root / "solutions" / "toy" / "toy.ipynb"
    release = nbformat.read(root / "exercises" / "toy" / "toy.ipynb", as_version=4)
    return {
        "root": root,
        "notebooks": {
            "perfect": autograder.perfect_submission(source, release),
            "half": autograder.half_done_submission(source, release),
            "blank": release,
            "broken": MALFORMED,
        },
    }


def write(toy, folder: Path, students) -> Path:
    for student in students:
        autograder.write_submission(folder, student, "toy", "toy", toy["notebooks"][student])
    return folder


def outcome(results) -> list[tuple]:
    return [(r.student_id, r.score, r.status) for r in results]


@pytest.fixture(scope="module")
def serial(toy, pg_server, tmp_path_factory):
    """The four submissions graded one at a time into a fresh database (kept for this module's tests)."""
    tmp = tmp_path_factory.mktemp("serial")
    with temporary_database(pg_server) as db:
        subs = write(toy, tmp / "subs", ["perfect", "half", "blank", "broken"])
        results = autograder.grade_submissions(subs, repo=toy["root"], course_dir=tmp / "course", db=db,
                                               progress=False)
        yield {"db": db, "subs": subs, "course": tmp / "course", "results": results}


# --------------------------------------------------------------------------- URL forms (no server needed)


@pytest.mark.parametrize("given, expected", [
    ("postgresql://u:pw@127.0.0.1:5432/ml101", "postgresql+psycopg2://u:pw@127.0.0.1:5432/ml101"),
    ("postgres://u:pw@db.example.org/ml101", "postgresql+psycopg2://u:pw@db.example.org/ml101"),
    ("postgresql:///ml101?host=/var/run/postgresql", "postgresql+psycopg2:///ml101?host=/var/run/postgresql"),
    ("postgresql+psycopg2://u@h/ml101", "postgresql+psycopg2://u@h/ml101"),
    ("sqlite:////tmp/c/g.db", "sqlite:////tmp/c/g.db?timeout=60"),
    ("sqlite:////tmp/c/g.db?timeout=5", "sqlite:////tmp/c/g.db?timeout=5"),
])
def test_db_url_forms(given, expected, tmp_path):
    assert normalize_db_url(given) == expected
    course = open_course(TOY, tmp_path / "course", given)
    assert course.db_url == expected


def test_missing_driver_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # import psycopg2 now raises ImportError
    with pytest.raises(AutograderError, match=r"needs the Python driver 'psycopg2'.*install psycopg2-binary") as err:
        normalize_db_url("postgresql://grader:s3cret@127.0.0.1/ml101")
    assert "s3cret" not in str(err.value)  # passwords stay out of messages


def test_an_unparsable_postgres_url_is_explained():
    with pytest.raises(AutograderError, match=r"is not a database URL SQLAlchemy understands") as err:
        normalize_db_url("postgresql://grader:s3cret@127.0.0.1:notaport/ml101")
    assert "s3cret" not in str(err.value) and "postgresql://user:password@host:5432/dbname" in str(err.value)


# --------------------------------------------------------------------------- against the server


@pytest.mark.slow
def test_grade_into_postgres_then_export(toy, serial):
    assert outcome(serial["results"]) == EXPECTED
    assert {r.max_score for r in serial["results"]} == {MAX}
    broken = {r.student_id: r for r in serial["results"]}["broken"]
    assert "broken/toy/toy.ipynb is not valid JSON (line 3)" in broken.note
    # The grades are in PostgreSQL, not in an SQLite file next to the course.
    assert not (serial["course"] / "gradebook.db").exists()
    assert query(serial["db"], "SELECT id FROM student ORDER BY id") == [
        ("blank",), ("broken",), ("half",), ("perfect",)]
    assert query(serial["db"], "SELECT name FROM assignment") == [("toy",)]

    rows = autograder.export_grades(repo=toy["root"], course_dir=serial["course"], db=serial["db"])
    assert [(r["student_id"], float(r["score"]), r["status"]) for r in rows] == EXPECTED
    assert {(r["assignment"], r["max_score"]) for r in rows} == {("toy", "4.0")}
    assert [r["note"] for r in rows if r["student_id"] != "broken"] == ["", "", ""]


@pytest.mark.slow
def test_parallel_grading_gives_the_same_grades_as_serial(toy, serial, pg_db, tmp_path):
    db = pg_db
    subs = write(toy, tmp_path / "subs", ["perfect", "half", "blank", "broken"])
    results = autograder.grade_submissions(
        subs, repo=toy["root"], course_dir=tmp_path / "course", db=db, jobs=2, progress=False)
    assert outcome(results) == outcome(serial["results"]) == EXPECTED
    notes = lambda results, subs: [r.note.replace(os.fspath(subs), "SUBS") for r in results]  # noqa: E731
    assert notes(results, subs) == notes(serial["results"], serial["subs"])
    parallel_rows = autograder.export_grades(repo=toy["root"], course_dir=tmp_path / "course", db=db)
    serial_rows = autograder.export_grades(repo=toy["root"], course_dir=serial["course"], db=serial["db"])
    strip = lambda rows: [{k: v for k, v in r.items() if k != "note"} for r in rows]  # noqa: E731
    assert strip(parallel_rows) == strip(serial_rows)


def run_cli(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "autograder", *map(str, args)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish(proc: subprocess.Popen, timeout=600) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    return out


@pytest.mark.slow
def test_two_graders_share_one_class_through_the_cli(toy, pg_db, tmp_path):
    """Two machines (two course dirs) grade different students at the same time into one database."""
    db = pg_db
    machines = {}
    for machine, students in (("a", ["perfect", "broken"]), ("b", ["half", "blank"])):
        subs = write(toy, tmp_path / machine / "subs", students)
        machines[machine] = run_cli("grade", subs, "--repo", toy["root"], "--course-dir", tmp_path / machine / "course",
                                    "--db", db, "--no-progress")
    table_a, table_b = (finish(machines[m]).split("\n\n")[0].splitlines()[2:] for m in "ab")
    assert [line.split()[:3] for line in table_a] == [["broken", "toy", "0"], ["perfect", "toy", "4"]]
    assert [line.split()[:3] for line in table_b] == [["blank", "toy", "0"], ["half", "toy", "1"]]
    for machine in "ab":
        assert not (tmp_path / machine / "course" / "gradebook.db").exists()

    # Either machine's export sees the whole class.
    for machine in "ab":
        out = finish(run_cli("export", "--repo", toy["root"], "--course-dir", tmp_path / machine / "course",
                             "--db", db))
        lines = out.splitlines()
        assert lines[0] == ",".join(autograder.CSV_COLUMNS)
        assert [tuple(line.split(",")[:4]) for line in lines[1:]] == [
            ("blank", "toy", "0.0", "4.0"), ("broken", "toy", "0.0", "4.0"),
            ("half", "toy", "1.0", "4.0"), ("perfect", "toy", "4.0", "4.0")]
    assert query(db, "SELECT count(*) FROM submitted_assignment") == [(4,)]


@pytest.mark.slow
def test_another_machine_sees_why_a_submission_failed(toy, pg_db, tmp_path):
    subs = write(toy, tmp_path / "subs", ["broken"])
    autograder.grade_submissions(subs, repo=toy["root"], course_dir=tmp_path / "a", db=pg_db, progress=False)
    [row] = autograder.export_grades(repo=toy["root"], course_dir=tmp_path / "b", db=pg_db)
    assert (row["student_id"], float(row["score"])) == ("broken", 0.0)
    assert row["status"] == "failed" and "is not valid JSON (line 3)" in row["note"]
