"""The autograder against hostile and broken submissions of a real assignment.

One class of ``pac_bayes`` submissions, graded in one batch (``--jobs 2``): an
honest student, three *baselines* (a wrong ``gaussian_kl``, one that raises, one
missing), and students who loop forever, exit, crash, exhaust memory, fork, leave
processes behind, print megabytes, tamper with the test cells or with their own
interpreter, or try to read what they must not. Each must get exactly the score
of the matching baseline: a crash inside ``gaussian_kl`` costs what an exception
there costs, tampering with ``test_kl`` gains nothing over the wrong answer it
hides, and honest work keeps full marks. The batch itself shows that no
submission stops the others.
"""

from __future__ import annotations

import copy
import html
import json
import os
import re
import socket
import threading
from pathlib import Path

import nbformat
import pytest

import autograder
from autograder.engine.sandbox import bwrap_path
from conftest import require_system

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "pac_bayes"
SOURCE = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
TIMEOUT = 20  # per cell; the honest cells of pac_bayes take well under a second each

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hostile")]

WRONG_KL = "def gaussian_kl(mean_q, var_q, mean_p, var_p):\n    return 0.0\n"
RAISING_KL = "def gaussian_kl(mean_q, var_q, mean_p, var_p):\n    raise RuntimeError('not done')\n"


def _cell(nb, gid):
    return next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == gid)


def _index(nb, gid):
    return next(i for i, c in enumerate(nb.cells) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == gid)


def _kl_body(extra: str) -> str:
    """gaussian_kl that runs ``extra`` first (then would be correct)."""
    honest = _cell(PERFECT, "gaussian_kl").source
    return honest.replace('    """KL(Q || P)', "    " + extra.replace("\n", "\n    ") + '\n    """KL(Q || P)', 1)


def _after_kl(code: str):
    """Append top-level ``code`` to the gaussian_kl answer cell (after the def)."""
    def change(nb):
        cell = _cell(nb, "gaussian_kl")
        cell.source = cell.source + "\n" + code + "\n"
    return change


def _set_kl(source: str):
    def change(nb):
        _cell(nb, "gaussian_kl").source = source
    return change


def _added(code: str, after: str = "gaussian_kl", metadata: dict | None = None):
    def change(nb):
        cell = nbformat.v4.new_code_cell(code)
        if metadata:
            cell.metadata["nbgrader"] = metadata
        nb.cells.insert(_index(nb, after) + 1, cell)
    return change


def _both(*changes):
    def change(nb):
        for c in changes:
            c(nb)
    return change


def _test_kl(edit):
    def change(nb):
        edit(nb, _cell(nb, "test_kl"), _index(nb, "test_kl"))
    return change


def _retag(nb, cell, i):
    cell.metadata["nbgrader"].update(grade=False, solution=True, locked=False)
    cell.source = "pass"


def _rename(nb, cell, i):
    cell.metadata["nbgrader"]["grade_id"] = "test_kl_mine"
    cell.source = "pass"


def _duplicate(nb, cell, i):
    twin = copy.deepcopy(cell)
    twin.source = "pass"
    nb.cells.insert(i, twin)
    cell.source = "pass"


def _move_to_end(nb, cell, i):
    nb.cells.append(nb.cells.pop(i))


def _to_markdown(nb, cell, i):
    nb.cells[i] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)


PROBE = r'''
import json, os, socket
results = {{}}
def probe(name, action):
    try:
        action()
        results[name] = "LEAKED"
    except Exception as exc:
        results[name] = "blocked: " + type(exc).__name__
probe("read_solutions", lambda: open({solutions!r}).read())
probe("read_gradebook", lambda: open({gradebook!r}, "rb").read())
probe("list_other_students", lambda: os.listdir({others!r}))
probe("write_repo", lambda: open({repo_file!r}, "w").write("x"))
probe("read_etc_shadow", lambda: open("/etc/shadow").read())
def connect():
    s = socket.create_connection(("127.0.0.1", {port}), timeout=3)
    s.sendall(b"hello")
probe("network_loopback_host", connect)
open("/tmp/private-" + str(os.getpid()), "w").write("x")  # allowed: a private /tmp
print("PROBES " + json.dumps(results))  # read back from the graded notebook (the run's folder is private)
'''

REFERENCE_BY_PATH = """
def gaussian_kl(mean_q, var_q, mean_p, var_p):
    import glob, importlib.machinery, os, lrlab.device
    folder = os.path.dirname(lrlab.device.__file__)
    for path in glob.glob(folder + "/__pycache__/pac_bayes*.pyc") + [folder + "/pac_bayes.py"]:
        loader = (importlib.machinery.SourcelessFileLoader if path.endswith(".pyc")
                  else importlib.machinery.SourceFileLoader)("sneaky", path)
        try:
            module = loader.load_module()
        except ImportError:
            continue
        return module.gaussian_kl(mean_q, var_q, mean_p, var_p)
    raise RuntimeError("no way in")
"""

FORK_BOMB = "import os\nwhile True:\n    os.fork()"
BACKGROUND = "import subprocess\nsubprocess.Popen(['sleep', '987654'], start_new_session=True)"


def cases(course: Path, port: int) -> dict:
    """student id -> (change to the perfect submission, baseline it must score like)."""
    out = {
        "honest": (None, "full"),
        "base_wrong": (_set_kl(WRONG_KL), "wrong"),
        "base_raises": (_set_kl(RAISING_KL), "raises"),
        "base_missing": (_set_kl("pass"), "missing"),
        # time, exits and crashes inside the function: cost what an exception costs
        "loop_ignoring_sigint": (_set_kl(_kl_body(
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass")), "raises"),
        "sys_exit_in_function": (_set_kl(_kl_body("import sys\nsys.exit(0)")), "raises"),
        "raise_systemexit_in_function": (_set_kl(_kl_body("raise SystemExit(3)")), "raises"),
        "os_exit_in_function": (_set_kl(_kl_body("import os\nos._exit(1)")), "raises"),
        "segfault_in_function": (_set_kl(_kl_body("import ctypes\nctypes.string_at(0)")), "raises"),
        "killed_in_function": (_set_kl(_kl_body("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")), "raises"),
        "memory_bomb_in_function": (_set_kl(_kl_body("hog = []\nwhile True:\n    hog.append(bytearray(10**8))")),
                                    "raises"),
        # at the top level of the answer cell, after the def
        "loop_at_top_level": (_after_kl("while True:\n    pass"), "missing"),
        "os_exit_at_top_level": (_after_kl("import os\nos._exit(0)"), "missing"),
        "sys_exit_at_top_level": (_after_kl("import sys\nsys.exit()"), "full"),  # as in Jupyter: defs stay
        # output
        "huge_output": (_added("import sys\nfor i in range(200_000):\n    print(i)\nsys.stdout.write('x' * 20_000_000)"),
                        "full"),
        "warnings_on_stderr": (_both(_set_kl(_kl_body("import warnings\nwarnings.warn('slow path')")),
                                     _added("import sys\nprint('a note on stderr', file=sys.stderr)")), "full"),
        # tampering with the test cells, on top of a wrong answer it would hide
        "test_emptied": (_both(_set_kl(WRONG_KL), _test_kl(lambda nb, c, i: setattr(c, "source", "pass"))), "wrong"),
        "test_deleted": (_both(_set_kl(WRONG_KL), _test_kl(lambda nb, c, i: nb.cells.pop(i))), "wrong"),
        "test_duplicated": (_both(_set_kl(WRONG_KL), _test_kl(_duplicate)), "wrong"),
        "test_retagged": (_both(_set_kl(WRONG_KL), _test_kl(_retag)), "wrong"),
        "test_to_markdown": (_both(_set_kl(WRONG_KL), _test_kl(_to_markdown)), "wrong"),
        "test_renamed": (_both(_set_kl(WRONG_KL), _test_kl(_rename)), "wrong"),
        "test_moved_honest": (_test_kl(_move_to_end), "full"),
        "points_raised": (lambda nb: _cell(nb, "test_linear_bound").metadata["nbgrader"].update(points=100), "full"),
        "fake_graded_cell": (_added("pass", metadata={"grade": True, "grade_id": "bonus", "points": 50,
                                                      "locked": False, "solution": False, "schema_version": 3}),
                             "full"),
        # tampering with the interpreter the tests would run in
        "monkeypatch_numpy": (_both(_set_kl(WRONG_KL), _added(
            "import numpy, numpy.testing, builtins, math\n"
            "numpy.isclose = lambda *a, **k: True\nnumpy.allclose = lambda *a, **k: True\n"
            "numpy.testing.assert_allclose = lambda *a, **k: None\nmath.isclose = lambda *a, **k: True\n"
            "builtins.abs = lambda x: 0.0\nbuiltins.isinstance = lambda *a: True\n")), "wrong"),
        "hooks_rewrite_cells": (_both(_set_kl(WRONG_KL), _added(
            "import sys\nip = get_ipython()\n"
            "try:\n    ip.input_transformers_post.append(lambda lines: ['pass\\n'])\nexcept Exception:\n    pass\n"
            "sys.settrace(lambda *a: None)\nsys.addaudithook(lambda event, args: None)\n")), "wrong"),
    }
    if bwrap_path() is not None:  # these need the sandbox (a fork bomb without a process limit hurts)
        out["fork_bomb_in_function"] = (_set_kl(_kl_body(FORK_BOMB)), "raises")
        out["background_process"] = (_after_kl(BACKGROUND), "full")
        # academic integrity: the reference implementation is not importable when grading
        out["reference_import_top"] = (_set_kl("from lrlab.pac_bayes import gaussian_kl"), "missing")
        out["reference_import_in_function"] = (_set_kl(
            "def gaussian_kl(mean_q, var_q, mean_p, var_p):\n"
            "    from lrlab.pac_bayes import gaussian_kl as reference\n"
            "    return reference(mean_q, var_q, mean_p, var_p)\n"), "raises")
        out["reference_by_path"] = (_set_kl(REFERENCE_BY_PATH), "raises")
        out["probes"] = (_added(PROBE.format(
            solutions=str(SOURCE), gradebook=str(course / "gradebook.db"), others=str(course / "autograded"),
            repo_file=str(REPO / "HACKED_BY_STUDENT"), port=port)), "full")
    return out


PERFECT = None


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    global PERFECT
    tmp = tmp_path_factory.mktemp("hostile")
    release = tmp / "release"
    autograder.release([ASSIGNMENT], repo=REPO, dest=release)
    PERFECT = autograder.perfect_submission(SOURCE, release / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    course = tmp / "course"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    received = []

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            received.append(conn.recv(100))
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    table = cases(course, listener.getsockname()[1])
    subs = tmp / "subs"
    for sid, (change, _) in table.items():
        nb = copy.deepcopy(PERFECT)
        if change is not None:
            change(nb)
        autograder.write_submission(subs, sid, ASSIGNMENT, ASSIGNMENT, nb)
    results = autograder.grade_submissions(
        subs, repo=REPO, course_dir=course, jobs=2, timeout=TIMEOUT, memory_mb=2048, max_processes=64,
        progress=False,
    )
    listener.close()
    by_id = {r.student_id: r for r in results}
    return {"results": by_id, "table": table, "course": course, "received": received}


def _score(graded, sid):
    return graded["results"][sid].score


def test_every_submission_is_graded_and_baselines_differ(graded):
    results, table = graded["results"], graded["table"]
    assert set(results) == set(table), "every student of the batch has a result"
    for sid, r in results.items():
        assert r.status == "graded", f"{sid}: {r.status} ({r.note})"
    full = results["honest"].max_score
    assert results["honest"].score == full, results["honest"].note
    base = {k: _score(graded, f"base_{k}") for k in ("wrong", "raises", "missing")}
    assert all(0 < v < full for v in base.values()), base


@pytest.mark.parametrize("sid", [
    "loop_ignoring_sigint", "sys_exit_in_function", "raise_systemexit_in_function", "os_exit_in_function",
    "segfault_in_function", "killed_in_function", "memory_bomb_in_function", "loop_at_top_level",
    "os_exit_at_top_level", "sys_exit_at_top_level", "huge_output", "warnings_on_stderr", "test_emptied",
    "test_deleted", "test_duplicated", "test_retagged", "test_to_markdown", "test_renamed", "test_moved_honest",
    "points_raised", "fake_graded_cell", "monkeypatch_numpy", "hooks_rewrite_cells",
    "fork_bomb_in_function", "background_process", "probes", "reference_import_top",
    "reference_import_in_function", "reference_by_path",
])
def test_score_matches_its_baseline(graded, sid):
    if sid not in graded["table"]:
        require_system("bwrap", "the sandbox needs Debian's bubblewrap: apt-get install bubblewrap")
    expected = graded["table"][sid][1]
    want = graded["results"]["honest"].max_score if expected == "full" else _score(graded, f"base_{expected}")
    r = graded["results"][sid]
    assert r.score == want, f"{sid} scored {r.score}, expected {want} (like '{expected}'); note: {r.note}"


@pytest.mark.parametrize("sid,words", [
    ("loop_ignoring_sigint", "per-cell time limit"),
    ("loop_at_top_level", "per-cell time limit"),
    ("os_exit_in_function", "exited with status 1"),
    ("segfault_in_function", "segmentation fault"),
    ("killed_in_function", "was killed"),
    ("memory_bomb_in_function", "out of memory"),
    ("test_deleted", "test_kl"),
    ("test_renamed", "test_kl"),
])
def test_summary_names_what_happened(graded, sid, words):
    note = graded["results"][sid].note
    assert words in note, f"{sid}: the note should say {words!r}, got {note!r}"


def test_output_is_capped(graded):
    path = graded["course"] / "autograded" / "huge_output" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert path.stat().st_size < 1_000_000, f"the graded notebook is {path.stat().st_size} bytes"
    assert "output truncated" in path.read_text(encoding="utf-8").lower()


def test_sandbox_blocks_files_network_and_leaves_nothing_running(graded):
    require_system("bwrap", "the sandbox needs Debian's bubblewrap: apt-get install bubblewrap")
    graded_nb = nbformat.read(graded["course"] / "autograded" / "probes" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    lines = [line for cell in graded_nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
             for line in out.get("text", "").splitlines() if line.startswith("PROBES ")]
    assert len(lines) == 1, f"the probe cell printed {lines}"
    probes = json.loads(lines[0][len("PROBES "):])
    leaked = {k: v for k, v in probes.items() if not v.startswith("blocked")}
    assert not leaked, f"the student's code could do these: {leaked}"
    assert len(probes) == 6, probes
    assert graded["received"] == [], "a connection from the sandbox reached a server on the host"
    assert not (REPO / "HACKED_BY_STUDENT").exists()
    left = []
    for proc in Path("/proc").iterdir():
        try:
            if b"987654" in (proc / "cmdline").read_bytes():
                left.append(proc.name)
        except OSError:
            pass
    assert not left, f"a background process started by a student is still running: pids {left}"


def test_feedback_shows_no_hidden_test_code(graded):
    files, problems = autograder.generate_feedback(assignment=ASSIGNMENT, repo=REPO, course_dir=graded["course"])
    assert files and not problems, problems
    source = nbformat.read(SOURCE, as_version=4)
    hidden, visible = [], []
    for cell in source.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade") or meta.get("solution"):
            continue
        inside = False
        for line in cell.source.splitlines():
            text = line.strip()
            if "BEGIN HIDDEN TESTS" in text:
                inside = True
            elif "END HIDDEN TESTS" in text:
                inside = False
            elif len(text) > 25:
                (hidden if inside else visible).append(text)
    hidden = [line for line in hidden if line not in visible]  # a line also in the visible part is no secret
    assert hidden and visible
    huge = [p for p in files if "huge_output" in p.parts]
    assert huge and huge[0].stat().st_size < 2_000_000, "the feedback of a submission printing megabytes stays small"
    for path in files:
        text = html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{path} shows hidden test code: {leaked[:3]}"
        # the scan works: visible test code is there
        assert any(line in text for line in visible), f"{path}: the scanner finds no visible test code either"


def test_importing_the_reference_implementation_says_why(graded):
    require_system("bwrap", "the sandbox needs Debian's bubblewrap: apt-get install bubblewrap")
    path = graded["course"] / "autograded" / "reference_import_top" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(path, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert any(o["ename"] == "ImportError" and "reference implementation" in o["evalue"] for o in errors), errors[:3]
    # ... and the grade table and the CSV say so (issue #12): which module, which cells.
    results = graded["results"]
    for sid in ("reference_import_top", "reference_import_in_function", "reference_by_path"):
        assert results[sid].integrity.startswith("lrlab.pac_bayes in cell"), (sid, results[sid].integrity)
    assert all(not results[sid].integrity for sid in ("honest", "base_wrong", "probes"))
