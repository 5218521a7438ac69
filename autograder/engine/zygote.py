"""Fork servers ("zygotes"): the checker's and the worker's imports paid once, a fresh fork per notebook.

Starting a Python process that imports numpy, scipy and torch takes seconds, and
grading a notebook needs two of them (the checker and the student's worker).
Instead, the process that calls :func:`autograder.engine.run.run_notebook` keeps a
*pair of template processes*, started on first use and shared by all its threads:

``checker`` template
    ``python -m autograder.engine.zygote checker SOCKET``, with the caller's
    environment. It imports numpy, scipy, torch and matplotlib once, then only forks:
    per notebook a child that becomes ``python -m autograder.engine.checker JOB RESULT``
    (own session, the job's log on 1 and 2, the caller's environment and working
    directory of that moment).
``worker`` template
    ``python .../autograder/engine/zygote.py worker SOCKET`` (a plain script, as
    ``worker.py`` is run), started with the sandbox's clean environment
    (``sandbox._env("/submission")``) as its *whole* environment. It imports numpy,
    scipy and torch, never ``lrlab`` (it refuses to start if any ``lrlab`` module is
    loaded) and never the autograder package: it only ever receives worker requests
    (three pipe ends, the box's namespace descriptors, limits, a uid, the box's
    environment), so nothing about other jobs, the grader or the tests is in the
    memory a student's worker inherits. Per request, the child becomes the worker:

    - ``none``: its own session, the pipes on 0/1/2 and every other descriptor closed,
      rlimits, the submission's folder and environment (with the forbidden-module list
      of :mod:`autograder.engine.guard`, which ``worker.main`` installs first).
    - ``bwrap``: the checker has started ``bwrap <worker_command's argv> -- sh -c
      'echo; exec sleep infinity'`` (the box: mounts, stubs of forbidden modules,
      private /tmp and /dev, new pid, net, ipc, uts, cgroup (and user) namespaces;
      see :func:`autograder.engine.sandbox.spawn_worker`) and sends the descriptors
      of the box's namespaces and root. The child joins them as ``nsenter`` does
      (setns, fchdir and chroot to the box's root), forks once so that its child is
      inside the box's pid namespace, and that grandchild drops to the throwaway uid
      (bounding set emptied, groups cleared, setresgid/setresuid, capabilities
      cleared, no_new_privs), sets the limits, closes every other descriptor and runs
      :func:`worker.main`. The middle process waits and reports the status as bwrap
      does (128 + signal).

Each fork reseeds numpy's and torch's global generators from the OS (``random``
reseeds itself at fork), as a fresh interpreter would. A template has one thread
(checked after its imports; ``torch.set_num_threads(1)``, no torch op run), so no
lock is copied held into a fork.

Lifetime: :func:`shared` starts the pair lazily, once per process (thread-safe);
:func:`shutdown` (registered with ``atexit``) ends it. A template exits, killing its
children, when its parent's end of its stdin pipe closes (the parent exited or was
killed), so none outlives the process that started it. (``PR_SET_PDEATHSIG`` is not
used for the templates: it fires when the *thread* that started them ends, which in
a thread pool is not the end of the grader.) The forks themselves die with their
template (``PR_SET_PDEATHSIG``; the templates are single-threaded). A template
found dead is restarted once (on the same socket path, so the checkers already
running keep reaching the worker template); after that, or when a template cannot
start, :func:`spawn_checker` returns ``None`` and the caller runs today's fresh
processes, with a warning on the ``autograder.engine`` logger. Setting
``AUTOGRADER_ZYGOTE=0`` in the environment always takes the fresh path (so does any
system but Linux: the templates use Linux's namespaces, ``prctl`` and ``/proc``).

Protocol: a client connects to a template's unix socket (in a 0700 folder of the
grader), sends one JSON request with SCM_RIGHTS descriptors, gets ``{"pid": ...}``,
may send ``{"kill": true}``, and gets ``{"status": rc}`` when the child has exited.
When the client's connection closes, the template kills the child's process group.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import ctypes
import gc
import json
import logging
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

__all__ = ["ENV", "WORKER_SOCKET_ENV", "enabled", "shared", "shutdown", "spawn_checker", "Forked", "Pair",
           "PRELOAD", "RESTARTS"]

#: ``AUTOGRADER_ZYGOTE=0`` (or ``false``, ``no``, ``off``) makes every run start fresh processes.
ENV = "AUTOGRADER_ZYGOTE"
#: Tells a checker forked by the checker template where the worker template listens.
WORKER_SOCKET_ENV = "AUTOGRADER_WORKER_ZYGOTE"
#: How many times a template found dead is restarted before its runs take the fresh path for good.
RESTARTS = 1
#: Seconds a template may take to import its modules and say it is ready (slow disks, a loaded machine).
START_TIMEOUT_S = 300.0

log = logging.getLogger("autograder.engine")

# --------------------------------------------------------------------------- linux helpers

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 38
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
#: Joined in this order: the user namespace first (it owns the others), the mount namespace last.
NAMESPACES = (("user", CLONE_NEWUSER), ("cgroup", CLONE_NEWCGROUP), ("ipc", CLONE_NEWIPC),
              ("uts", CLONE_NEWUTS), ("net", CLONE_NEWNET), ("pid", CLONE_NEWPID), ("mnt", CLONE_NEWNS))


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def setns(fd: int, nstype: int) -> None:
    """Join the namespace ``fd`` (a ``/proc/PID/ns/*`` descriptor) of type ``nstype``."""
    _check(_libc.setns(fd, nstype), "setns")


def prctl(option: int, arg: int = 0) -> None:
    """``prctl(option, arg)``; raises OSError on failure."""
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


def drop_all_capabilities() -> None:
    """Empty the bounding, inheritable, permitted and effective sets (capset, version 3)."""
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    for cap in range(last + 1):
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError:
            pass  # not permitted without CAP_SETPCAP: then the setuid below already cleared the sets

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()
    number = {"x86_64": 126, "amd64": 126, "aarch64": 91, "arm64": 91}.get(os.uname().machine)
    if number is None:
        raise OSError(f"capset: unknown system call number on {os.uname().machine}")
    _check(_libc.syscall(number, ctypes.byref(header), ctypes.byref(data)), "capset")


def close_fds_except(keep=(0, 1, 2)) -> None:
    """Close every descriptor but ``keep``."""
    low = 0
    for fd in sorted(set(keep)) + [None]:
        if fd is None:
            os.closerange(low, 1 << 20)
            break
        if low < fd:
            os.closerange(low, fd)
        low = fd + 1


def send_msg(sock: socket.socket, obj: dict, fds=()) -> None:
    """One JSON line on ``sock``, with the descriptors ``fds`` (SCM_RIGHTS)."""
    data = json.dumps(obj).encode() + b"\n"
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    sock.sendmsg([data], anc)


def recv_msg(sock: socket.socket, maxfds: int = 16):
    """One newline-terminated JSON message and the descriptors that came with it; ``(None, [])`` at EOF."""
    buf, fds = b"", []
    while not buf.endswith(b"\n"):
        data, anc, flags, _ = sock.recvmsg(1 << 16, socket.CMSG_SPACE(maxfds * 4))
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.extend(array.array("i", payload[: len(payload) - len(payload) % 4]))
        if not data:
            for fd in fds:
                os.close(fd)
            return None, []
        buf += data
    return json.loads(buf), fds


def exit_code(status: int) -> int:
    """A wait status as bwrap reports it: the exit code, or 128 + the signal."""
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


# --------------------------------------------------------------------------- the template

#: What both templates import once (missing ones are skipped); the checker's also imports matplotlib.
PRELOAD = ("numpy", "scipy", "scipy.integrate", "scipy.linalg", "scipy.optimize", "scipy.special",
           "scipy.stats", "torch")
CHECKER_PRELOAD = PRELOAD + ("matplotlib", "matplotlib.pyplot")


def preload(modules=PRELOAD) -> None:
    """Import the heavy modules without starting any thread (fork copies only the calling thread)."""
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(key, "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)  # no torch op runs here: the intra-op pool is never started
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise RuntimeError(f"the zygote has {threads} threads after its imports: forking it would be unsafe")
    if any(m == "lrlab" or m.startswith("lrlab.") for m in sys.modules):
        raise RuntimeError("lrlab must not be imported in a zygote (forbidden modules would be in sys.modules)")


def fresh_random_state(env: dict | None = None) -> None:
    """Each fork draws its own seeds, as a fresh interpreter would (``random`` reseeds itself at fork)."""
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.seed()
        threads = (env or {}).get("OMP_NUM_THREADS", "1")
        if threads.isdigit() and int(threads) > 1:
            torch.set_num_threads(int(threads))  # the template's is 1; the pool starts here, in the fork


class Zygote:
    """The template's server: one select loop, one fork per request."""

    def __init__(self, kind: str, path: str):
        self.kind = kind
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a dead predecessor's socket (a restart binds the same path)
        self.listener.bind(path)
        os.chmod(path, 0o600)
        self.listener.listen(128)
        self.children: dict[int, socket.socket] = {}  # pid -> client connection
        self.conns: dict[socket.socket, int | None] = {}

    def serve(self) -> None:
        rfd, wfd = os.pipe()
        os.set_blocking(wfd, False)
        signal.set_wakeup_fd(wfd)
        signal.signal(signal.SIGCHLD, lambda *a: None)
        gc.collect()
        gc.freeze()  # the imported modules' objects stay put: the forks share their pages
        print("ready", flush=True)
        while True:
            ready, _, _ = select.select([self.listener, rfd, 0, *self.conns], [], [])
            for r in ready:
                if r is self.listener:
                    conn, _ = self.listener.accept()
                    self.conns[conn] = None
                elif r == rfd:
                    os.read(rfd, 4096)
                elif r == 0:
                    if not os.read(0, 4096):  # the parent's end closed: it exited, or shut us down
                        self.shutdown()
                        os._exit(0)  # nothing to flush or finalise: exit at once
                elif r in self.conns:
                    self.on_message(r)
            self.reap()

    def shutdown(self) -> None:
        for pid in list(self.children):
            self.kill(pid)
        self.reap()

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is not None and conn in self.conns:
                self.conns[conn] = None
                with contextlib.suppress(OSError):
                    send_msg(conn, {"status": exit_code(status)})

    def on_message(self, conn: socket.socket) -> None:
        try:
            msg, fds = recv_msg(conn)
        except (OSError, ValueError):
            msg, fds = None, []
        pid = self.conns.get(conn)
        if msg is None:  # the client went away: so does its child
            if pid is not None:
                self.kill(pid)
            del self.conns[conn]
            conn.close()
            return
        if "kill" in msg:
            if pid is not None:
                self.kill(pid)
            return
        if pid is not None:  # one child per connection
            for fd in fds:
                os.close(fd)
            return
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            with contextlib.suppress(OSError):
                send_msg(conn, {"error": str(exc)})
            return
        if pid == 0:
            code = 70
            try:
                os.setsid()  # its own session and group before anything else
                self.listener.detach()  # closed below with every other fd: no finaliser may close a reused number
                for c in self.conns:
                    c.detach()
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                code = (run_checker if self.kind == "checker" else run_worker)(msg, fds)
            except BaseException as exc:  # noqa: BLE001 - reported on fd 2 (the job's log, the worker's stderr)
                with contextlib.suppress(BaseException):
                    import traceback

                    os.write(2, ("zygote child: " + "".join(traceback.format_exception(exc))).encode())
            os._exit(code)
        for fd in fds:
            os.close(fd)
        self.children[pid] = conn
        self.conns[conn] = pid
        with contextlib.suppress(OSError):
            send_msg(conn, {"pid": pid})

    @staticmethod
    def kill(pid: int) -> None:
        for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                target()


# --------------------------------------------------------------------------- the children


def run_checker(msg: dict, fds: list) -> int:
    """The child of the checker template: ``python -m autograder.engine.checker JOB RESULT``."""
    (logfd,) = fds
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(logfd, 1)
    os.dup2(logfd, 2)
    close_fds_except((0, 1, 2))
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the template goes with the grader: so do we
    if os.getppid() == 1:
        return 70  # the template died between the fork and the prctl
    os.environ.clear()
    os.environ.update(msg["env"])
    os.chdir(msg["cwd"])
    if sys.path and sys.path[0] == START_CWD:  # ``-m`` put the template's start folder first
        sys.path[0] = msg["cwd"]
    fresh_random_state(msg["env"])
    from . import checker

    sys.argv = [checker.__file__, msg["job"], msg["result"]]
    return checker.main([msg["job"], msg["result"]]) or 0


def run_worker(msg: dict, fds: list) -> int:
    """The child of the worker template: becomes the student's worker, in the box when there is one."""
    stdin, stdout, stderr, *ns = fds
    limits = msg["limits"]
    if msg["mode"] == "bwrap":
        by_name = dict(zip(msg["namespaces"], ns))  # the ns fds in NAMESPACES order, then "root"
        root = by_name.pop("root")
        for name, flag in NAMESPACES:
            if name in by_name:
                setns(by_name[name], flag)
        os.fchdir(root)
        os.chroot(".")  # the box's root, as nsenter --root does
        os.chdir("/submission")
        close_fds_except((stdin, stdout, stderr))
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        pid = os.fork()  # only children enter the new pid namespace
        if pid:
            for fd in (stdin, stdout, stderr):
                os.close(fd)
            while True:
                try:
                    _, status = os.waitpid(pid, 0)
                    return exit_code(status)
                except InterruptedError:
                    continue
        os.setsid()
    else:
        os.chdir(msg["cwd"])
    import fcntl

    # fresh numbers first (never 0-2, never one of the three): a plain dup2 onto 0-2 could clobber one of them
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in (stdin, stdout, stderr)]
    for i, fd in enumerate(high):
        os.dup2(fd, i)  # inheritable
    close_fds_except((0, 1, 2))
    mib = 1024**2
    memory, fsize, nproc = limits["memory_mb"] * mib, limits["file_mb"] * mib, limits["nproc"]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    uid = msg.get("uid")
    if uid is not None or os.geteuid() != 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    if msg["mode"] == "bwrap":
        if uid is not None:  # a root grader: the throwaway uid
            for cap in range(int(open("/proc/sys/kernel/cap_last_cap").read()) + 1):
                prctl(PR_CAPBSET_DROP, cap)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)  # from 0 to non-0: the permitted and effective sets are cleared
        drop_all_capabilities()  # in a user namespace: the capabilities its owner has there
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        prctl(PR_SET_DUMPABLE, 1)  # setuid without exec left it 0: its own /proc would be root's
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the setuid, which clears it: dies with its parent
    if os.getppid() == 1:
        return 70
    os.environ.clear()
    os.environ.update(msg["env"])
    fresh_random_state(msg["env"])
    worker = sys.modules["worker"]
    sys.modules["__main__"] = worker  # as when worker.py is the script
    sys.argv = [worker.__file__]
    worker.main()
    return 0


# --------------------------------------------------------------------------- the caller's side


def enabled(environ=None) -> bool:
    """False when :data:`ENV` says ``0``, ``false``, ``no`` or ``off``, or off Linux: then runs start fresh processes."""
    value = (os.environ if environ is None else environ).get(ENV, "1")
    return sys.platform.startswith("linux") and value.strip().lower() not in ("0", "false", "no", "off")


class Forked:
    """A child of a template, seen like a ``subprocess.Popen`` (``pid``, ``poll``, ``wait``, ``kill``).

    ``returncode`` is the exit code, or 128 + the signal that killed it; ``lost`` is
    True when the template went away before saying how the child ended (then the
    child is gone too: it dies with its template).
    """

    def __init__(self, path: str, msg: dict, fds=()):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(START_TIMEOUT_S)  # a template that does not answer (stopped?): OSError, not a hang
            self.sock.connect(path)
            send_msg(self.sock, msg, fds)
            reply, _ = recv_msg(self.sock)
            self.sock.settimeout(None)
        except BaseException:
            self.sock.close()
            raise
        if reply is None or "pid" not in reply:
            self.sock.close()
            raise OSError(f"the zygote could not fork: {reply!r}")
        self.pid = reply["pid"]
        self.returncode = None
        self.lost = False
        self.extra_kill: list[subprocess.Popen] = []  # e.g. the bwrap box

    def poll(self):
        if self.returncode is None and select.select([self.sock], [], [], 0)[0]:
            self._read()
        return self.returncode

    def _read(self) -> None:
        try:
            reply, _ = recv_msg(self.sock)
        except (OSError, ValueError):
            reply = None
        if reply is None or "status" not in reply:
            self.lost = True
            self.returncode = 128 + signal.SIGKILL
        else:
            self.returncode = int(reply["status"])

    def wait(self, timeout=None):
        if self.returncode is None:
            if not select.select([self.sock], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired("zygote child", timeout)
            self._read()
        return self.returncode

    def kill(self) -> None:
        for proc in self.extra_kill:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self.extra_kill and self.returncode is None:
            # the box's end kills the worker; its parent reaps it and reports (no zombie left)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.wait(2)
        if self.returncode is None:
            with contextlib.suppress(OSError):
                send_msg(self.sock, {"kill": True})  # the template kills the child's group: no pid race

    def close(self) -> None:
        self.sock.close()  # the template kills the child if it still runs
        if self.returncode is None:
            self.returncode, self.lost = 128 + signal.SIGKILL, True
        for proc in self.extra_kill:
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)


class _Template:
    """One template process (started with ``subprocess``: fork and exec, safe from threads)."""

    def __init__(self, kind: str, path: str, env: dict, folder: str):
        self.kind, self.path = kind, path
        if kind == "checker":
            argv = [sys.executable, "-m", "autograder.engine.zygote", "checker", path]
        else:  # a plain script, as worker.py is run: no autograder package, the engine folder first on sys.path
            argv = [sys.executable, os.path.abspath(__file__), "worker", path]
        self.errors = os.path.join(folder, kind + ".err")
        with open(self.errors, "wb") as err:
            self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                         cwd=_PACKAGE_PARENT, start_new_session=True, close_fds=True)

    def wait_ready(self, deadline: float) -> None:
        fd = self.proc.stdout.fileno()
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.stop()
                raise RuntimeError(f"the {self.kind} zygote did not start within {START_TIMEOUT_S:g} s")
            chunk = os.read(fd, 64)
            if not chunk:
                break
            line += chunk
        if line.strip() != b"ready":
            self.stop()
            raise RuntimeError(f"the {self.kind} zygote failed to start: {self.error_tail()}")

    def error_tail(self) -> str:
        try:
            with open(self.errors, "rb") as fh:
                lines = fh.read()[-2000:].decode(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return lines[-1] if lines else "no message"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.stdin.close()  # the template kills its children and exits
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(Exception):
            self.proc.stdout.close()


_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START_CWD = _PACKAGE_PARENT  # the templates' working directory (``-m`` puts it first on sys.path)


class Pair:
    """The checker and worker templates of one process, with their restart budget."""

    def __init__(self):
        from .sandbox import _env

        self.folder = tempfile.mkdtemp(prefix="autograder-zygote-")  # 0700: only the grader reaches the sockets
        self.paths = {k: os.path.join(self.folder, k) for k in ("checker", "worker")}
        cenv = dict(os.environ)
        cenv["PYTHONPATH"] = _PACKAGE_PARENT + (os.pathsep + cenv["PYTHONPATH"] if cenv.get("PYTHONPATH") else "")
        cenv.pop(WORKER_SOCKET_ENV, None)
        wenv = _env("/submission")  # what a worker may see, and nothing else
        self.envs = {"checker": cenv, "worker": wenv}
        self.templates: dict[str, _Template | None] = {}
        self.restarts = {"checker": 0, "worker": 0}
        self.broken: dict[str, str] = {}  # kind -> why its runs take the fresh path
        try:
            self._start(("checker", "worker"))
        except BaseException:
            self.close()
            raise

    def _start(self, kinds) -> None:
        started = {k: _Template(k, self.paths[k], self.envs[k], self.folder) for k in kinds}
        self.templates.update(started)
        deadline = time.monotonic() + START_TIMEOUT_S
        problems = []
        for kind, template in started.items():
            try:
                template.wait_ready(deadline)
            except RuntimeError as exc:
                self.templates[kind] = None
                self.broken[kind] = str(exc)
                problems.append(str(exc))
        if problems:
            log.warning("autograder: %s; grading starts fresh processes instead (slower)", "; ".join(problems))

    def ensure(self) -> None:
        """Restart a template found dead, once (:data:`RESTARTS`); then its runs take the fresh path."""
        for kind in ("checker", "worker"):
            template = self.templates.get(kind)
            if template is None or template.alive():
                continue
            self.templates[kind] = None
            if self.restarts[kind] >= RESTARTS:
                self.broken[kind] = f"the {kind} zygote died again after a restart"
                log.warning("autograder: %s (%s); grading starts fresh processes instead (slower)",
                            self.broken[kind], template.error_tail())
                continue
            self.restarts[kind] += 1
            log.warning("autograder: the %s zygote died (%s); restarting it", kind, template.error_tail())
            self._start((kind,))

    def socket(self, kind: str) -> str | None:
        """The socket of a running template of ``kind``, or None."""
        template = self.templates.get(kind)
        return template.path if template is not None and template.alive() else None

    def pids(self) -> dict:
        """The templates' process ids (for tests and diagnostics)."""
        return {k: t.proc.pid for k, t in self.templates.items() if t is not None}

    def close(self) -> None:
        for template in self.templates.values():
            if template is not None:
                template.stop()
        self.templates = {}
        for name in os.listdir(self.folder):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.folder, name))
        with contextlib.suppress(OSError):
            os.rmdir(self.folder)


_lock = threading.Lock()
_pair: Pair | None = None
_failed: str | None = None  # why the pair could not start: runs take the fresh path


def shared() -> Pair | None:
    """The process's pair of templates, started on first use; None when it could not start."""
    global _pair, _failed
    with _lock:
        if _pair is None and _failed is None:
            try:
                _pair = Pair()
            except Exception as exc:  # noqa: BLE001 - any failure means: the fresh path
                _failed = str(exc) or type(exc).__name__
                log.warning("autograder: the zygotes could not start (%s); grading starts fresh processes "
                            "instead (slower)", _failed)
        elif _pair is not None:
            _pair.ensure()
        return _pair


def shutdown() -> None:
    """End the process's templates (and their children); the next run starts a new pair."""
    global _pair, _failed
    with _lock:
        pair, _pair, _failed = _pair, None, None
    if pair is not None:
        pair.close()


def _forget_in_child() -> None:
    """After ``os.fork()`` in the caller: the child neither shares nor keeps the parent's templates alive."""
    global _pair, _lock
    _lock = threading.Lock()
    pair, _pair = _pair, None
    if pair is not None:
        for template in pair.templates.values():
            if template is not None:
                with contextlib.suppress(Exception):
                    template.proc.stdin.close()  # the write end that keeps the template alive


atexit.register(shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def spawn_checker(job: str, result: str, log_fd: int) -> Forked | None:
    """``python -m autograder.engine.checker JOB RESULT``, forked by the shared checker template.

    Returns None when the templates are turned off (:data:`ENV`), could not start, or
    died again after their restart: the caller then starts a fresh checker. The child
    gets this process's environment and working directory of now, and the worker
    template's socket (:data:`WORKER_SOCKET_ENV`) when that template runs.
    """
    if not enabled():
        return None
    for attempt in range(2):
        pair = shared()
        path = pair.socket("checker") if pair is not None else None
        if path is None:
            return None
        env = dict(os.environ)
        env["PYTHONPATH"] = pair.envs["checker"]["PYTHONPATH"]
        env.pop(WORKER_SOCKET_ENV, None)
        worker = pair.socket("worker")
        if worker is not None:
            env[WORKER_SOCKET_ENV] = worker
        try:
            cwd = os.getcwd()
        except OSError:  # the caller's folder was removed: a fresh checker would start there, unusable too
            cwd = "/"
        try:
            return Forked(path, {"job": job, "result": result, "env": env, "cwd": cwd}, [log_fd])
        except OSError as exc:
            if attempt:
                log.warning("autograder: the checker zygote did not answer (%s); starting a fresh checker", exc)
            time.sleep(0.05)  # let a dying template be seen dead by ensure()
    return None


# --------------------------------------------------------------------------- entry point


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ("checker", "worker"):
        print("usage: python -m autograder.engine.zygote checker SOCKET  |  python zygote.py worker SOCKET",
              file=sys.stderr)
        return 2
    kind, path = argv
    if kind == "checker":
        if not __package__:
            print("the checker zygote runs as python -m autograder.engine.zygote", file=sys.stderr)
            return 2
        preload(CHECKER_PRELOAD)
        from . import checker  # noqa: F401 - the checker's own modules, imported once
    else:
        if __package__:
            print("the worker zygote runs as a script (python .../engine/zygote.py), like worker.py", file=sys.stderr)
            return 2
        preload(PRELOAD)
        import worker  # noqa: F401 - with rpc and guard, as worker.py imports them when run as a script
    Zygote(kind, path).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
