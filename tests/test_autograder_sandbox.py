"""Unit tests of :mod:`autograder.engine.sandbox`: configuration, mode choice, the worker's command line,
the limits, and (with bubblewrap installed) what a student's cell can and cannot reach.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import autograder.engine.sandbox as sandbox
from autograder.engine.checker import run_job
from autograder.engine.sandbox import SandboxConfig, resolve_mode, worker_command
from conftest import require_system

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- SandboxConfig


def test_defaults_are_valid():
    config = SandboxConfig()
    assert (config.mode, config.memory_mb, config.max_processes, config.max_file_mb) == ("auto", 4096, 256, 256)


def test_unknown_mode_names_the_argument_and_value():
    with pytest.raises(ValueError, match=r"sandbox must be one of auto, bwrap, none, got sandbox='docker'"):
        SandboxConfig(mode="docker")


@pytest.mark.parametrize("name", ["memory_mb", "max_processes", "max_file_mb"])
@pytest.mark.parametrize("value", [0, -5, 2.5, "2048", True, None])
def test_limits_must_be_positive_integers(name, value):
    with pytest.raises(ValueError, match=rf"{name} must be a positive integer, got {name}={value!r}"):
        SandboxConfig(**{name: value})


def test_memory_below_what_python_needs_is_refused():
    with pytest.raises(ValueError, match=r"memory_mb must be at least 1024 .*got memory_mb=512"):
        SandboxConfig(memory_mb=512)
    assert SandboxConfig(memory_mb=1024).memory_mb == 1024


def test_extra_ro_must_be_a_sequence_of_absolute_paths():
    with pytest.raises(ValueError, match="extra_ro"):
        SandboxConfig(extra_ro="/data")


def test_extra_ro_paths_are_bound_read_only(tmp_path, fake_bwrap, monkeypatch):
    monkeypatch.setattr(os, "chown", lambda *a: None)
    monkeypatch.setattr(os, "lchown", lambda *a: None)
    argv, *_ = worker_command(tmp_path, SandboxConfig(mode="bwrap", extra_ro=("/data",)))
    pairs = {(argv[k + 1], argv[k + 2]) for k, a in enumerate(argv) if a == "--ro-bind"}
    assert ("/data", "/data") in pairs and ("/", "/") not in pairs


# --------------------------------------------------------------------------- resolve_mode


@pytest.fixture
def no_bwrap(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)


@pytest.fixture
def fake_bwrap(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: "/usr/bin/bwrap")


def test_auto_falls_back_to_none_without_bwrap(no_bwrap):
    assert resolve_mode(SandboxConfig(mode="auto")) == "none"


def test_none_is_none_without_bwrap(no_bwrap):
    assert resolve_mode(SandboxConfig(mode="none")) == "none"


def test_asking_for_bwrap_without_it_says_what_to_do(no_bwrap):
    with pytest.raises(RuntimeError, match="bubblewrap is not installed") as info:
        resolve_mode(SandboxConfig(mode="bwrap"))
    assert "apt-get install bubblewrap" in str(info.value) and "--sandbox none" in str(info.value)


def test_auto_uses_bwrap_when_installed(fake_bwrap):
    assert resolve_mode(SandboxConfig(mode="auto")) == "bwrap"
    assert resolve_mode(SandboxConfig(mode="bwrap")) == "bwrap"
    assert resolve_mode(SandboxConfig(mode="none")) == "none"


# --------------------------------------------------------------------------- worker_command, mode none


def test_worker_command_in_none_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_SECRET_TOKEN", "do-not-leak")
    argv, env, preexec, mode = worker_command(tmp_path, SandboxConfig(mode="none"))
    assert mode == "none"
    assert argv == [sys.executable, os.fspath(REPO / "autograder" / "engine" / "worker.py")]
    real = os.path.realpath(tmp_path)
    assert env["HOME"] == env["TMPDIR"] == real
    assert env["MPLCONFIGDIR"].startswith(real)
    assert env["MPLBACKEND"] == "Agg"
    assert "GRADER_SECRET_TOKEN" not in env, "the grader's environment must not reach the student"
    assert callable(preexec)


def test_none_mode_applies_the_limits(tmp_path):
    config = SandboxConfig(mode="none", memory_mb=1536, max_file_mb=3, max_processes=77)
    argv, env, preexec, _ = worker_command(tmp_path, config)
    probe = ("import json, os, resource as r\n"
             "print(json.dumps([r.getrlimit(r.RLIMIT_AS)[0], r.getrlimit(r.RLIMIT_FSIZE)[0], "
             "r.getrlimit(r.RLIMIT_CORE)[0], r.getrlimit(r.RLIMIT_NPROC)[0], os.getsid(0) == os.getpid()]))")
    out = subprocess.run([sys.executable, "-c", probe], preexec_fn=preexec, env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    as_, fsize, core, nproc, own_session = json.loads(out)
    assert as_ == 1536 * 1024**2 and fsize == 3 * 1024**2 and core == 0 and own_session
    if os.geteuid() != 0:
        assert nproc == 77


def test_worker_command_in_bwrap_mode_isolates(tmp_path, fake_bwrap, monkeypatch):
    monkeypatch.setattr(os, "chown", lambda *a: None)
    monkeypatch.setattr(os, "lchown", lambda *a: None)
    argv, env, _, mode = worker_command(tmp_path, SandboxConfig(mode="bwrap"))
    assert mode == "bwrap" and argv[0] == "/usr/bin/bwrap"
    for flag in ("--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session"):
        assert flag in argv
    i = argv.index("--bind")
    assert argv[i + 1:i + 3] == [os.path.realpath(tmp_path), "/submission"]
    assert argv.count("--bind") == 1, "the submission's folder is the only writable bind"
    bound = {argv[k + 1] for k, a in enumerate(argv) if a in ("--ro-bind", "--bind", "--ro-bind-try")}
    for secret in (REPO / "solutions", REPO, REPO / "tests", Path.home()):
        assert os.fspath(secret) not in bound
    assert env["PWD"] == "/submission" and env["HOME"] == "/tmp"
    assert argv[-1] == os.fspath(REPO / "autograder" / "engine" / "worker.py")
    if os.geteuid() == 0:
        assert "/usr/bin/setpriv" in argv and "--no-new-privs" in argv
        assert f"--reuid={sandbox.sandbox_uid()}" in argv
    else:
        assert "--unshare-user" in argv


# --------------------------------------------------------------------------- limits, in a real job


def run_cells(tmp_path, sources, *, mode, **sandbox_kw):
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    job = {
        "cells": [{"index": i, "role": "student", "source": s, "name": f"c{i}"} for i, s in enumerate(sources)],
        "expected": [], "timeout": 60, "workdir": os.fspath(workdir),
        "sandbox": {"mode": mode, **sandbox_kw},
    }
    result = run_job(job, os.fspath(tmp_path / "result.json"))
    assert result["mode"] == mode
    outs = []
    for i in range(len(sources)):
        outs.append("".join(o.get("text", "") or f"{o.get('ename')}: {o.get('evalue')}\n"
                            for o in result["outputs"][str(i)]))
    return outs


def test_file_size_limit_applies(tmp_path):
    (out,) = run_cells(tmp_path, [
        "try:\n    open('big.bin', 'wb').write(b'x' * (2 * 1024**2))\n    print('WROTE')\n"
        "except OSError as exc:\n    print('BLOCKED', exc.errno)\n"], mode="none", max_file_mb=1)
    assert out.startswith("BLOCKED"), out


def test_memory_limit_applies(tmp_path):
    (out,) = run_cells(tmp_path, [
        "try:\n    block = bytearray(3 * 1024**3)\n    print('ALLOCATED')\nexcept MemoryError:\n    print('BLOCKED')\n"],
        mode="none", memory_mb=1024)
    assert out.strip() == "BLOCKED", out


# --------------------------------------------------------------------------- bubblewrap


@pytest.fixture
def bwrap():
    return require_system("bwrap", "apt-get install bubblewrap")


PROBE = """
def attempt(label, fn):
    try:
        fn()
        print(label, 'OK')
    except BaseException as exc:
        print(label, 'BLOCKED', type(exc).__name__)
"""


def test_bwrap_blocks_reads_writes_network_and_root(tmp_path, bwrap):
    secret = tmp_path / "secret.txt"
    secret.write_text("the answers")
    escape = tmp_path / f"escape-{uuid.uuid4().hex}.txt"
    host_tmp = Path("/tmp") / f"units-sandbox-{uuid.uuid4().hex}"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    sources = [PROBE + f"""
import os, socket
attempt('read-host-file', lambda: open({os.fspath(secret)!r}).read())
attempt('read-solutions', lambda: os.listdir({os.fspath(REPO / 'solutions')!r}))
attempt('read-readme', lambda: open({os.fspath(REPO / 'README.md')!r}).read())
attempt('write-outside', lambda: open({os.fspath(escape)!r}, 'w').write('x'))
attempt('write-repo', lambda: open({os.fspath(REPO / 'autograder' / 'pwned.py')!r}, 'w').write('x'))
attempt('write-usr', lambda: open('/usr/pwned', 'w').write('x'))
attempt('connect', lambda: socket.create_connection(('127.0.0.1', {port}), timeout=2))
attempt('write-own', lambda: open('mine.txt', 'w').write('ok'))
attempt('write-tmp', lambda: open({os.fspath(host_tmp)!r}, 'w').write('ok'))
print('uid', os.getuid(), os.geteuid())
print('cwd', os.getcwd())
print('procs', len([p for p in os.listdir('/proc') if p.isdigit()]))
"""]
    try:
        (out,) = run_cells(tmp_path, sources, mode="bwrap")
        try:
            conn, _ = listener.accept()
            conn.close()
            reached = True
        except BlockingIOError:
            reached = False
    finally:
        listener.close()
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    for label in ("read-host-file", "read-solutions", "read-readme", "write-outside", "write-repo", "write-usr",
                  "connect"):
        assert lines.get(label, "").startswith("BLOCKED"), f"{label}: {lines.get(label)!r}\n{out}"
    assert not reached, "the student's process reached a listener on the grader's loopback"
    assert lines["write-own"] == "OK" and lines["write-tmp"] == "OK", out
    assert (tmp_path / "work" / "mine.txt").read_text() == "ok"
    assert not escape.exists() and not host_tmp.exists(), "a write outside the sandbox reached the host"
    assert not (REPO / "autograder" / "pwned.py").exists()
    uid, euid = map(int, lines["uid"].split())
    if os.geteuid() == 0:
        assert uid != 0 and euid != 0, "a root grader's worker must not run as root"
    assert lines["cwd"] == "/submission"
    assert int(lines["procs"]) < 10, "the worker sees processes outside its own PID namespace"


def test_bwrap_workers_cannot_see_a_fresh_host_process(tmp_path, bwrap):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out,) = run_cells(tmp_path, [
            f"import os\ntry:\n    os.kill({sleeper.pid}, 0)\n    print('SEEN')\n"
            "except ProcessLookupError:\n    print('HIDDEN')\nexcept PermissionError:\n    print('SEEN')\n"],
            mode="bwrap")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert out.strip() == "HIDDEN", out
