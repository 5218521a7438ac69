"""The students' path: `make lab` (JupyterLab with nbgrader's Assignments tab and Validate button) and downloads.

`python -m autograder lab` is what `make lab` runs: it prepares ``workspace/`` with a
local nbgrader exchange and opens JupyterLab there. These tests drive the same code
paths: nbgrader's exchange API on a prepared workspace (fast), the real server with
its student extensions over HTTP (slow), and the per-assignment zip unpacked in an
empty folder, checked with the self-check it ships (slow).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

import autograder
from autograder.layout import AutograderError
from autograder.student import COURSE_ID, make_bundle, prepare_workspace

REPO = Path(__file__).resolve().parents[1]
RELEASED = sorted(p.name for p in (REPO / "exercises").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
ASSIGNMENT = "pac_bayes"  # small and quick to execute


def _exchange_config(ws, monkeypatch):
    """nbgrader's config as its assignment-list extension loads it: nbgrader_config.py in the server's folder."""
    from jupyter_core.paths import jupyter_config_path
    from nbgrader.apps import NbGrader

    monkeypatch.chdir(ws.root)
    paths = jupyter_config_path()
    paths.insert(0, os.getcwd())
    app = NbGrader()
    app.config_file_paths.append(paths)
    app.load_config_file()
    return app.config


def _perfect(assignment: str) -> nbformat.NotebookNode:
    (source,) = autograder.find_repo(REPO).source_notebooks(assignment)
    return autograder.perfect_submission(source, REPO / "exercises" / assignment / source.name)


def test_workspace_offers_every_release_and_fetch_and_submit_work(tmp_path, monkeypatch):
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeFactory

    ws = prepare_workspace(repo=REPO, root=tmp_path / "ws")
    assert set(RELEASED) <= set(ws.assignments)
    config = _exchange_config(ws, monkeypatch)
    assert config.CourseDirectory.course_id == COURSE_ID

    def listed():
        lister = ExchangeFactory(config=config).List(
            coursedir=CourseDirectory(config=config), authenticator=Authenticator(config=config), config=config
        )
        return {a["assignment_id"]: a["status"] for a in lister.start()}

    assert listed() == {name: "released" for name in ws.assignments}

    config.CourseDirectory.assignment_id = ASSIGNMENT
    coursedir = CourseDirectory(config=config)
    ExchangeFactory(config=config).FetchAssignment(
        coursedir=coursedir, authenticator=Authenticator(config=config), config=config
    ).start()
    fetched = ws.root / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert fetched.read_bytes() == (REPO / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes()
    assert listed()[ASSIGNMENT] == "fetched"

    ExchangeFactory(config=config).Submit(
        coursedir=coursedir, authenticator=Authenticator(config=config), config=config
    ).start()
    inbound = list((ws.exchange / COURSE_ID / "inbound").glob(f"*+{ASSIGNMENT}+*/{ASSIGNMENT}.ipynb"))
    assert len(inbound) == 1, "Submit should leave one time-stamped copy in the local exchange"
    assert list((ws.root / ".nbgrader-cache").rglob(f"{ASSIGNMENT}.ipynb")), "nbgrader's cache stays in the workspace"


def test_preparing_again_refreshes_the_offer_and_keeps_the_students_work(tmp_path):
    ws = prepare_workspace(repo=REPO, root=tmp_path / "ws")
    stale = ws.exchange / COURSE_ID / "outbound" / ASSIGNMENT / "old.ipynb"
    stale.write_text("{}")
    mine = ws.root / ASSIGNMENT / "mine.ipynb"
    mine.parent.mkdir()
    mine.write_text("my work")
    prepare_workspace(repo=REPO, root=ws.root)
    assert not stale.exists(), "the exchange should offer exactly the current release"
    assert mine.read_text() == "my work", "a student's files must survive `make lab`"


def test_no_release_gives_a_message_that_says_what_to_run(tmp_path):
    fake = tmp_path / "repo"
    (fake / "solutions").mkdir(parents=True)
    (fake / "exercises").mkdir()
    with pytest.raises(AutograderError, match="autograder release"):
        prepare_workspace(repo=fake, root=tmp_path / "ws")


def test_bundle_unknown_assignment_names_the_known_ones(tmp_path):
    with pytest.raises(AutograderError, match=ASSIGNMENT):
        make_bundle("no_such_assignment", repo=REPO, dest=tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab_server(tmp_path):
    """`python -m autograder lab` (what `make lab` runs) on a free port, with a token; yields (url, headers, ws)."""
    requests = pytest.importorskip("requests")
    port, token = _free_port(), "course-test-token"
    ws = tmp_path / "ws"
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "autograder", "lab", "--repo", str(REPO), "--workspace", str(ws), "--no-browser",
         f"--port={port}", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url, headers = f"http://127.0.0.1:{port}", {"Authorization": f"token {token}"}
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{url}/api/status", headers=headers, timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, f"`autograder lab` exited early:\n{(tmp_path / 'lab.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"JupyterLab did not start:\n{(tmp_path / 'lab.log').read_text()[-3000:]}"
            time.sleep(0.5)
        yield url, headers, ws
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_make_lab_serves_the_assignment_list_and_the_validate_button(lab_server):
    import requests

    url, headers, ws = lab_server
    extensions = {e["name"]: e["enabled"] for e in requests.get(f"{url}/lab/api/extensions", headers=headers).json()}
    assert extensions.get("jupyter-nbgrader") is True, f"nbgrader's lab extension is not enabled: {extensions}"

    listing = requests.get(f"{url}/assignments", params={"course_id": COURSE_ID}, headers=headers).json()
    assert listing["success"], listing
    offered = sorted(p.name for p in (ws / ".exchange" / COURSE_ID / "outbound").iterdir())
    released = sorted(a["assignment_id"] for a in listing["value"] if a["status"] == "released")
    assert released == offered, str([(a["assignment_id"], a["status"]) for a in listing["value"]])
    assert set(RELEASED) <= set(offered)

    fetch = requests.post(f"{url}/assignments/fetch", data={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT},
                          headers=headers).json()
    assert fetch["success"], fetch
    notebook = ws / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert notebook.is_file()

    def validate():
        out = requests.post(f"{url}/assignments/validate", data={"path": f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"},
                            headers=headers, timeout=300).json()
        assert out["success"], out
        return out["value"]

    assert validate().get("failed"), "Validate must report the untouched release's failing tests"
    nbformat.write(_perfect(ASSIGNMENT), notebook)
    result = validate()
    assert not result.get("failed") and not result.get("errored"), f"a finished notebook should validate: {result}"

    submit = requests.post(f"{url}/assignments/submit", data={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT},
                           headers=headers).json()
    assert submit["success"], submit
    assert list((ws / ".exchange" / COURSE_ID / "inbound").glob(f"*+{ASSIGNMENT}+*/{ASSIGNMENT}.ipynb"))


@pytest.mark.slow
def test_bundle_works_in_an_empty_folder_without_the_reference_solution(tmp_path):
    zip_path = make_bundle(ASSIGNMENT, repo=REPO, dest=tmp_path / "dist")
    names = zipfile.ZipFile(zip_path).namelist()
    for needed in (f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb", f"{ASSIGNMENT}/README.txt", f"{ASSIGNMENT}/requirements.txt",
                   f"{ASSIGNMENT}/lrlab/device.py", f"{ASSIGNMENT}/autograder/validate.py"):
        assert needed in names, f"{needed} missing from the bundle"
    assert not any(n.startswith(f"{ASSIGNMENT}/lrlab/ch") for n in names), "chapter experiment modules are not needed"
    from autograder.student import student_requirements

    shipped = zipfile.ZipFile(zip_path).read(f"{ASSIGNMENT}/requirements.txt").decode().splitlines()
    assert [l for l in shipped if not l.startswith("#")] == student_requirements(REPO)
    unpacked = tmp_path / "student"
    zipfile.ZipFile(zip_path).extractall(unpacked)
    home = unpacked / ASSIGNMENT
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    probe = subprocess.run(
        [sys.executable, "-c", "import lrlab.device, lrlab.plotting; print(lrlab.__file__)\n"
         "try:\n    import lrlab.pac_bayes\nexcept ImportError as e:\n    print('refused:', e)"],
        cwd=home, env=env, capture_output=True, text=True, timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    assert str(home) in probe.stdout, f"the bundle's own lrlab should be imported, got: {probe.stdout}"
    assert "refused:" in probe.stdout and "reference implementation" in probe.stdout, probe.stdout

    nbformat.write(_perfect(ASSIGNMENT), home / f"{ASSIGNMENT}.ipynb")
    check = subprocess.run([sys.executable, "-m", "autograder", "validate", f"{ASSIGNMENT}.ipynb"],
                           cwd=home, env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, f"the self-check in the bundle failed:\n{check.stdout}\n{check.stderr}"
    assert "FAIL" not in check.stdout and "PASS" in check.stdout, check.stdout
    shutil.rmtree(unpacked)


@pytest.fixture
def chromium_page():
    """A headless Chromium page (Debian's chromium; .ci/run installs it)."""
    from conftest import require_system

    chromium = require_system("chromium", "apt-get install chromium (Debian's package; .ci/run does this)")
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=flags)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        yield page
        browser.close()


@pytest.mark.slow
def test_make_lab_in_a_browser_lists_assignments_and_validates_from_the_toolbar(lab_server, chromium_page):
    """What a student clicks: Nbgrader > Assignment List shows the releases; a notebook's Validate button reports."""
    import requests

    url, headers, ws = lab_server
    token = headers["Authorization"].split()[-1]
    fetched = requests.post(f"{url}/assignments/fetch", data={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT},
                            headers=headers).json()
    assert fetched["success"], fetched
    page = chromium_page
    page.set_default_timeout(120_000)

    page.goto(f"{url}/lab?token={token}")
    page.locator("#jp-MainMenu").get_by_text("Nbgrader", exact=True).click()
    page.get_by_text("Assignment List", exact=True).click()
    page.get_by_text("Released assignments").wait_for()
    page.get_by_text("schedules", exact=True).first.wait_for()
    page.get_by_text(ASSIGNMENT, exact=True).first.wait_for()

    page.goto(f"{url}/lab/tree/{ASSIGNMENT}/{ASSIGNMENT}.ipynb?token={token}")
    button = page.locator(".validate-button").first
    button.wait_for()
    button.click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_text("Validation failed").or_(dialog.get_by_text("Validation Results")).first.wait_for()
    text = dialog.inner_text()
    assert "NotImplementedError" in text or "failed" in text.lower(), text[:500]
    SHOTS = REPO / "_build" / "screenshots"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "lab-validate.png"))


def test_student_requirements_are_the_pinned_closure_without_the_book_and_test_tools():
    import importlib.metadata as md

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from autograder.student import STUDENT_PACKAGES, student_requirements

    pinned = [l.strip() for l in (REPO / "requirements.txt").read_text().splitlines() if l.strip() and not l.startswith("#")]
    kept = student_requirements(REPO)
    assert set(kept) <= set(pinned), "every line comes from requirements.txt, unchanged"
    names = {canonicalize_name(l.split("==")[0]) for l in kept}
    pinned_names = {canonicalize_name(l.split("==")[0]) for l in pinned}
    assert "torch==2.13.0" in kept
    assert {canonicalize_name(p) for p in STUDENT_PACKAGES} <= names
    for tool in ("jupyter-book", "sphinx", "pytest", "playwright", "psycopg2-binary"):
        assert tool not in names, f"{tool} is for the book or the tests, not for students"
    # closed under dependencies (those that requirements.txt pins), one step at a time
    for name in names:
        for line in md.requires(name) or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            dep = canonicalize_name(req.name)
            assert dep not in pinned_names or dep in names, f"{name} needs {dep}, which the student list leaves out"
