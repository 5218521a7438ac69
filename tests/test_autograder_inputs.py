"""Messy inputs (issue #4): student ids, CSV safety, LMS zips, restarts.

What ``test_autograder_grading.py`` already covers is not repeated here (invalid
JSON, an empty file, a renamed notebook, an unknown assignment folder, a wrapper
folder in a zip, grading the same folder twice). Here: non-ASCII and hostile
student ids, the CSV export under spreadsheet-formula and quoting attacks,
learning-management-system exports (zips of per-student zips) with zip-slip and
zip-bomb entries, a notebook outside its folder, an assignment folder without
the notebook, and a grading run killed halfway then restarted.

The toy assignment (tests/fixtures/toyrepo) has one notebook worth 4 points: the
release scores 0, the half-done submission 1, the perfect one 4.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import unicodedata
import zipfile
from pathlib import Path

import nbformat
import pytest

import autograder
from autograder.instructor import inbox as submissions
from autograder.instructor.gradebook import GradeResult, _write_csv, format_table
from autograder.layout import AutograderError, name_problem, valid_name
from autograder.instructor.inbox import discover

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "tests" / "fixtures" / "toyrepo"
MAX = 4.0
NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A released copy of the toy repository and its notebooks, as JSON text."""
    root = tmp_path_factory.mktemp("toy") / "repo"
    shutil.copytree(TOY, root)
    autograder.release(repo=root)
    source = root / "solutions" / "toy" / "toy.ipynb"
    release = root / "exercises" / "toy" / "toy.ipynb"
    return {
        "root": root,
        "perfect": nbformat.writes(autograder.perfect_submission(source, release)),
        "half": nbformat.writes(autograder.half_done_submission(source, release)),
        "blank": release.read_text(encoding="utf-8"),
    }


def make_zip(path: Path, entries: dict, compression=zipfile.ZIP_DEFLATED) -> Path:
    """Write a zip whose entries are ``{name: str | bytes | zipfile.ZipInfo-tuple}``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries.items():
            if isinstance(data, tuple):  # (ZipInfo, content) for links
                zf.writestr(*data)
            else:
                zf.writestr(name, data)
    return path


def zip_bytes(entries: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def symlink_entry(name: str, target: str):
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o120777 << 16
    return (info, target)


def found(folder, known=("toy",)):
    """discover() as {(student, assignment): Submission}."""
    return {(s.student_id, s.assignment): s for s in discover(folder, "subs", list(known))}


# --------------------------------------------------------------------------- student ids


@pytest.mark.parametrize("name", [
    "zoë", "李雷", "José", unicodedata.normalize("NFD", "José"), "Алёна", "Alice Smith_12345",
    "o'brien", "a,b", "=SUM(A1)", "+44", "-minus", "@at", "alice+test", "x" * 128,
])
def test_usable_student_ids(name):
    assert name_problem(name) is None and valid_name(name)


@pytest.mark.parametrize("name, needle", [
    ("", "is empty"),
    ("..", "starts with '.'"),
    (".alice", "starts with '.'"),
    ("a/b", "path separator"),
    ("a\\b", "path separator"),
    ("a\nb", "control"),
    ("a\x00b", "control"),
    ("evil\u202etxt.exe", "control"),
    (" bob", "white space"),
    ("bob ", "white space"),
    ("a[1]", "file pattern"),
    ("star*", "file pattern"),
    ("x" * 129, "129 characters long"),
])
def test_unusable_student_ids_say_why(name, needle):
    problem = name_problem(name)
    assert problem is not None and needle in problem
    assert not valid_name(name)


def test_plus_is_refused_in_assignment_names_only():
    assert valid_name("alice+test") and not valid_name("week+1", kind="assignment")
    assert "'+'" in name_problem("week+1", kind="assignment")


# --------------------------------------------------------------------------- CSV and the summary


HOSTILE = ["=HYPERLINK(\"http://x\",\"y\")", "+44 20", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def test_csv_export_neutralises_formulas_and_round_trips():
    results = [
        GradeResult(sid, "toy", 1.0, MAX, "graded", note)
        for sid, note in zip(
            HOSTILE + ["comma, name", 'quote"d', "zoë"],
            ["", "=cmd|' /C calc'!A0", "a, b", 'say "hi"', "line one\nline two", "\r\n", "-1", "", "@x"],
        )
    ]
    results.append(GradeResult("neg", "toy", -1.5, None, "failed", ""))
    out = io.StringIO(newline="")
    _write_csv(out, [r.row() for r in results])
    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert len(rows) == len(results)  # one record per student, whatever the quoting
    for result, row in zip(results, rows):
        for column in ("student_id", "note"):
            value = getattr(result, column)
            expected = "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
            assert row[column] == expected, column
        assert row["assignment"] == "toy" and row["status"] == result.status
    # Numbers stay numbers (a negative score is not a formula), an absent max_score stays empty.
    assert (rows[-1]["score"], rows[-1]["max_score"]) == ("-1.5", "")
    # No cell of the file starts with a formula character any more.
    for row in rows:
        for column, value in row.items():
            if column not in ("score", "max_score"):
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (column, value)


def test_summary_table_stays_one_line_per_result_and_aligned():
    results = [
        GradeResult("李雷", "toy", 4.0, MAX, "graded", ""),
        GradeResult(unicodedata.normalize("NFD", "José"), "toy", 1.0, MAX, "graded", ""),
        GradeResult("alice", "toy", 0.0, MAX, "failed", "first line\nsecond\tline \x1b[31mred\x1b[0m"),
    ]
    lines = format_table(results).splitlines()
    assert len(lines) == 2 + len(results)
    assert lines[4].endswith("failed  first line second line red")
    # "assignment" starts in the same terminal column on every line (CJK characters are 2 columns wide).
    def column_of(line, text):
        before = line[: line.index(text)]
        return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) == "W" else 1
                   for c in before)
    assert {column_of(line, "toy") for line in lines[2:]} == {column_of(lines[0], "assignment")}


# --------------------------------------------------------------------------- LMS exports and zips


def test_discover_maps_lms_layouts(tmp_path):
    subs = tmp_path / "subs"
    make_zip(subs / "zoë.zip", {"toy/toy.ipynb": NB})                               # <student>.zip
    make_zip(subs / "wrapped.zip", {"wrapped/toy/toy.ipynb": NB})                   # ... holding a folder
    make_zip(subs / "Alice Smith_12345_assignsubmission_file_" / "alice_toy.zip",   # Moodle + any zip
             {"toy/toy.ipynb": NB})
    make_zip(subs / "bob" / "toy.zip", {"toy/toy.ipynb": NB})                       # <student>/<assignment>.zip
    make_zip(subs / "cleo" / "toy.zip", {"toy.ipynb": NB})
    (subs / "Dan_7_assignsubmission_file_").mkdir()                                 # Moodle, notebook uploaded
    (subs / "Dan_7_assignsubmission_file_" / "toy.ipynb").write_text(NB)
    (subs / "eve" / "toy").mkdir(parents=True)                                      # folder and an older zip:
    (subs / "eve" / "toy" / "toy.ipynb").write_text(NB)                             # the folder wins
    make_zip(subs / "eve.zip", {"toy/toy.ipynb": "{}"})
    os.utime(subs / "eve.zip", (1_700_000_000, 1_700_000_000))
    nfd = unicodedata.normalize("NFD", "José")
    (subs / nfd / "toy").mkdir(parents=True)
    (subs / nfd / "toy" / "toy.ipynb").write_text(NB)
    (subs / "__MACOSX").mkdir()

    got = found(subs)
    assert sorted(got) == [(s, "toy") for s in sorted(
        ["zoë", "wrapped", "Alice Smith_12345", "bob", "cleo", "Dan_7", "eve", "José"])]
    for sub in got.values():
        assert (sub.folder / "toy.ipynb").read_text() == NB, sub.student_id
    assert got[("José", "toy")].folder == subs / nfd / "toy"
    assert got[("zoë", "toy")].display == os.path.join("subs", "zoë.zip", "toy")
    assert got[("bob", "toy")].display == os.path.join("subs", "bob", "toy.zip", "toy")
    assert got[("Dan_7", "toy")].problems == [
        f"{os.path.join('subs', 'Dan_7_assignsubmission_file_', 'toy.ipynb')} is not in a toy/ folder: graded "
        f"as if it were {os.path.join('subs', 'Dan_7_assignsubmission_file_', 'toy', 'toy.ipynb')}"
    ]
    assert "subs/eve.zip/toy is a second submission of eve's 'toy': ignored it" in got[("eve", "toy")].problems[0]
    assert "the newer copy" in got[("eve", "toy")].problems[0] and "2023-11-14" in got[("eve", "toy")].problems[0]
    assert got[("eve", "toy")].review == "2 copies, graded the newest"
    assert all(not s.problems and not s.review for k, s in got.items() if k[0] not in ("Dan_7", "eve"))


def test_discover_names_a_misnamed_loose_notebook_and_prefers_what_unpacks(tmp_path):
    (tmp_path / "ren").mkdir()
    (tmp_path / "ren" / "toy (1).ipynb").write_text(NB)
    make_zip(tmp_path / "dup.zip", {"toy/toy.ipynb": NB})          # good, found second
    make_zip(tmp_path / "dup" / "toy.zip", {"../toy.ipynb": NB})   # refused, found first
    got = found(tmp_path)
    ren = got[("ren", "toy")]
    assert ren.problems == ["subs/ren has no toy/ folder, only toy (1).ipynb"]
    assert [p.name for p in ren.folder.iterdir()] == ["toy (1).ipynb"]  # so the grade note says "rename it"
    dup = got[("dup", "toy")]
    assert (dup.folder / "toy.ipynb").read_text() == NB and dup.display == "subs/dup.zip/toy"
    assert dup.problems == [
        "subs/dup/toy.zip is a second submission of dup's 'toy': ignored it and graded subs/dup.zip/toy, "
        "the one that could be unpacked; check that it is the right one"
    ]
    assert dup.review == "2 copies, graded the one that could be unpacked"
    # With several assignments there is no telling which one a stray notebook is for: nothing is invented.
    assert ("ren", "toy") not in found(tmp_path, known=("toy", "other"))


def test_discover_looks_through_a_wrapper_around_student_zips(tmp_path):
    make_zip(tmp_path / "export" / "alice.zip", {"toy/toy.ipynb": NB})
    make_zip(tmp_path / "export" / "bob.zip", {"toy/toy.ipynb": NB})
    got = found(tmp_path)
    assert sorted(got) == [("alice", "toy"), ("bob", "toy")]
    assert got[("alice", "toy")].display == os.path.join("subs", "export", "alice.zip", "toy")


def test_unpacked_inner_zips_live_as_long_as_the_submissions(tmp_path):
    make_zip(tmp_path / "alice.zip", {"toy/toy.ipynb": NB})
    subs = discover(tmp_path, "subs", ["toy"])
    folder = subs[0].folder
    assert folder.is_dir() and tmp_path not in folder.parents
    del subs
    import gc

    gc.collect()
    assert not folder.exists()


def test_zip_names_from_old_tools_decode_to_the_right_student(tmp_path):
    """A zip without the UTF-8 flag (old Windows tools) stores UTF-8 bytes Python reads as cp437."""
    placeholder = "zoXX"  # as many bytes as "zoë" in UTF-8, ASCII so no UTF-8 flag is set
    assert len(placeholder) == len("zoë".encode())
    data = zip_bytes({f"{placeholder}/toy/toy.ipynb": NB}).replace(placeholder.encode(), "zoë".encode())
    (tmp_path / "subs.zip").write_bytes(data)
    assert not zipfile.ZipFile(tmp_path / "subs.zip").infolist()[0].flag_bits & 0x800
    target = autograder.extract_zip(tmp_path / "subs.zip", tmp_path / "out")
    assert [s.student_id for s in discover(target, "subs", ["toy"])] == ["zoë"]


@pytest.mark.parametrize("entries, needle", [
    ({"toy/toy.ipynb": NB, "../escape.ipynb": NB}, "would land outside the target folder"),
    ({"/abs/toy/toy.ipynb": NB}, "would land outside the target folder"),
    ({"toy/../../escape.ipynb": NB}, "would land outside the target folder"),
    ({"toy/toy.ipynb": symlink_entry("toy/toy.ipynb", "/etc/passwd")}, "is a symbolic link"),
    ({"toy/toy.ipynb": NB, "toy/deeper.zip": zip_bytes({"toy.ipynb": NB})}, "unpacked one level deep only"),
    ({"toy/toy.ipynb": b"\0" * (40 * 2**20)}, "looks like a zip bomb"),
])
def test_a_bad_student_zip_is_refused_with_a_note_and_the_others_are_found(tmp_path, entries, needle):
    subs = tmp_path / "subs"
    make_zip(subs / "mallory.zip", entries)
    make_zip(subs / "alice.zip", {"toy/toy.ipynb": NB})
    (subs / "bob" / "toy").mkdir(parents=True)
    (subs / "bob" / "toy" / "toy.ipynb").write_text(NB)
    got = found(subs)
    assert sorted(got) == [("alice", "toy"), ("bob", "toy"), ("mallory", "toy")]
    bad = got[("mallory", "toy")]
    assert len(bad.problems) == 1 and needle in bad.problems[0]
    assert bad.problems[0].startswith("refusing to unpack subs/mallory.zip") and bad.problems[0].endswith("graded as 0")
    assert list(bad.folder.iterdir()) == []  # nothing of it unpacked
    assert not (tmp_path / "escape.ipynb").exists() and not (subs / "escape.ipynb").exists()
    assert (got[("alice", "toy")].folder / "toy.ipynb").read_text() == NB


def test_zip_bomb_limits_on_student_zips(tmp_path, monkeypatch):
    subs = tmp_path / "subs"
    make_zip(subs / "many.zip", {f"toy/f{i}.txt": "x" for i in range(30)})
    make_zip(subs / "big" / "toy.zip", {"toy.ipynb": "x" * 5000})
    make_zip(subs / "ok.zip", {"toy/toy.ipynb": NB})
    (subs / "broken.zip").write_bytes(b"PK\x03\x04 this is no zip")
    monkeypatch.setattr(submissions, "MAX_INNER_ZIP_ENTRIES", 20)
    monkeypatch.setattr(submissions, "MAX_INNER_ZIP_BYTES", 4000)
    got = found(subs)
    assert "30 entries (limit 20)" in got[("many", "toy")].problems[0]
    assert "expands to 5000 bytes (limit 4000)" in got[("big", "toy")].problems[0]
    assert "subs/broken.zip is not a readable zip archive" in got[("broken", "toy")].problems[0]
    assert got[("ok", "toy")].problems == []


def test_all_student_zips_together_share_one_budget(tmp_path, monkeypatch):
    for student in ("a", "b", "c"):
        make_zip(tmp_path / f"{student}.zip", {"toy/toy.ipynb": "x" * 1000})
    monkeypatch.setattr(submissions, "MAX_ZIP_BYTES", 2500)
    got = found(tmp_path)
    assert [got[(s, "toy")].problems for s in ("a", "b")] == [[], []]
    assert "expands to 1000 bytes (limit 500)" in got[("c", "toy")].problems[0]


@pytest.mark.parametrize("limit, value, make, needle", [
    ("MAX_ZIP_ENTRIES", 10, lambda: {f"s{i}/toy/toy.ipynb": NB for i in range(11)}, "11 entries (limit 10)"),
    ("MAX_ZIP_BYTES", 100, lambda: {"alice/toy/toy.ipynb": "x" * 101}, "expands to 101 bytes (limit 100)"),
    (None, None, lambda: {"alice/toy/toy.ipynb": b"\0" * (40 * 2**20)}, "more than 100 times"),
])
def test_a_zip_bomb_as_the_submissions_archive_is_refused_whole(tmp_path, monkeypatch, limit, value, make, needle):
    if limit:
        monkeypatch.setattr(submissions, limit, value)
    archive = make_zip(tmp_path / "subs.zip", make())
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(AutograderError, match="looks like a zip bomb") as info:
        autograder.extract_zip(archive, target)
    assert needle in str(info.value)
    assert list(target.iterdir()) == []


# --------------------------------------------------------------------------- Canvas, duplicates (issue #12)


def nb_saying(text: str) -> str:
    """A minimal notebook whose one markdown cell says ``text`` (to tell copies apart)."""
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)]))


def test_discover_reads_canvas_flat_download_keeping_the_newest_upload_and_late_flag(tmp_path):
    """Canvas: <name>_[late_]<user>_<attachment>_<file>, resubmissions as <file>-1, -2, all at the top."""
    subs = tmp_path / "subs"
    subs.mkdir()
    files = {
        "smithalice_1001_5001_toy.ipynb": nb_saying("first"),
        "smithalice_late_1001_5002_toy-1.ipynb": nb_saying("second, late"),
        "smithalice_1001_5000_data.csv": "x,y",
        "jonesbob_1002_5003_toy.ipynb": nb_saying("bob"),
        "jonesbob_1002_5010_toy-2.ipynb": nb_saying("bob again"),
        "jonesbob_1002_5004_toy-1.ipynb": nb_saying("bob in between"),
        "leecarl_1003_5005_toy.ipynb": nb_saying("carl 1003"),
        "leecarl_1004_5006_toy.ipynb": nb_saying("carl 1004"),      # two students, one sortable name
        "davisdan_1005_5007_work.zip": zip_bytes({"toy/toy.ipynb": nb_saying("dan zipped")}),
    }
    for name, data in files.items():
        (subs / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    got = found(subs)
    assert sorted(got) == [("davisdan", "toy"), ("jonesbob", "toy"), ("leecarl_1003", "toy"),
                           ("leecarl_1004", "toy"), ("smithalice", "toy")]
    alice = got[("smithalice", "toy")]
    assert sorted(p.name for p in alice.folder.iterdir()) == ["data.csv", "toy.ipynb"]
    assert "second, late" in (alice.folder / "toy.ipynb").read_text()
    assert (alice.late, alice.lms_id, alice.review) == (True, "1001", "")
    assert alice.problems == ["subs/smithalice_1001_5001_toy.ipynb is an older upload of toy.ipynb than "
                              "subs/smithalice_late_1001_5002_toy-1.ipynb: graded the newest"]
    assert alice.shown("toy.ipynb") == "subs/smithalice_late_1001_5002_toy-1.ipynb"
    bob = got[("jonesbob", "toy")]
    assert "bob again" in (bob.folder / "toy.ipynb").read_text() and not bob.late and len(bob.problems) == 2
    assert [got[(f"leecarl_{u}", "toy")].lms_id for u in ("1003", "1004")] == ["1003", "1004"]
    dan = got[("davisdan", "toy")]
    assert "dan zipped" in (dan.folder / "toy.ipynb").read_text() and dan.lms_id == "1005"
    assert dan.display == "subs/davisdan_1005_5007_work.zip/toy"

    # Inside one wrapper folder, with several assignments: the file names say which one ...
    wrapped = tmp_path / "wrapped" / "submissions"
    wrapped.mkdir(parents=True)
    (wrapped / "smithalice_1001_5001_toy.ipynb").write_text(NB)
    (wrapped / "jonesbob_1002_5003_notes.ipynb").write_text(NB)
    subs_of = {(s.student_id, s.assignment) for s in discover(wrapped.parent, "subs", ["other", "toy"])}
    assert subs_of == {("smithalice", "toy"), ("jonesbob", "notes")}
    # ... or the assignment being graded does, or a notebook's name.
    got = {(s.student_id, s.assignment) for s in discover(wrapped.parent, "subs", ["other", "toy"],
                                                           assignment="toy")}
    assert got == {("smithalice", "toy"), ("jonesbob", "toy")}
    got = {(s.student_id, s.assignment) for s in discover(wrapped.parent, "subs", ["other", "toy"],
                                                           notebooks={"other": ["notes"], "toy": ["toy"]})}
    assert got == {("smithalice", "toy"), ("jonesbob", "other")}


def test_the_newest_of_two_copies_is_graded_and_marked_for_review(tmp_path):
    subs = tmp_path / "subs"
    (subs / "fay" / "toy").mkdir(parents=True)
    (subs / "fay" / "toy" / "toy.ipynb").write_text(nb_saying("the old folder"))
    os.utime(subs / "fay" / "toy" / "toy.ipynb", (1_700_000_000, 1_700_000_000))
    make_zip(subs / "fay.zip", {"toy/toy.ipynb": nb_saying("the later zip")})   # found second, newer
    (subs / "gus" / "toy").mkdir(parents=True)
    (subs / "gus" / "toy" / "toy.ipynb").write_text(nb_saying("gus"))
    got = found(subs)
    fay = got[("fay", "toy")]
    assert "the later zip" in (fay.folder / "toy.ipynb").read_text()
    assert fay.review == "2 copies, graded the newest"
    (note,) = fay.problems
    assert note.startswith("subs/fay/toy is a second submission of fay's 'toy': ignored it and graded "
                           "subs/fay.zip/toy, the newer copy (saved ")
    assert "the other 2023-11-14 22:13:20 UTC" in note
    assert got[("gus", "toy")].review == "" and got[("gus", "toy")].problems == []


def test_unpacking_keeps_the_times_of_the_entries(tmp_path):
    archive = tmp_path / "subs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo("alice/toy/toy.ipynb", date_time=(2024, 3, 1, 12, 0, 0)), NB)
    target = autograder.extract_zip(archive, tmp_path / "out")
    saved = time.localtime((target / "alice" / "toy" / "toy.ipynb").stat().st_mtime)[:6]
    assert saved == (2024, 3, 1, 12, 0, 0)


def test_summary_table_shows_flags_only_when_some_result_has_one():
    plain = [GradeResult("alice", "toy", 4.0, MAX, "graded", "")]
    assert format_table(plain).splitlines()[0].split() == ["student", "assignment", "score", "max_score",
                                                            "status", "note"]
    flagged = plain + [GradeResult("bob", "toy", 3.0, MAX, "graded", "a note", late=True,
                                   review="2 copies, graded the newest", integrity="lrlab.nqm in cell 'double'")]
    lines = format_table(flagged).splitlines()
    assert lines[0].split() == ["student", "assignment", "score", "max_score", "status", "flags", "note"]
    assert lines[3].endswith("late; review: 2 copies, graded the newest; integrity: lrlab.nqm in cell 'double'"
                             "  a note")
    row = flagged[1].row()
    assert (row["late"], row["review"], row["integrity"]) == ("late", "2 copies, graded the newest",
                                                               "lrlab.nqm in cell 'double'")
    assert tuple(row) == autograder.CSV_COLUMNS


@pytest.mark.parametrize("given, shown", [
    ("subs", "subs"), ("subs/", "subs"), ("./term/subs", os.path.join("term", "subs")),
    ("../elsewhere/subs", "subs"), ("term/../../subs.zip", "subs.zip"),
])
def test_notes_name_the_submissions_as_typed_without_climbing(given, shown, tmp_path, monkeypatch):
    from autograder.instructor.grading import _display_root

    monkeypatch.chdir(tmp_path)
    assert _display_root(Path(given)) == shown
    assert _display_root(tmp_path / "abs" / "subs") == "subs"


# --------------------------------------------------------------------------- whole batches


@pytest.mark.slow
def test_an_lms_export_with_messy_names_grades_every_student_and_regrades_the_same(toy, tmp_path):
    """One zip of everything at once: each case its deserved score, the batch goes on, the notes say why."""
    perfect, half, blank = toy["perfect"], toy["half"], toy["blank"]
    nfd = unicodedata.normalize("NFD", "José")
    entries = {
        "export/zoë/toy/toy.ipynb": perfect,
        f"export/{nfd}/toy/toy.ipynb": half,                   # macOS writes names decomposed
        "export/李雷.zip": zip_bytes({"toy/toy.ipynb": perfect}),
        "export/Alice Smith_12345_assignsubmission_file_/alice_toy.zip": zip_bytes({"toy/toy.ipynb": half}),
        "export/bob/toy.zip": zip_bytes({"toy.ipynb": blank}),
        "export/carl/toy.ipynb": perfect,                        # outside its folder
        "export/dora/toy/README.txt": "I forgot the notebook",   # missing notebook
        "export/=SUM(1+1)/toy/toy.ipynb": perfect,               # formula injection in the id
        "export/comma, name/toy/toy.ipynb": '{"cells": [',       # invalid JSON, a comma in the note
        "export/@at/toy/toy.ipynb": half,
        "export/mallory.zip": zip_bytes({"../../toy/toy.ipynb": perfect}),  # zip-slip
        "export/bomber.zip": zip_bytes({"toy/toy.ipynb": b" " * (40 * 2**20)}),
        "export/a[1]/toy/toy.ipynb": perfect,                    # an id nbgrader would glob
        "export/.sneaky/toy/toy.ipynb": perfect,                 # a hidden folder is no student id
    }
    archive = make_zip(tmp_path / "lms.zip", entries)
    course = tmp_path / "course"

    def grade():
        results = autograder.grade_submissions(archive, repo=toy["root"], course_dir=course, jobs=2,
                                               progress=False)
        return {r.student_id: r for r in results}

    got = grade()
    expected = {
        "zoë": (MAX, "graded"), "José": (1.0, "graded"), "李雷": (MAX, "graded"),
        "Alice Smith_12345": (1.0, "graded"), "bob": (0.0, "graded"), "carl": (MAX, "graded"),
        "dora": (0.0, "failed"), "=SUM(1+1)": (MAX, "graded"), "comma, name": (0.0, "failed"),
        "@at": (1.0, "graded"), "mallory": (0.0, "failed"), "bomber": (0.0, "failed"),
        "a[1]": (0.0, "skipped"), ".sneaky": (0.0, "skipped"),
    }
    assert {k: (r.score, r.status) for k, r in got.items()} == expected
    assert all(got[k].note == "" for k in ("zoë", "José", "李雷", "Alice Smith_12345", "bob", "=SUM(1+1)", "@at"))
    shown = archive.name  # notes name an absolute path by its own name (issue #12)
    assert got["carl"].note == (f"{shown}/export/carl/toy.ipynb is not in a toy/ folder: graded as if it were "
                                f"{shown}/export/carl/toy/toy.ipynb")
    assert "export/dora/toy/toy.ipynb is missing" in got["dora"].note
    assert "export/comma, name/toy/toy.ipynb is not valid JSON" in got["comma, name"].note
    assert "export/mallory.zip" in got["mallory"].note and "would land outside" in got["mallory"].note
    assert "export/bomber.zip" in got["bomber"].note and "zip bomb" in got["bomber"].note
    assert "'a[1]'" in got["a[1]"].note and "file pattern" in got["a[1]"].note
    assert "'.sneaky'" in got[".sneaky"].note and "starts with '.'" in got[".sneaky"].note
    assert not (tmp_path / "toy").exists()  # the zip-slip entry went nowhere

    # The summary names every student and what happened, one line each.
    table = format_table(list(got.values())).splitlines()
    assert len(table) == 2 + len(expected)
    for student, result in got.items():
        assert sum(line.startswith(student + " ") for line in table) == 1, student
    assert any("zip bomb" in line for line in table)

    # The export: one record per student, formula ids neutralised, everything else intact.
    out = tmp_path / "grades.csv"
    autograder.export_grades(out, repo=toy["root"], course_dir=course)
    text = out.read_text(encoding="utf-8")
    rows = {row["student_id"]: row for row in csv.DictReader(io.StringIO(text, newline=""))}
    neutral = {("'" + k if k[0] in "=+-@" else k): v for k, v in got.items()}
    assert sorted(rows) == sorted(neutral)
    for key, result in neutral.items():
        assert float(rows[key]["score"]) == result.score and rows[key]["status"] == result.status
        assert rows[key]["note"] == ("'" + result.note if result.note.startswith(tuple("=+-@")) else result.note)
    assert "\n=" not in text and "\n+" not in text and "\n@" not in text

    # Regrading the same archive into the same course gives the same grades and the same export.
    again = grade()
    assert {k: (r.score, r.status, r.note) for k, r in again.items()} == {
        k: (r.score, r.status, r.note) for k, r in got.items()}
    autograder.export_grades(out, repo=toy["root"], course_dir=course)
    assert out.read_text(encoding="utf-8") == text


@pytest.mark.slow
def test_canvas_renamed_duplicate_and_relative_paths_in_one_batch(toy, tmp_path, monkeypatch):
    """Issue #12, items 5-7 and 9: a Canvas download (late, resubmitted), a renamed lone notebook, a .py
    instead of the notebook, a folder and a later zip; passed as ../in/batch.zip; then every export shape."""
    perfect, half = toy["perfect"], toy["half"]
    old = (2023, 11, 14, 12, 0, 0)
    entries = {
        "smithalice_1001_5001_toy.ipynb": half,
        "smithalice_late_1001_5002_toy-1.ipynb": perfect,           # the newest upload, late
        "jonesbob_1002_5003_toy.ipynb": half,
        "dave/toy/toy-final.ipynb": perfect,                        # the only notebook, renamed
        "erin/toy/toy.py": "def double(x):\n    return 2 * x\n",   # a script instead of the notebook
        "fay/toy/toy.ipynb": (old, half),                           # a folder ...
        "fay.zip": zip_bytes({"toy/toy.ipynb": perfect}),           # ... and a later zip
    }
    archive = tmp_path / "in" / "batch.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in entries.items():
            if isinstance(data, tuple):
                zf.writestr(zipfile.ZipInfo(name, date_time=data[0]), data[1])
            else:
                zf.writestr(name, data)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    course = tmp_path / "course"
    results = autograder.grade_submissions(os.path.join("..", "in", "batch.zip"), repo=toy["root"],
                                           course_dir=course, progress=False)
    got = {r.student_id: r for r in results}
    assert {k: (r.score, r.status) for k, r in got.items()} == {
        "smithalice": (MAX, "graded"), "jonesbob": (1.0, "graded"), "dave": (MAX, "graded"),
        "erin": (0.0, "failed"), "fay": (MAX, "graded")}
    assert [k for k, r in got.items() if r.late] == ["smithalice"]
    assert "batch.zip/smithalice_1001_5001_toy.ipynb is an older upload of toy.ipynb" in got["smithalice"].note
    assert got["dave"].note == ("batch.zip/dave/toy/toy-final.ipynb was graded as toy.ipynb: it is the only "
                                "notebook there and toy.ipynb is missing; name it toy.ipynb next time")
    assert got["erin"].note == ("batch.zip/erin/toy/toy.ipynb is missing (found batch.zip/erin/toy/toy.py instead: "
                                "submit the notebook itself, toy.ipynb); graded as 0")
    assert got["fay"].review == "2 copies, graded the newest" and "the newer copy" in got["fay"].note
    assert "batch.zip/fay/toy" in got["fay"].note and "batch.zip/fay.zip/toy" in got["fay"].note
    assert [k for k, r in got.items() if r.review] == ["fay"]
    for result in results:
        assert "../" not in result.note and str(tmp_path) not in result.note, result.note
    table = format_table(results)
    assert "flags" in table.splitlines()[0] and "review: 2 copies, graded the newest" in table

    # The CSV carries the marks; the wide and Canvas shapes one row per student.
    rows = {r["student_id"]: r for r in autograder.export_grades(repo=toy["root"], course_dir=course)}
    assert rows["smithalice"]["late"] == "late" and rows["jonesbob"]["late"] == ""
    assert rows["fay"]["review"] == "2 copies, graded the newest" and rows["fay"]["status"] == "graded"
    out = tmp_path / "wide.csv"
    wide = autograder.export_grades(out, repo=toy["root"], course_dir=course, shape="wide")
    assert [(r["student_id"], r["toy"], r["total"]) for r in wide] == [
        ("dave", "4.0", "4.0"), ("erin", "0.0", "0.0"), ("fay", "4.0", "4.0"), ("jonesbob", "1.0", "1.0"),
        ("smithalice", "4.0", "4.0")]
    assert out.read_text().splitlines()[0] == "student_id,toy,total"
    proc = subprocess.run([sys.executable, "-m", "autograder", "export", "--format", "canvas", "--repo",
                           toy["root"], "--course-dir", course], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "Student,ID,SIS User ID,SIS Login ID,Section,toy"
    assert lines[1] == "Points Possible,,,,,4.0"
    canvas = {r["Student"]: r for r in csv.DictReader(io.StringIO(proc.stdout, newline=""))}
    assert (canvas["smithalice"]["ID"], canvas["smithalice"]["SIS Login ID"], canvas["smithalice"]["toy"]) == (
        "1001", "", "4.0")
    assert (canvas["dave"]["ID"], canvas["dave"]["SIS Login ID"]) == ("", "dave")
    proc = subprocess.run([sys.executable, "-m", "autograder", "export", "--wide", "--format", "canvas",
                           "--repo", toy["root"], "--course-dir", course], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1 and "ask for two shapes" in proc.stderr


def _descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (Linux ``/proc``; empty elsewhere), to kill what a test started."""
    children: dict[int, list[int]] = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat_file.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the grader, its process group and everything it started (kernels may have their own session)."""
    below = _descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in below:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=60)


def _graded_students(db: Path, *, recover: bool = False) -> dict[str, float]:
    """Students whose every grade has an automatic score in the gradebook, with their score.

    Read-only while the grader runs. ``recover=True`` after the grader was killed: a grader
    killed inside a write leaves a hot journal, which a read-only connection cannot roll back
    (it fails), so open it as the next run of the grader would: SQLite rolls the journal back
    and the reader sees the last committed state.
    """
    if not db.exists():
        return {}
    try:
        con = sqlite3.connect(db if recover else f"file:{db}?mode=ro", uri=not recover, timeout=5)
        try:
            rows = con.execute(
                "SELECT sa.student_id, COUNT(g.id), COUNT(g.auto_score), COALESCE(SUM(g.auto_score), 0) "
                "FROM submitted_assignment sa JOIN submitted_notebook sn ON sn.assignment_id = sa.id "
                "JOIN grade g ON g.notebook_id = sn.id GROUP BY sa.student_id"
            ).fetchall()
        finally:
            con.close()
    except sqlite3.Error:  # the gradebook is being created
        return {}
    return {student: float(score) for student, total, scored, score in rows if total and total == scored}


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups (os.killpg)")
def test_a_run_killed_halfway_loses_no_grade_when_restarted(toy, tmp_path):
    subs, course = tmp_path / "subs", tmp_path / "course"
    want = {}
    for i in range(8):
        kind = ("perfect", "half", "blank")[i % 3]
        student = f"s{i}_{kind}"
        autograder.write_submission(subs, student, "toy", "toy", toy[kind])
        want[student] = {"perfect": MAX, "half": 1.0, "blank": 0.0}[kind]
    cmd = [sys.executable, "-m", "autograder", "grade", subs, "--repo", toy["root"], "--course-dir", course,
           "--no-progress"]
    db = course / "gradebook.db"

    # Its own session, so that SIGKILL takes the grader and all it started at once, like a crash.
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        before = {}
        while len(before) < 2:
            assert proc.poll() is None, f"the grader ended before it could be killed: {proc.stderr.read()!r}"
            assert time.monotonic() < deadline, "no grade reached the gradebook within 300 s"
            time.sleep(0.1)
            before = _graded_students(db)
        _kill(proc)
    finally:
        if proc.poll() is None:
            _kill(proc)
        proc.stderr.close()
    before = _graded_students(db, recover=True)
    assert 2 <= len(before) < len(want), f"the kill came too late to test a restart: {before}"
    assert before == {s: want[s] for s in before}  # what was written before the kill is right ...
    rows = {r["student_id"]: r for r in autograder.export_grades(repo=toy["root"], course_dir=course)}
    for student, score in before.items():  # ... and the export reads it, gradebook intact
        assert float(rows[student]["score"]) == score

    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    after = _graded_students(db)
    assert after == want
    rows = {r["student_id"]: r for r in autograder.export_grades(repo=toy["root"], course_dir=course)}
    assert {s: (float(r["score"]), r["status"], r["note"]) for s, r in rows.items()} == {
        s: (score, "graded", "") for s, score in want.items()}
