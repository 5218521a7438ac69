"""The worker's forbidden-module guard (autograder/engine/guard.py): the reference modules refused in every mode.

Each check runs in a fresh interpreter (the guard changes ``sys.meta_path`` and ``sys.modules``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.engine import guard
from autograder.engine.sandbox import _STUB, SandboxConfig, bwrap_path, worker_command

REPO = Path(__file__).resolve().parents[1]

_PROBE = r"""
import importlib, json, sys
{before}
from autograder.engine.guard import install
install({forbidden!r})
out = {{}}
for stmt in {statements!r}:
    try:
        exec(stmt, {{"importlib": importlib}})
        out[stmt] = "ok"
    except Exception as exc:
        out[stmt] = type(exc).__name__ + ": " + str(exc)
print(json.dumps(out))
"""


def _probe(forbidden, statements, before=""):
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(forbidden=forbidden, statements=statements,
                                                               before=before)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _stub_error(module: str) -> str:
    """What importing bwrap's stub file of ``module`` raises."""
    try:
        exec(_STUB.format(module=module), {})
    except ImportError as exc:
        return f"ImportError: {exc}"
    raise AssertionError("the stub did not raise")


def test_every_way_of_importing_a_forbidden_module_raises_the_stubs_error():
    statements = ["import lrlab.pac_bayes", "from lrlab import pac_bayes", "from lrlab.pac_bayes import gaussian_kl",
                  "importlib.import_module('lrlab.pac_bayes')", "__import__('lrlab.pac_bayes')",
                  "import lrlab.device, lrlab.plotting", "import numpy"]
    got = _probe(["lrlab.pac_bayes"], statements)
    refused = _stub_error("lrlab.pac_bayes")
    for stmt in statements[:5]:
        assert got[stmt] == refused, (stmt, got[stmt])
    assert got["import lrlab.device, lrlab.plotting"] == "ok" and got["import numpy"] == "ok", got


def test_forbidding_schedules_keeps_the_package_importable_as_bwrap_does():
    got = _probe(["lrlab.schedules"], ["import lrlab.device", "from lrlab import cosine_schedule",
                                       "import lrlab.schedules",
                                       "import lrlab; assert lrlab.__version__ == 'graded', lrlab.__version__"])
    assert got["import lrlab.device"] == "ok", got
    assert got["from lrlab import cosine_schedule"].startswith("ImportError: cannot import name 'cosine_schedule'")
    assert got["import lrlab.schedules"] == _stub_error("lrlab.schedules")
    assert got["import lrlab; assert lrlab.__version__ == 'graded', lrlab.__version__"] == "ok", got


def test_modules_imported_before_the_guard_are_dropped():
    """A pre-imported template process (fork server) must not hand the reference over."""
    got = _probe(["lrlab.pac_bayes"], ["import lrlab.pac_bayes", "import lrlab; lrlab.pac_bayes",
                                       "import lrlab.device; lrlab.device"],
                 before="import lrlab.pac_bayes, lrlab.device")
    assert got["import lrlab.pac_bayes"] == _stub_error("lrlab.pac_bayes")
    assert got["import lrlab; lrlab.pac_bayes"] != "ok", "the old package object still holds the module"
    assert got["import lrlab.device; lrlab.device"] == "ok", got


def test_a_module_that_does_not_exist_is_pythons_own_error():
    got = _probe(["lrlab.nosuch"], ["import lrlab.nosuch"])
    assert got["import lrlab.nosuch"].startswith("ModuleNotFoundError: No module named 'lrlab.nosuch'"), got


def test_the_list_travels_in_the_environment(monkeypatch):
    assert guard.forbidden_from_env({guard.ENV: "lrlab.nqm, lrlab.pac_bayes,,"}) == ["lrlab.nqm", "lrlab.pac_bayes"]
    assert guard.install_from_env({}) is None and guard.install([]) is None, "nothing forbidden: no hook"


@pytest.mark.parametrize("mode", ["none", "bwrap"])
def test_worker_command_passes_the_list_in_every_mode(tmp_path, mode):
    if mode == "bwrap" and bwrap_path() is None:
        from conftest import require_system

        require_system("bwrap", "apt-get install bubblewrap")
    _, env, _, got = worker_command(tmp_path, SandboxConfig(mode=mode, forbidden=("lrlab.nqm", "lrlab.pac_bayes")))
    assert got == mode
    assert guard.forbidden_from_env(env) == ["lrlab.nqm", "lrlab.pac_bayes"]
