"""The students' path: `make lab` (JupyterLab with nbgrader's Assignments tab and Validate button) and downloads.

`python -m autograder lab` is what `make lab` runs: it prepares ``workspace/`` with a
local nbgrader exchange and opens JupyterLab there. These tests drive the same code
paths: nbgrader's exchange API on a prepared workspace (fast), the real server with
its student extensions over HTTP (slow), and the per-assignment zip unpacked in an
empty folder, checked with the self-check it ships (slow).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import json

import nbformat
import pytest
from packaging.utils import canonicalize_name

import autograder
from autograder.layout import AutograderError
from autograder.student.lab import COURSE_ID, prepare_workspace
from autograder.student.bundle import make_bundle

REPO = Path(__file__).resolve().parents[1]
RELEASED = sorted(p.name for p in (REPO / "exercises").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
ASSIGNMENT = "pac_bayes"  # small and quick to execute


def _exchange_config(ws, monkeypatch):
    """nbgrader's config as its assignment-list extension loads it in the lab: the server's folder and
    Jupyter's config path, whose first entry is the workspace's .jupyter/ (`autograder lab` sets JUPYTER_CONFIG_DIR)."""
    from jupyter_core.paths import jupyter_config_path
    from nbgrader.apps import NbGrader

    monkeypatch.chdir(ws.root)
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(ws.config_dir))
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


def _readme_order() -> list[str]:
    """The assignments in the order of the README's table (the course order, chapter by chapter)."""
    import re

    names = []
    for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| `([a-z0-9_]+)` \|", line)
        if m:
            names.append(m.group(1))
    return names


def test_workspace_offers_the_assignments_in_course_order_and_only_student_tools(tmp_path):
    import json

    from autograder.cli import build_parser
    from autograder.student.lab import INSTRUCTOR_LAB_PLUGINS, course_order

    order = _readme_order()
    assert order[0] == "schedules" and set(order) == set(RELEASED), order
    assert course_order(REPO) == order
    ws = prepare_workspace(repo=REPO, root=tmp_path / "ws")
    assert list(ws.assignments) == order, "the Assignments tab must list the course in order, not by name"
    visible = [p.name for p in ws.root.iterdir() if not p.name.startswith(".")]
    assert visible == [], f"the file browser shows only the student's own files, not {visible}"
    config = (ws.config_dir / "nbgrader_config.py").read_text()
    commands = [line.split("`")[1] for line in config.splitlines() if line.startswith("#") and "`" in line]
    assert commands, config
    for command in commands:
        words = command.split()
        assert words[:3] == ["python", "-m", "autograder"], command
        build_parser().parse_args(words[3:])  # a real subcommand (argparse exits on an unknown one)
    server = json.loads((ws.config_dir / "jupyter_server_config.json").read_text())
    extensions = server["ServerApp"]["jpserver_extensions"]
    assert extensions["nbgrader.server_extensions.formgrader"] is False
    assert extensions["autograder.student.labext"] is True
    page = json.loads((ws.config_dir / "labconfig" / "page_config.json").read_text())
    assert set(INSTRUCTOR_LAB_PLUGINS) <= set(page["disabledExtensions"])


def test_an_old_workspace_loses_the_config_file_in_sight_and_keeps_the_students(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "nbgrader_config.py").write_text("# Written by `python -m autograder workspace` (make lab): old\n")
    prepare_workspace(repo=REPO, root=root)
    assert not (root / "nbgrader_config.py").exists()
    (root / "nbgrader_config.py").write_text("# my own\n")
    prepare_workspace(repo=REPO, root=root)
    assert (root / "nbgrader_config.py").read_text() == "# my own\n", "a file the student wrote is theirs"


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
    from conftest import wait_until_serving

    pytest.importorskip("requests")
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
        wait_until_serving(url, headers, proc, tmp_path / "lab.log", "`autograder lab`")
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
    released = [a["assignment_id"] for a in listing["value"] if a["status"] == "released"]
    assert sorted(released) == offered, str([(a["assignment_id"], a["status"]) for a in listing["value"]])
    assert set(RELEASED) <= set(offered)
    assert released == _readme_order(), "the Assignments tab lists the course in order (schedules first), not by name"

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
def test_make_lab_shows_students_only_student_tools(lab_server):
    """No Formgrader, Create Assignment, Course List or Fetch Feedback; no config file in the file browser;
    no first-start question about Jupyter news. Checked on the running server, as the page loads it."""
    import json
    import re

    import requests

    from autograder.student.lab import INSTRUCTOR_LAB_PLUGINS

    url, headers, ws = lab_server
    page = requests.get(f"{url}/lab", headers=headers).text
    data = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                page, re.S).group(1))
    disabled = data.get("disabledExtensions", [])
    for plugin in INSTRUCTOR_LAB_PLUGINS:
        assert plugin in disabled, f"{plugin} is an instructor's tool: the student's lab shows it ({disabled})"
    for plugin in ("@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:validate-assignment",
                   "@jupyter/nbgrader:menu"):
        assert plugin not in disabled, f"{plugin} is a student's tool and must stay on"
    assert requests.get(f"{url}/formgrader", headers=headers).status_code == 404, "the formgrader server is on"
    listed = [c["name"] for c in requests.get(f"{url}/api/contents/", headers=headers).json()["content"]]
    assert "nbgrader_config.py" not in listed and not any(n.startswith(".") for n in listed), listed

    assert "custom/custom.css" in page, "the page does not load the workspace's CSS"
    css = requests.get(f"{url}/custom/custom.css", headers=headers)
    assert css.ok and re.search(r"#submitted_assignments_list[^{]*button\s*\{\s*display:\s*none", css.text), css.text
    news = requests.get(f"{url}/lab/api/settings/@jupyterlab/apputils-extension:notification", headers=headers).json()
    assert news["settings"].get("fetchNews") == "false", f"JupyterLab would ask about Jupyter news: {news['settings']}"


@pytest.mark.slow
def test_bundle_works_in_an_empty_folder_without_the_reference_solution(tmp_path):
    zip_path = make_bundle(ASSIGNMENT, repo=REPO, dest=tmp_path / "dist")
    names = zipfile.ZipFile(zip_path).namelist()
    for needed in (f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb", f"{ASSIGNMENT}/README.txt", f"{ASSIGNMENT}/requirements.txt",
                   f"{ASSIGNMENT}/lrlab/device.py", f"{ASSIGNMENT}/autograder/student/validate.py"):
        assert needed in names, f"{needed} missing from the bundle"
    assert not any(n.startswith(f"{ASSIGNMENT}/lrlab/chapters/") for n in names), "chapter experiment modules are not needed"
    from autograder.student.bundle import student_requirements

    shipped = zipfile.ZipFile(zip_path).read(f"{ASSIGNMENT}/requirements.txt").decode().splitlines()
    assert [l for l in shipped if not l.startswith("#")] == student_requirements(ASSIGNMENT, REPO)
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
    check = subprocess.run([sys.executable, "-c", _RECORD_IMPORTS, "validate", f"{ASSIGNMENT}.ipynb"],
                           cwd=home, env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, f"the self-check in the bundle failed:\n{check.stdout}\n{check.stderr}"
    assert "FAIL" not in check.stdout and "PASS" in check.stdout, check.stdout
    shipped_release = home / "autograder" / "releases" / f"{ASSIGNMENT}.ipynb"
    assert shipped_release.read_bytes() == (REPO / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes()
    assert f"Test cells as released ({shipped_release})" in check.stdout, check.stdout
    imported = json.loads(check.stdout.rsplit("IMPORTED ", 1)[1])
    assert "nbgrader" not in imported, "the self-check must not need nbgrader (the download does not ship it)"
    from autograder.student.bundle import SELF_CHECK_PACKAGES, _distributions

    assert _distributions(set(imported)) == {canonicalize_name(p) for p in SELF_CHECK_PACKAGES}, (
        f"the self-check imported {imported}; autograder.student.bundle.SELF_CHECK_PACKAGES says {SELF_CHECK_PACKAGES}"
    )

    # As the grader will run it: an emptied test cell is restored from the shipped release, and the
    # reference module (forbidden, stubbed in the download anyway) is refused by the engine's guard.
    cheat = _perfect(ASSIGNMENT)
    for cell in cheat.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "gaussian_kl":
            cell.source = "def gaussian_kl(mean_q, var_q, mean_p, var_p):\n    return 0.0\n"
        elif gid == "test_kl":
            cell.source = "pass"
        elif gid == "linear_bound":
            cell.source = "from lrlab.pac_bayes import linear_bound"
    nbformat.write(cheat, home / f"{ASSIGNMENT}.ipynb")
    cheated = subprocess.run([sys.executable, "-m", "autograder", "validate", f"{ASSIGNMENT}.ipynb"],
                             cwd=home, env=env, capture_output=True, text=True, timeout=300)
    assert cheated.returncode == 1, cheated.stdout + cheated.stderr
    assert re.search(r"FAIL  test_kl ", cheated.stdout) and "test_kl differ" in cheated.stdout, cheated.stdout
    assert re.search(r"FAIL  test_linear_bound ", cheated.stdout), cheated.stdout
    assert "linear_bound: ImportError: lrlab.pac_bayes is the course's reference implementation" in cheated.stdout
    shutil.rmtree(unpacked)


#: `python -m autograder ARGS` in the current folder, recording the third-party modules that the
#: autograder's own files import (directly: `import x` in a file under ./autograder/); prints them last.
_RECORD_IMPORTS = r"""
import builtins, json, os, runpy, sys
home = os.path.join(os.getcwd(), "autograder") + os.sep
seen, real = set(), builtins.__import__
def record(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and (globals or {}).get("__file__", "").startswith(home):
        top = name.split(".")[0]
        if top not in sys.stdlib_module_names and top not in ("autograder", "lrlab", "__future__"):
            seen.add(top)
    return real(name, globals, locals, fromlist, level)
builtins.__import__ = record
sys.argv = ["autograder", *sys.argv[1:]]
status = 0
try:
    runpy.run_module("autograder", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    status = exc.code or 0
print("IMPORTED " + json.dumps(sorted(seen)))
sys.exit(status)
"""


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
    submitted = requests.post(f"{url}/assignments/submit", data={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT},
                              headers=headers).json()
    assert submitted["success"], submitted
    page = chromium_page
    page.set_default_timeout(120_000)

    page.goto(f"{url}/lab?token={token}")
    page.locator("#jp-MainMenu").get_by_text("Nbgrader", exact=True).click()
    menu = page.locator("#jp-mainmenu-nbgrader")
    menu.get_by_text("Assignment List", exact=True).wait_for()
    items = menu.locator(".lm-Menu-itemLabel").all_inner_texts()
    assert "Assignment List" in items and not {"Formgrader", "Course List"} & set(items), f"menu items: {items}"
    page.get_by_text("Assignment List", exact=True).click()
    page.get_by_text("Released assignments").wait_for()
    page.get_by_text("schedules", exact=True).first.wait_for()
    page.get_by_text(ASSIGNMENT, exact=True).first.wait_for()
    assert page.get_by_text("Would you like to get notified about official Jupyter news?").count() == 0
    submitted_row = page.locator("#submitted_assignments_list .list_item").first
    submitted_row.wait_for()
    buttons = page.locator("#submitted_assignments_list button")
    assert buttons.count() >= 1 and all(not buttons.nth(i).is_visible() for i in range(buttons.count())), (
        "Fetch Feedback is shown, but feedback never arrives in the local exchange")
    assert page.get_by_text("Create Assignment", exact=True).count() == 0, "the Create Assignment sidebar is shown"

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


def _installed_closure(names: set[str]) -> set[str]:
    """``names`` and every distribution they depend on (installed metadata, extras left out), canonical names."""
    import importlib.metadata as md

    from packaging.requirements import Requirement

    seen, stack = set(), list(names)
    while stack:
        name = canonicalize_name(stack.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                stack.append(req.name)
    return seen


def _installed_mb(names: set[str]) -> float:
    import importlib.metadata as md

    total = 0
    for name in names:
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        total += sum(f.size or 0 for f in dist.files or [] if f.hash is not None or f.size)
    return total / 2**20


def _static_imports(home: Path) -> set[str]:
    """Top-level names of every module imported anywhere in the unpacked download's notebooks and lrlab files."""
    import ast

    sources = [p.read_text(encoding="utf-8") for p in sorted((home / "lrlab").glob("*.py"))]
    for nb_path in sorted(home.glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        sources += ["\n".join(l for l in c.source.splitlines() if not l.lstrip().startswith(("%", "!")))
                    for c in nb.cells if c.cell_type == "code"]
    found = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {n for n in found if n not in sys.stdlib_module_names and n not in ("lrlab", "autograder", "__future__")}


def test_bundle_requirements_are_exactly_what_the_download_imports(tmp_path, capsys, record_property):
    """Every assignment's requirements.txt: the distributions that its notebook and shipped lrlab files import,
    the self-check's (recorded in the run above), JupyterLab and the kernel; pinned as requirements.txt pins
    them; README.txt says where torch's CPU wheel comes from. Logs the installed size against the whole pin list."""
    import importlib.metadata as md

    from autograder.student.bundle import SELF_CHECK_PACKAGES, TOOLS

    owners = md.packages_distributions()
    pinned = {canonicalize_name(l.split("==")[0]): l.strip() for l in (REPO / "requirements.txt").read_text().splitlines()
              if l.strip() and not l.startswith("#")}
    assert pinned["torch"] == "torch==2.13.0"
    sizes = []
    for name in RELEASED:
        zf = zipfile.ZipFile(make_bundle(name, repo=REPO, dest=tmp_path / "dist"))
        zf.extractall(tmp_path / "unpacked")
        home = tmp_path / "unpacked" / name
        lines = [l for l in (home / "requirements.txt").read_text().splitlines() if l and not l.startswith("#")]
        shipped = {canonicalize_name(l.split("==")[0]) for l in lines}
        imported = {canonicalize_name(sorted(owners[m])[0]) for m in _static_imports(home)}
        expected = imported | {canonicalize_name(p) for p in (*SELF_CHECK_PACKAGES, *TOOLS)}
        assert shipped == expected, (
            f"{name}: requirements.txt has {sorted(shipped - expected)} that nothing imports and lacks "
            f"{sorted(expected - shipped)}"
        )
        assert all(l == pinned[canonicalize_name(l.split('==')[0])] for l in lines), f"{name}: {lines} not as pinned"
        for tool in ("jupyter-book", "sphinx", "pytest", "playwright", "psycopg2-binary", "nbgrader", "opacus"):
            assert tool not in shipped, f"{name}: {tool} is for the book, the tests or the instructor, not the student"
        readme = (home / "README.txt").read_text()
        assert "jupyter lab" in readme, "TOOLS says README.txt opens the notebook with jupyter lab"
        if "torch" in shipped:
            assert f"pip install {pinned['torch']} --index-url https://download.pytorch.org/whl/cpu" in readme, readme
            assert "CUDA" in readme, "README.txt should say what the plain PyPI torch is"
        sizes.append((name, len(shipped), _installed_closure(shipped)))

    everything = _installed_closure(set(pinned))
    log = [f"installed size from this venv's metadata (the RECORD files; torch is the CPU build here): "
           f"the whole requirements.txt, {len(everything)} distributions, {_installed_mb(everything):.0f} MiB"]
    for name, direct, closure in sizes:
        log.append(f"{name}: {direct} pinned, {len(closure)} with dependencies, {_installed_mb(closure):.0f} MiB "
                   f"installed ({_installed_mb(closure - {'torch'}):.0f} MiB without torch itself)")

    # pip, offline, against this venv: the pins resolve with what the course installs (all already satisfied)
    req = tmp_path / "unpacked" / ASSIGNMENT / "requirements.txt"
    start = time.monotonic()
    dry = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--disable-pip-version-check",
                          "-r", str(req)], capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - start
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "Would install" not in dry.stdout, dry.stdout
    log.append(f"pip install --dry-run --no-index -r {ASSIGNMENT}/requirements.txt against this venv: {elapsed:.1f} s "
               "(resolution only: a real install downloads, which the tests may not do)")
    # the terminal (pytest -s or -n 0), the junit report, and a file that survives pytest-xdist's workers
    out = REPO / "_build" / "logs" / "bundle-requirements.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(log) + "\n")
    record_property("bundle_requirements", "\n".join(log))
    with capsys.disabled():
        print("\n" + "\n".join(f"[bundle requirements] {line}" for line in log) + f"\n[bundle requirements] (also in {out})")
