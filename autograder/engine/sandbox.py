"""Where and how the student's code runs when grading: bubblewrap, another user, limits.

Isolation model (``--sandbox bwrap``, the default when Debian's ``bubblewrap`` is
installed):

- **Files.** The worker sees a fresh root: the system's ``/usr`` (read-only), the
  Python installation and this virtual environment (read-only), the ``lrlab``
  package and the worker's own two modules (read-only), a private ``/tmp`` and
  ``/dev``, and the submission's own folder at ``/submission`` (read-write, its
  working directory). ``solutions/``, the gradebook, the hidden tests, the course
  directory and the other students' submissions do not exist in it.
- **Network.** A new, empty network namespace: no interface but loopback.
- **Processes.** A new PID namespace (it cannot see or signal other processes;
  when the worker goes, everything it started goes with it) and a new session.
- **User.** When the grader runs as root, the worker runs as a throwaway
  unprivileged uid of its own (no files anywhere belong to it; the process limit
  counts only its processes); otherwise as the grader's own user inside a user
  namespace.
- **Limits** (``setrlimit``): address space (``memory_mb``), processes and threads
  (``max_processes``), size of any file written (``max_file_mb``), no core dumps.

Not isolated: CPU time taken from other programs on the machine (time limits stop
runaway code), and world-readable system files under ``/usr``.

``--sandbox none`` keeps the two-process design and the limits but not the file,
network and process isolation: for machines without bubblewrap, with a warning.

Two ways to start the worker, one box: :func:`worker_command` gives the command line
of a fresh worker (``bwrap ... -- setpriv ... python worker.py``); :func:`spawn_worker`
has the worker template of :mod:`autograder.engine.zygote` fork one, which, with
bubblewrap, joins a box that bwrap built from that same command line (a placeholder
``sleep`` holds it open; the fork enters its namespaces and root, then drops to the
same uid, capabilities and limits). What the student's code can see differs only in
that numpy, scipy and torch are already imported, the placeholder is one more process
(root's, which it cannot signal) in its pid namespace, and ``os.getppid()`` is 0 (its
parent is outside the box) instead of 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SandboxConfig", "bwrap_path", "resolve_mode", "worker_command", "spawn_worker", "sandbox_uid",
           "SANDBOX_MODES"]

SANDBOX_MODES = ("auto", "bwrap", "none")
#: Workers of a root grader run as uid ``UID_BASE + <checker pid>``: unprivileged, with no
#: files anywhere, and one per submission being graded, so that one student's fork bomb
#: exhausts only its own process limit, not that of a submission graded next to it.
UID_BASE = 100_000


def sandbox_uid() -> int:
    """The throwaway unprivileged uid of this checker's workers (when the grader is root)."""
    return UID_BASE + os.getpid()
_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class SandboxConfig:
    """Limits and isolation for one student worker.

    Attributes
    ----------
    mode : {"auto", "bwrap", "none"}
        ``auto`` uses bubblewrap when installed, else ``none``.
    forbidden : tuple of str
        Modules of the reference package that solve the assignment (e.g.
        ``("lrlab.nqm",)``): with bubblewrap, their files are replaced in the
        worker's view by a module that raises ImportError saying why, so the
        student cannot call the reference implementation (academic integrity).
    memory_mb : int
        Address-space limit of the worker in MiB (torch alone maps about 700).
    max_processes : int
        Processes and threads the worker's user may have (fork bombs stop there).
    max_file_mb : int
        Largest file the worker may write, in MiB.
    """

    mode: str = "auto"
    memory_mb: int = 4096
    max_processes: int = 256
    max_file_mb: int = 256
    extra_ro: tuple = field(default_factory=tuple)
    forbidden: tuple = field(default_factory=tuple)

    def __post_init__(self):
        if self.mode not in SANDBOX_MODES:
            raise ValueError(f"sandbox must be one of {', '.join(SANDBOX_MODES)}, got sandbox={self.mode!r}")
        for name in ("memory_mb", "max_processes", "max_file_mb"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
        if not isinstance(self.extra_ro, (tuple, list)) or not all(
            isinstance(p, str) and os.path.isabs(p) and os.path.normpath(p) != "/" for p in self.extra_ro
        ):
            raise ValueError(
                f"extra_ro must be a tuple of absolute paths other than '/', got extra_ro={self.extra_ro!r}"
            )
        if not isinstance(self.forbidden, (tuple, list)) or not all(
            isinstance(m, str) and m.startswith("lrlab.") and m.count(".") == 1 and m.split(".")[1].isidentifier()
            for m in self.forbidden
        ):
            raise ValueError(
                "forbidden must be a tuple of lrlab module names such as 'lrlab.nqm', "
                f"got forbidden={self.forbidden!r}"
            )
        if self.memory_mb < 1024:
            raise ValueError(
                f"memory_mb must be at least 1024 (Python with numpy and torch needs about 800 MiB of "
                f"address space), got memory_mb={self.memory_mb!r}"
            )


def bwrap_path() -> str | None:
    """The ``bwrap`` executable, or ``None`` when bubblewrap is not installed."""
    return shutil.which("bwrap")


def resolve_mode(config: SandboxConfig) -> str:
    """``"bwrap"`` or ``"none"``; raises ``RuntimeError`` if bwrap is asked for but missing."""
    if config.mode == "none":
        return "none"
    if bwrap_path() is None:
        if config.mode == "bwrap":
            raise RuntimeError(
                "sandbox='bwrap' but bubblewrap is not installed: install it (Debian: apt-get install "
                "bubblewrap) or grade with --sandbox none (no file or network isolation)"
            )
        return "none"
    return "bwrap"


def _python_roots() -> list[str]:
    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    exe = os.path.realpath(sys.executable)
    roots.add(os.path.dirname(os.path.dirname(exe)))
    # The worker is started as sys.executable, unresolved: a venv reached through a symlink (a
    # symlinked .venv, /home -> /var/home) must exist in the box under that name too.
    roots.add(os.path.abspath(sys.prefix))
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(sys.executable))))
    return sorted(r for r in roots if not r.startswith("/usr"))


def _lrlab_dir() -> str | None:
    try:
        import importlib.util

        spec = importlib.util.find_spec("lrlab")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.realpath(list(spec.submodule_search_locations)[0])


def _env(workdir_in_box: str) -> dict:
    env = {
        "PATH": os.path.dirname(sys.executable) + ":/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", "1"),
        "PWD": workdir_in_box,
    }
    for key in ("LRLAB_DEVICE", "CUDA_VISIBLE_DEVICES", "VIRTUAL_ENV"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _limits(config: SandboxConfig, drop_to_nobody: bool):
    memory = config.memory_mb * 1024**2
    fsize = config.max_file_mb * 1024**2
    nproc = config.max_processes

    def apply() -> None:  # runs in the child between fork and exec
        os.setsid()
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        if drop_to_nobody or os.geteuid() != 0:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))

    return apply


_STUB = '''"""Not available when grading (see the ImportError below)."""
raise ImportError(
    "{module} is the course's reference implementation of what this assignment asks you to write, so "
    "graded runs cannot import it: write your own (numpy, torch and the other lrlab modules are "
    "available). Your notebook could import it on your own machine; when grading it cannot."
)
'''
_INIT = '''"""lrlab, as a graded notebook sees it: the package without the re-export of lrlab.schedules."""
__version__ = "graded"
'''


def _forbid(forbidden, workdir: str) -> list:
    """bwrap arguments that replace the forbidden lrlab modules by stubs raising ImportError."""
    lrlab = _lrlab_dir()
    if not forbidden or lrlab is None:
        return []
    stubs = os.path.join(os.path.dirname(workdir), ".forbidden-" + os.path.basename(workdir))
    os.makedirs(stubs, exist_ok=True)
    argv = []
    for module in forbidden:
        name = module.split(".")[1]
        stub = os.path.join(stubs, name + ".py")
        with open(stub, "w", encoding="utf-8") as fh:
            fh.write(_STUB.format(module=module))
        target = os.path.join(lrlab, name + ".py")
        if os.path.exists(target):
            argv += ["--ro-bind", stub, target]
    if "lrlab.schedules" in forbidden:  # the package's __init__ re-exports it
        init = os.path.join(stubs, "__init__.py")
        with open(init, "w", encoding="utf-8") as fh:
            fh.write(_INIT)
        argv += ["--ro-bind", init, os.path.join(lrlab, "__init__.py")]
    if os.path.isdir(os.path.join(lrlab, "__pycache__")):
        argv += ["--tmpfs", os.path.join(lrlab, "__pycache__")]  # no compiled copies of the real modules
    return argv


def worker_command(workdir: os.PathLike | str, config: SandboxConfig):
    """The command line, environment and pre-exec hook that start one student worker.

    Parameters
    ----------
    workdir : path-like
        The submission's own folder (the only place the worker may write).
    config : SandboxConfig

    Returns
    -------
    argv : list of str
    env : dict
    preexec : callable
        Sets the session and resource limits in the child (pass as ``preexec_fn``).
    mode : str
        ``"bwrap"`` or ``"none"``.
    """
    mode = resolve_mode(config)
    workdir = os.path.realpath(workdir)
    root = os.geteuid() == 0
    worker = os.fspath(_HERE / "worker.py")
    python = sys.executable
    if mode == "none":
        env = _env(workdir)
        env["TMPDIR"] = env["HOME"] = workdir
        env["MPLCONFIGDIR"] = os.path.join(workdir, ".matplotlib")
        env["AUTOGRADER_FORBIDDEN"] = ",".join(config.forbidden)  # H5 (#15): engine/guard.py's import hook
        return [python, worker], env, _limits(config, False), mode

    uid = sandbox_uid()
    if root:
        os.chown(workdir, uid, uid)
        for dirpath, dirnames, filenames in os.walk(workdir):
            for name in dirnames + filenames:
                try:
                    os.lchown(os.path.join(dirpath, name), uid, uid)
                except OSError:
                    pass
    box = "/submission"
    argv = [bwrap_path(), "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    if not root:  # root drops to nobody inside instead (setpriv below), so RLIMIT_NPROC applies
        argv += ["--unshare-user"]
    argv += ["--ro-bind", "/usr", "/usr"]
    for link in ("bin", "sbin", "lib", "lib64", "lib32"):
        target = os.path.join("/", link)
        if os.path.islink(target):
            argv += ["--symlink", os.readlink(target), target]
        elif os.path.isdir(target):
            argv += ["--ro-bind", target, target]
    # /proc, /dev and the private /tmp first: the binds below may lie under /tmp (a checkout there)
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives", "/etc/ssl/certs", "/etc/nsswitch.conf"):
        argv += ["--ro-bind-try", etc, etc]
    binds = _python_roots() + [os.fspath(_HERE)] + [p for p in [_lrlab_dir()] if p] + list(config.extra_ro)
    parents = sorted({os.fspath(q) for b in binds for q in Path(b).parents if os.fspath(q) not in ("/", "/usr")},
                     key=lambda q: (q.count("/"), q))
    for parent in parents:  # bwrap would make them 0700: nobody could not pass through
        if not parent.startswith("/usr/") and parent not in ("/tmp", "/proc", "/dev"):
            argv += ["--perms", "0755", "--dir", parent]
    for path in binds:
        argv += ["--ro-bind", path, path]
    argv += _forbid(config.forbidden, workdir)
    gpus = sorted(Path("/dev").glob("nvidia*"))
    for dev in gpus:  # CUDA: the device nodes, and /sys for the driver to enumerate them
        argv += ["--dev-bind-try", os.fspath(dev), os.fspath(dev)]
    if gpus:
        argv += ["--ro-bind-try", "/sys", "/sys"]
    argv += ["--bind", workdir, box, "--chdir", box]
    argv += ["--"]
    if root:
        argv += ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    argv += [python, worker]
    env = _env(box)
    env["AUTOGRADER_FORBIDDEN"] = ",".join(config.forbidden)  # H5 (#15): engine/guard.py's import hook
    return argv, env, _limits(config, root), mode


def _box(workdir: str, config: SandboxConfig):
    """Start :func:`worker_command`'s bwrap box with a placeholder instead of the worker.

    The placeholder (``sh -c 'echo; exec sleep infinity'``, root in the box, holding
    nothing) prints a line once bwrap has built the box and pivoted into it; then the
    descriptors of the box's namespaces (those that differ from this process's) and of
    its root directory are opened through ``/proc/<bwrap's child>/``.

    Returns
    -------
    box : subprocess.Popen
        bwrap (``--die-with-parent``: the box ends with the checker, or when killed).
    names : list of str
        The namespace names of ``fds`` (see :data:`autograder.engine.zygote.NAMESPACES`), then ``"root"``.
    fds : list of int
    env : dict
        The worker's environment, as :func:`worker_command` gives it.
    """
    from .zygote import NAMESPACES

    argv, env, preexec, _ = worker_command(workdir, config)
    cut = argv.index("--")
    r, w = os.pipe()
    argv = argv[:1] + ["--info-fd", str(w)] + argv[1:cut] + ["--", "/usr/bin/sh", "-c", "echo; exec sleep infinity"]
    try:
        box = subprocess.Popen(argv, env=env, preexec_fn=preexec, pass_fds=[w], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/")
    finally:
        os.close(w)
    try:
        if box.stdout.readline() != b"\n":
            raise RuntimeError(f"bwrap failed: {box.stderr.read().decode(errors='replace').strip()}")
        box.stdout.close()
        info = b""
        while True:  # bwrap writes {"child-pid": N} and closes the descriptor
            chunk = os.read(r, 4096)
            if not chunk:
                break
            info += chunk
            with contextlib.suppress(ValueError):
                json.loads(info)
                break
        pid = int(json.loads(info)["child-pid"])
    except BaseException:
        os.close(r)
        box.kill()
        box.wait()
        raise
    os.close(r)
    names, fds = [], []
    try:
        for name, _ in NAMESPACES:
            if os.stat(f"/proc/{pid}/ns/{name}").st_ino != os.stat(f"/proc/self/ns/{name}").st_ino:
                fds.append(os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC))
                names.append(name)
        fds.append(os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        names.append("root")
        if "mnt" not in names or "pid" not in names or not os.path.isdir(f"/proc/{pid}/root/submission"):
            raise RuntimeError("the bwrap box has no mount or pid namespace of its own, or no /submission")
        if box.poll() is not None:  # the box ended: the pid may name another process by now
            raise RuntimeError("the bwrap box exited before the worker joined it")
    except BaseException:
        for fd in fds:
            os.close(fd)
        box.kill()
        box.wait()
        raise
    return box, names, fds, env


def spawn_worker(zygote_socket: str, workdir: os.PathLike | str, config: SandboxConfig):
    """The student's worker, forked by the worker template of :mod:`autograder.engine.zygote`.

    The same worker as ``Popen(worker_command(...))`` gives, without starting an
    interpreter: with bubblewrap, :func:`_box` builds the box from :func:`worker_command`'s
    argv (the one place that decides what the worker sees) and the template's fork joins
    it; without, the fork gets :func:`worker_command`'s environment, limits and folder.

    Parameters
    ----------
    zygote_socket : str
        The worker template's socket (``AUTOGRADER_WORKER_ZYGOTE``, set by the checker's template).
    workdir : path-like
    config : SandboxConfig

    Returns
    -------
    child : autograder.engine.zygote.Forked
        ``pid``, ``poll()``, ``wait()``, ``kill()``, ``close()``, ``returncode`` (128 + signal when killed).
    stdin, stdout, stderr : file objects
        The checker's ends of the worker's three pipes, as ``Popen(..., PIPE)`` gives them.
    mode : str
        ``"bwrap"`` or ``"none"``.

    Raises
    ------
    OSError
        The template cannot be reached (the caller starts a fresh worker instead).
    """
    from .zygote import Forked

    mode = resolve_mode(config)
    workdir = os.path.realpath(workdir)
    limits = {"memory_mb": config.memory_mb, "file_mb": config.max_file_mb, "nproc": config.max_processes}
    pipes = [os.pipe() for _ in range(3)]
    theirs = [pipes[0][0], pipes[1][1], pipes[2][1]]
    ours = [pipes[0][1], pipes[1][0], pipes[2][0]]
    box, extra = None, []
    try:
        if mode == "bwrap":
            box, names, extra, env = _box(workdir, config)
            msg = {"mode": mode, "namespaces": names, "limits": limits, "env": env,
                   "uid": sandbox_uid() if os.geteuid() == 0 else None}
        else:
            _, env, _, _ = worker_command(workdir, config)
            msg = {"mode": mode, "cwd": workdir, "limits": limits, "env": env, "uid": None}
        child = Forked(zygote_socket, msg, theirs + extra)
    except BaseException:
        for fd in ours:
            os.close(fd)
        if box is not None:
            box.kill()
            box.wait()
        raise
    finally:
        for fd in theirs + extra:
            os.close(fd)
    if box is not None:
        child.extra_kill.append(box)
    return child, os.fdopen(ours[0], "wb"), os.fdopen(ours[1], "rb"), os.fdopen(ours[2], "rb"), mode
