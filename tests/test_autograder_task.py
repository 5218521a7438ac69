"""The grading task (autograder/instructor/task.py) and the executors' arguments (instructor/executors.py).

``grade_one`` needs no course directory and no gradebook: these tests call it on the
toy assignment's notebooks as plain text, as a Dask worker receives them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

import autograder
from autograder.engine.run import Limits
from autograder.instructor.executors import DaskExecutor, LocalExecutor, executor_for
from autograder.instructor.restore import sanitize
from autograder.instructor.task import cell_signature, grade_one, grader_version, needs_gpu, task_key
from autograder.layout import AutograderError

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "tests" / "fixtures" / "toyrepo"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy") / "repo"
    shutil.copytree(TOY, root)
    autograder.release(repo=root)
    source, release = root / "solutions" / "toy" / "toy.ipynb", root / "exercises" / "toy" / "toy.ipynb"
    perfect = autograder.perfect_submission(source, release)
    return {
        "source": source.read_text(encoding="utf-8"),
        "perfect": nbformat.writes(perfect),
        "release": release.read_text(encoding="utf-8"),
    }


def payloads(toy, notebook=None, files=None, limits=None):
    submission = {"student_id": "alice", "assignment": "toy", "notebooks": {"toy": notebook or toy["perfect"]},
                  "files": files or {}}
    release = {"assignment": "toy", "sources": {"toy": toy["source"]}, "files": {}, "version": grader_version()}
    return submission, release, limits or Limits(timeout=20, sandbox="none").to_dict()


@pytest.mark.slow  # the toy's release
def test_the_key_hashes_everything_that_changes_the_result(toy):
    sub, rel, lim = payloads(toy)
    key = task_key(sub, rel, lim)
    assert key == task_key(json.loads(json.dumps(sub)), dict(reversed(list(rel.items()))), dict(lim))
    changed = [
        ({**sub, "student_id": "bob"}, rel, lim),
        ({**sub, "notebooks": {"toy": toy["release"]}}, rel, lim),
        ({**sub, "files": {"data.csv": b"1,2"}}, rel, lim),
        (sub, {**rel, "version": "other"}, lim),
        (sub, {**rel, "files": {"helper.py": b"x = 1"}}, lim),
        (sub, {**rel, "sources": {"toy": toy["source"] + " "}}, lim),
        (sub, rel, {**lim, "timeout": 21.0}),
    ]
    keys = {task_key(*args) for args in changed}
    assert len(keys) == len(changed) and key not in keys


@pytest.mark.slow  # the toy's release
def test_grade_one_runs_the_sanitized_notebook_in_a_private_folder(toy, tmp_path):
    files = {"data/x.txt": b"42", "../escape.txt": b"no", "/abs.txt": b"no"}
    sub, rel, lim = payloads(toy, files=files)
    result = grade_one(sub, rel, lim)
    assert result["key"] == task_key(sub, rel, lim)
    assert (result["student_id"], result["assignment"]) == ("alice", "toy")
    entry = result["notebooks"]["toy"]
    nb, _ = sanitize(nbformat.reads(toy["perfect"], as_version=4), nbformat.reads(toy["source"], as_version=4))
    assert entry["cells"] == cell_signature(nb)
    code = [str(i) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    assert sorted(entry["outputs"], key=int) == code
    errors = [o for outs in entry["outputs"].values() for o in outs if o.get("output_type") == "error"]
    assert errors == []  # the perfect submission passes every test, hidden ones included
    assert entry["mode"] == "none" and entry["overtime"] is False
    assert any("'../escape.txt' has a path outside the submission's folder" in n for n in entry["notes"])
    assert any("'/abs.txt' has a path outside" in n for n in entry["notes"])
    assert not (tmp_path.parent / "escape.txt").exists()
    json.dumps(result)  # what the coordinator stores


@pytest.mark.slow  # the toy's release
def test_an_unreadable_notebook_is_a_note_not_an_exception(toy):
    sub, rel, lim = payloads(toy, notebook='{"cells": [{"cell_type": "code"}]')
    entry = grade_one(sub, rel, lim)["notebooks"]["toy"]
    assert entry["outputs"] is None and entry["cells"] == []
    assert len(entry["notes"]) == 1 and "toy.ipynb: its cells could not be read (" in entry["notes"][0]


@pytest.mark.slow  # the toy's release
def test_a_gpu_is_asked_for_by_the_source_notebooks_metadata(toy):
    _, rel, _ = payloads(toy)
    assert not needs_gpu(rel)
    source = json.loads(toy["source"])
    source["metadata"].setdefault("autograder", {})["gpu"] = True
    assert needs_gpu({**rel, "sources": {"toy": json.dumps(source)}})


@pytest.mark.parametrize("spec, hint", [
    ("banana", ""),
    ("dask://scheduler", ""),
    ("tcp://10.0.0.5:8786", "write the scheduler's address as dask://HOST:PORT"),
    ("10.0.0.5:8786", "write the scheduler's address as dask://HOST:PORT"),
    ("dask://h:8786/extra", ""),
])
def test_an_executor_that_is_neither_local_nor_dask_is_refused(spec, hint):
    with pytest.raises(AutograderError) as err:
        executor_for(spec, 1)
    assert f"executor={spec!r} is not one of the accepted forms: local" in str(err.value)
    assert "dask://HOST:PORT" in str(err.value) and hint in str(err.value)


def test_executor_specs():
    assert isinstance(executor_for("local", 3), LocalExecutor) and executor_for("local", 3).jobs == 3
    dask = executor_for("dask://grader-07.lab:8786", 1)
    assert isinstance(dask, DaskExecutor) and dask.address == "tcp://grader-07.lab:8786"
    with pytest.raises(AutograderError, match="the port must be between 1 and 65535"):
        executor_for("dask://h:70000", 1)
    with pytest.raises(AutograderError, match="jobs must be a positive integer"):
        executor_for("local", 0)


def test_a_scheduler_that_does_not_answer_is_a_clear_error():
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(AutograderError) as err:
        with executor_for(f"dask://127.0.0.1:{port}", 1):
            pass
    text = str(err.value)
    assert f"no Dask scheduler answers at dask://127.0.0.1:{port}" in text
    assert f"dask scheduler --host 127.0.0.1 --port {port} --no-dashboard" in text
    assert f"dask worker tcp://127.0.0.1:{port} --nthreads 1" in text and "--executor local" in text
