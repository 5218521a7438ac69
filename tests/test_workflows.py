"""The GitHub Actions workflows that publish the book (issue #16, item 2).

Nothing here reaches GitHub: the workflows are validated against GitHub's workflow schema
(vendored by ``check-jsonschema``; no download), and what they must do is read from the YAML:
build with ``make book`` (the Makefile's ``--warningiserror --nitpick --keep-going``), cache
``_build/.jupyter_cache``, upload ``_build/html`` with ``actions/upload-pages-artifact``, deploy
with ``actions/deploy-pages`` in a separate job of environment ``github-pages``, upload
``_build/html/reports`` when the build fails, and check links every night with Sphinx's
linkcheck builder. The commands they run are the Makefile's own targets.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
BOOK = WORKFLOWS / "book.yml"
LINKCHECK = WORKFLOWS / "linkcheck.yml"


def _check_jsonschema() -> str:
    exe = Path(sys.executable).with_name("check-jsonschema")
    if not exe.exists():
        pytest.fail(f"check-jsonschema is not installed next to {sys.executable}; run `make setup` first")
    return str(exe)


def _validate(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.github-workflows", *map(str, files)],
                          capture_output=True, text=True, timeout=120)


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as the boolean True
    if True in data:
        data["on"] = data.pop(True)
    return data


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def _uses(job: dict, action: str) -> list[dict]:
    return [s for s in _steps(job) if s.get("uses", "").split("@")[0] == action]


def _runs(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in _steps(job))


def test_workflows_are_valid_github_workflows():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {BOOK, LINKCHECK} <= set(files), f"expected book.yml and linkcheck.yml in {WORKFLOWS}, found {files}"
    proc = _validate(*files)
    assert proc.returncode == 0, f"a workflow does not match GitHub's schema:\n{proc.stdout}\n{proc.stderr}"


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    """The validation above can fail: a step with a misspelt key and a job with no runner are refused."""
    data = _load(BOOK)
    data["jobs"]["build"]["steps"][0] = {"use": "actions/checkout@v4"}  # `use:` is not a step key
    del data["jobs"]["deploy"]["runs-on"]
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = _validate(broken)
    assert proc.returncode != 0, f"check-jsonschema accepted a broken workflow:\n{proc.stdout}"


def test_book_workflow_builds_with_make_book_and_caches_the_execution():
    wf = _load(BOOK)
    assert "push" in wf["on"] and wf["on"]["push"]["branches"] == ["main"], wf["on"]
    assert "pull_request" in wf["on"], "pull requests should build the book too"
    build = wf["jobs"]["build"]
    assert re.search(r"^make book$", _runs(build), re.M), "the build job must run `make book` (the Makefile's flags)"
    caches = _uses(build, "actions/cache")
    assert caches and caches[0]["with"]["path"] == "_build/.jupyter_cache", caches
    key = caches[0]["with"]["key"]
    assert "hashFiles('lrlab/**', 'requirements.txt')" in key, (
        "the execution cache is keyed by each notebook's code only: its key must change with lrlab/ and the pins")
    order = [s.get("uses", s.get("run", "")).split("@")[0] for s in _steps(build)]
    assert order.index("actions/cache") < next(i for i, s in enumerate(order) if s.startswith("make book")), (
        "the cache must be restored before the build")


def test_book_workflow_uploads_pages_and_deploys_in_a_separate_job():
    wf = _load(BOOK)
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    pages = _uses(build, "actions/upload-pages-artifact")
    assert pages and pages[0]["with"]["path"] == "_build/html", pages
    assert wf["permissions"] == {"contents": "read"}, "only the deploy job may write to Pages"
    assert deploy["needs"] == "build"
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}, deploy["permissions"]
    deployed = _uses(deploy, "actions/deploy-pages")
    assert deployed and deployed[0]["id"] == "deployment", deployed
    assert deploy["environment"]["url"] == "${{ steps.deployment.outputs.page_url }}"
    assert "refs/heads/main" in deploy["if"] and "pull_request" in deploy["if"], "pull requests must not deploy"


def test_book_workflow_uploads_the_reports_when_the_build_fails():
    build = _load(BOOK)["jobs"]["build"]
    reports = [s for s in _uses(build, "actions/upload-artifact") if s["with"]["path"] == "_build/html/reports"]
    assert reports and reports[0]["if"] == "failure()", reports


def test_linkcheck_runs_nightly_with_sphinx_linkcheck():
    wf = _load(LINKCHECK)
    crons = [entry["cron"] for entry in wf["on"]["schedule"]]
    assert crons and all(len(c.split()) == 5 and c.split()[2:] == ["*", "*", "*"] for c in crons), crons
    job = wf["jobs"]["linkcheck"]
    assert re.search(r"jupyter-book build \. --builder linkcheck", _runs(job)), _runs(job)


@pytest.mark.parametrize("workflow", [BOOK, LINKCHECK], ids=lambda p: p.name)
def test_workflow_make_targets_exist(workflow):
    """Each `make X` a workflow runs is a target of the Makefile (`make -n` lists its recipe)."""
    make = shutil.which("make")
    assert make, "make is not installed"
    runs = "\n".join(_runs(job) for job in _load(workflow)["jobs"].values())
    targets = re.findall(r"^\s*make (\w+)\s*$", runs, re.M)
    assert targets, f"{workflow.name} runs no make target"
    for target in targets:
        proc = subprocess.run([make, "-n", target], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{workflow.name} runs `make {target}`, which the Makefile lacks:\n{proc.stderr}"


def test_workflows_pin_torch_to_the_cpu_wheel_of_requirements():
    pin = re.search(r"^torch==(\S+)$", (REPO / "requirements.txt").read_text(), re.M).group(1)
    for workflow in (BOOK, LINKCHECK):
        runs = "\n".join(_runs(job) for job in _load(workflow)["jobs"].values())
        assert f"torch=={pin} --index-url https://download.pytorch.org/whl/cpu" in runs, (
            f"{workflow.name}: install torch=={pin} from the CPU index before make, or pip takes a CUDA build")
