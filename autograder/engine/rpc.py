"""A small two-way call protocol between the trusted checker and the student's worker.

The checker never runs student code, and the worker never sees test code: the
checker holds *handles* (:class:`Remote`) to the student's functions, and every
call through a handle is a message over a pipe. Arguments and results travel as
**data** when they are plain values (``None``, ``bool``, ``int``, ``float``,
``complex``, ``str``, ``bytes``, tuples, lists, dicts, numpy arrays and scalars,
torch tensors, pandas frames and series, ``range``, ``slice``): the receiver gets
a fresh copy that nothing in the sender's process can change afterwards. Anything
else (a function, a schedule object, a model) travels as a handle to an object
that stays in its owner's process; calling it sends a message back. So a
student's function can take the checker's callables and return closures, and the
checker's tests still only ever compare plain data they decoded themselves.

Arrays given as arguments are copied back when the callee changed them in place,
so "does not modify its input" tests keep their meaning. Likewise the **global
random generators** (numpy's legacy ``np.random`` and torch's CPU generator) travel
with every call: the callee's generators are set to the caller's
states before the call, and whatever the call did to them (drew numbers, reseeded)
is copied back afterwards. So a test that compares ``torch.get_rng_state()`` before
and after calling a student's function observes the student's process, as it would
in one kernel. (Python's ``random`` module is left out: reading its state costs
~20 us, several times a call, and no numeric notebook's test observes it.) A handle to a function also carries its ``__name__``,
``__qualname__`` and ``__doc__``, so messages that name the function work.

Wire format: one frame = 8-byte header (JSON length, buffer count) + UTF-8 JSON +
length-prefixed raw buffers (array bytes, never pickled).
"""

from __future__ import annotations

import builtins
import json
import os
import select
import struct
import sys
import time
import traceback

__all__ = [
    "Endpoint",
    "Remote",
    "RemoteError",
    "WorkerGone",
    "CellTimeout",
    "ProtocolError",
    "MAX_MESSAGE_BYTES",
]

#: Largest frame accepted (a bigger one means a broken or hostile peer).
MAX_MESSAGE_BYTES = 512 * 1024**2
_MAX_DEPTH = 64
_HEADER = struct.Struct("<II")
_LEN = struct.Struct("<Q")

#: Exceptions re-raised under their own builtin type on the other side (so a test's
#: ``except ValueError`` catches a student's ValueError). Others become RemoteError.
_BUILTIN_ERRORS = {
    name: obj
    for name, obj in vars(builtins).items()
    if isinstance(obj, type) and issubclass(obj, Exception) and not issubclass(obj, (OSError, UnicodeError, Warning))
}


class RemoteError(Exception):
    """An exception raised by code on the other side that has no builtin twin here.

    Attributes
    ----------
    type_name : str
        The exception's class name over there (e.g. ``"LinAlgError"``).
    remote_traceback : str
        The traceback as the other side formatted it.
    """

    def __init__(self, type_name: str, message: str, remote_traceback: str = ""):
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.remote_traceback = remote_traceback


class WorkerGone(BaseException):
    """The worker died, was killed or broke the protocol (not an ``Exception``: tests cannot swallow it)."""


class CellTimeout(WorkerGone):
    """The worker did not answer within the cell's time limit."""


class ProtocolError(WorkerGone):
    """The peer sent something that is not a valid frame."""


# --------------------------------------------------------------------------- framing


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# --------------------------------------------------------------------------- global random state

#: Longest name or docstring a handle carries (they only go into messages).
_MAX_NAME, _MAX_DOC = 200, 4000


def rng_states(names=None) -> dict:
    """The states of this process's global random generators, for the modules already imported.

    Parameters
    ----------
    names : iterable of str, optional
        Only these generators (``"numpy"``, ``"torch"``); default both.

    Returns
    -------
    dict
        ``{"numpy": ..., "torch": ...}``, each present only when that module
        is in ``sys.modules`` (a module nobody imported has no state worth carrying), in
        the form :func:`set_rng_states` takes and the codec carries cheaply.
    """
    out = {}
    np = _np()
    names = set(_RNG_NAMES if names is None else names)
    if np is not None and hasattr(np, "random") and "numpy" in names:
        out["numpy"] = np.random.get_state(legacy=False)  # a dict; faster than the legacy tuple
    torch = _torch()
    if torch is not None and hasattr(torch, "get_rng_state") and "torch" in names:
        out["torch"] = torch.get_rng_state()
    return out


_RNG_NAMES = ("numpy", "torch")


def rng_fingerprint() -> dict:
    """A cheap picture of the global generators that changes whenever one of their states does.

    Taken around every call, so it must cost microseconds: torch's state as bytes and
    numpy's Mersenne Twister words and position
    read through its documented ``ctypes`` interface (the full ``get_state`` costs
    ~40 us). Known blind spot: a draw that numpy's legacy ``randn``/``normal`` serves
    from its cached second Gaussian moves no Mersenne Twister word; the next draw does.
    """
    out = {}
    np = _np()
    if np is not None and hasattr(np, "random"):
        out["numpy"] = _numpy_words(np)
    torch = _torch()
    if torch is not None and hasattr(torch, "get_rng_state"):
        out["torch"] = torch.get_rng_state().numpy().tobytes()
    return out


def _numpy_words(np) -> object:
    try:
        bitgen = np.random.mtrand._rand._bit_generator
        if type(bitgen).__name__ == "MT19937":
            import ctypes

            # struct mt19937_state { uint32_t key[624]; int pos; }
            return ctypes.string_at(bitgen.ctypes.state_address, 624 * 4 + 4)
    except (AttributeError, TypeError, ValueError):
        pass
    state = np.random.get_state(legacy=False)
    return state["state"]["key"].tobytes(), state["state"]["pos"], state["has_gauss"], state["gauss"]


def _changed_generators(before: dict, after: dict) -> list:
    return [name for name in after if name in before and before[name] != after[name]]


def set_rng_states(states) -> None:
    """Set this process's global generators to ``states`` (those of :func:`rng_states`).

    Only generators of modules imported here are set. A state that is not a valid
    state of its generator is a :class:`ProtocolError` (a broken or hostile peer).
    """
    if not isinstance(states, dict):
        raise ProtocolError("invalid random state: not a mapping")
    for name, state in states.items():
        try:
            if name == "numpy" and _np() is not None:
                _np().random.set_state(state if isinstance(state, dict) else tuple(state))
            elif name == "torch" and _torch() is not None:
                torch = _torch()
                if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8:
                    raise TypeError("not a uint8 tensor")
                torch.set_rng_state(state.cpu())
        except (TypeError, ValueError, RuntimeError, OverflowError) as exc:
            raise ProtocolError(f"invalid random state for {name!r} ({exc})") from None


class _Reader:
    """Read frames from ``fd``; optionally drain a second fd (the worker's output) meanwhile."""

    def __init__(self, fd: int, side_fd: int | None = None, on_side=None):
        self.fd = fd
        self.side_fd = side_fd
        self.on_side = on_side
        self.buf = bytearray()

    def _fill(self, need: int, deadline: float | None) -> None:
        while len(self.buf) < need:
            fds = [self.fd] + ([self.side_fd] if self.side_fd is not None else [])
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select(fds, [], [], timeout)
            if not ready:
                raise CellTimeout("no answer within the time limit")
            if self.side_fd is not None and self.side_fd in ready:
                chunk = os.read(self.side_fd, 65536)
                if chunk:
                    self.on_side(chunk)
                else:
                    self.side_fd = None
            if self.fd in ready:
                chunk = os.read(self.fd, max(65536, need - len(self.buf)))
                if not chunk:
                    raise WorkerGone("the other side closed the connection")
                self.buf += chunk

    def _take(self, n: int, deadline) -> bytes:
        self._fill(n, deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_frame(self, deadline: float | None):
        jlen, nbuf = _HEADER.unpack(self._take(_HEADER.size, deadline))
        if jlen > MAX_MESSAGE_BYTES or nbuf > 1_000_000:
            raise ProtocolError(f"frame too large ({jlen} bytes of JSON, {nbuf} buffers)")
        try:
            header = json.loads(self._take(jlen, deadline).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProtocolError(f"invalid frame: {exc}") from None
        buffers, total = [], 0
        for _ in range(nbuf):
            (n,) = _LEN.unpack(self._take(_LEN.size, deadline))
            total += n
            if total > MAX_MESSAGE_BYTES:
                raise ProtocolError("frame too large")
            buffers.append(self._take(n, deadline))
        if not isinstance(header, dict):
            raise ProtocolError("invalid frame: not an object")
        return header, buffers

    def drain_side(self) -> None:
        """Read whatever the side fd has right now (non-blocking)."""
        while self.side_fd is not None:
            ready, _, _ = select.select([self.side_fd], [], [], 0)
            if not ready:
                return
            chunk = os.read(self.side_fd, 65536)
            if not chunk:
                self.side_fd = None
                return
            self.on_side(chunk)


# --------------------------------------------------------------------------- codec


def _np():
    return sys.modules.get("numpy")


def _torch():
    return sys.modules.get("torch")


def _pd():
    return sys.modules.get("pandas")


class Endpoint:
    """One side of the connection: encodes, decodes, sends requests, serves the peer's.

    Parameters
    ----------
    rfd, wfd : int
        File descriptors to read frames from and write frames to.
    side_fd, on_side : optional
        A second descriptor drained while waiting (the worker's stdout/stderr) and
        the function that receives its bytes.
    """

    def __init__(self, rfd: int, wfd: int, side_fd: int | None = None, on_side=None):
        self.reader = _Reader(rfd, side_fd, on_side)
        self.wfd = wfd
        self.objects: dict[int, object] = {}
        self._ids: dict[int, int] = {}
        self.deadline: float | None = None
        self.generation = 0
        self.handlers = {}
        self.before_send = None
        self._seq = 0
        self._pending: list[int] = []
        self._serving: list[int] = []
        self._rng_reply: dict[int, dict] = {}
        #: True on the checker's side: the worker runs code only when asked, so the
        #: generator states both sides had when the last call returned still hold
        #: until this side sends anything else, and need not travel again.
        self.cache_rng = False
        self._rng_synced: dict | None = None
        self._rng_applied = 0  # how many replies brought generator states back
        self._served = 0  # how many of the peer's requests this side has served

    # ---- objects we hand out
    def export(self, obj) -> int:
        key = id(obj)
        ref = self._ids.get(key)
        if ref is None or self.objects.get(ref) is not obj:
            ref = len(self.objects) + 1
            self.objects[ref] = obj
            self._ids[key] = ref
        return ref

    # ---- encoding
    def encode(self, obj, buffers: list, depth: int = 0):
        if depth > _MAX_DEPTH:
            raise ValueError("value nested too deeply to send")
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if type(obj) is int:
            return obj
        if type(obj) is float:
            return obj if obj == obj and obj not in (float("inf"), float("-inf")) else {"~": "float", "v": repr(obj)}
        if type(obj) is complex:
            return {"~": "complex", "v": [repr(obj.real), repr(obj.imag)]}
        if type(obj) is bytes:
            buffers.append(obj)
            return {"~": "bytes", "b": len(buffers) - 1}
        if type(obj) is tuple:
            return {"~": "tuple", "v": [self.encode(x, buffers, depth + 1) for x in obj]}
        if type(obj) is list:
            return [self.encode(x, buffers, depth + 1) for x in obj]
        if type(obj) is dict:
            return {"~": "dict", "v": [[self.encode(k, buffers, depth + 1), self.encode(v, buffers, depth + 1)]
                                       for k, v in obj.items()]}
        if type(obj) is range:
            return {"~": "range", "v": [obj.start, obj.stop, obj.step]}
        if type(obj) is slice:
            return {"~": "slice", "v": [self.encode(x, buffers, depth + 1) for x in (obj.start, obj.stop, obj.step)]}
        if isinstance(obj, Remote) and obj._endpoint is self and obj._generation == self.generation:
            return {"~": "back", "id": obj._ref}
        np = _np()
        if np is not None:
            if type(obj) is np.ndarray and obj.dtype.kind in "biufcmMSU":
                buffers.append(np.ascontiguousarray(obj).tobytes())
                return {"~": "nd", "dtype": obj.dtype.str, "shape": list(obj.shape), "b": len(buffers) - 1}
            if isinstance(obj, np.generic) and obj.dtype.kind in "biufcmMSU":
                buffers.append(np.asarray(obj).tobytes())
                return {"~": "npscalar", "dtype": obj.dtype.str, "b": len(buffers) - 1}
        torch = _torch()
        if torch is not None and type(obj) in (torch.Tensor, torch.nn.Parameter) and np is not None:
            try:
                arr = obj.detach().cpu().contiguous().numpy()
            except (TypeError, RuntimeError):
                arr = None
            if arr is not None:
                buffers.append(arr.tobytes())
                return {"~": "torch", "dtype": arr.dtype.str, "tdtype": str(obj.dtype), "shape": list(arr.shape),
                        "device": obj.device.type, "grad": bool(obj.requires_grad),
                        "param": type(obj) is torch.nn.Parameter, "b": len(buffers) - 1}
        pd = _pd()
        if pd is not None and type(obj) in (pd.DataFrame, pd.Series):
            return self._encode_pandas(obj, buffers, depth)
        node = {"~": "ref", "id": self.export(obj), "type": type(obj).__name__, "call": callable(obj)}
        if node["call"]:
            node.update(_names_of(obj))
        return node

    def _encode_pandas(self, obj, buffers, depth):
        pd = _pd()

        def column(values):
            arr = values.to_numpy()
            if arr.dtype.kind == "O":
                return {"list": self.encode(list(arr), buffers, depth + 1)}
            return {"arr": self.encode(arr, buffers, depth + 1)}

        index = column(obj.index)
        index["name"] = self.encode(obj.index.name, buffers, depth + 1)
        if isinstance(obj, pd.Series):
            return {"~": "series", "name": self.encode(obj.name, buffers, depth + 1), "data": column(obj), "index": index}
        return {
            "~": "frame",
            "columns": self.encode(list(obj.columns), buffers, depth + 1),
            "data": [column(obj.iloc[:, i]) for i in range(obj.shape[1])],
            "index": index,
        }

    def decode(self, node, buffers: list):
        if isinstance(node, list):
            return [self.decode(x, buffers) for x in node]
        if not isinstance(node, dict):
            return node
        tag = node.get("~")
        if tag == "float":
            return float(node["v"])
        if tag == "complex":
            return complex(float(node["v"][0]), float(node["v"][1]))
        if tag == "bytes":
            return bytes(buffers[node["b"]])
        if tag == "tuple":
            return tuple(self.decode(x, buffers) for x in node["v"])
        if tag == "dict":
            out = {}
            for k, v in node["v"]:
                key = self.decode(k, buffers)
                try:
                    hash(key)
                except TypeError:
                    raise ProtocolError("unhashable dict key") from None
                out[key] = self.decode(v, buffers)
            return out
        if tag == "range":
            return range(*[int(x) for x in node["v"]])
        if tag == "slice":
            return slice(*[self.decode(x, buffers) for x in node["v"]])
        if tag == "back":
            try:
                return self.objects[int(node["id"])]
            except KeyError:
                raise ProtocolError(f"unknown object id {node['id']!r}") from None
        if tag == "ref":
            meta = {key: node[key][:limit] for key, limit in (("name", _MAX_NAME), ("qualname", _MAX_NAME),
                                                              ("doc", _MAX_DOC)) if isinstance(node.get(key), str)}
            return Remote(self, int(node["id"]), str(node.get("type", "object")), bool(node.get("call")), meta)
        if tag in ("nd", "npscalar", "torch"):
            import numpy as np

            dtype = np.dtype(node["dtype"])
            if dtype.kind not in "biufcmMSU":
                raise ProtocolError(f"refused dtype {node['dtype']!r}")
            raw = buffers[node["b"]]
            if tag == "npscalar":
                return np.frombuffer(raw, dtype=dtype)[0]
            arr = np.frombuffer(raw, dtype=dtype).reshape(node["shape"]).copy()
            if tag == "nd":
                return arr
            import torch

            t = torch.from_numpy(arr)
            if node.get("device") == "cuda" and torch.cuda.is_available():
                t = t.to("cuda")
            if node.get("param"):
                return torch.nn.Parameter(t, requires_grad=bool(node.get("grad")))
            if node.get("grad") and t.is_floating_point():
                t.requires_grad_(True)
            return t
        if tag in ("frame", "series"):
            import pandas as pd

            def column(c):
                return self.decode(c["arr"], buffers) if "arr" in c else self.decode(c["list"], buffers)

            index = pd.Index(column(node["index"]), name=self.decode(node["index"]["name"], buffers))
            if tag == "series":
                return pd.Series(column(node["data"]), index=index, name=self.decode(node["name"], buffers))
            columns = self.decode(node["columns"], buffers)
            data = {i: column(c) for i, c in enumerate(node["data"])}
            frame = pd.DataFrame(data, index=index)
            frame.columns = columns
            return frame
        raise ProtocolError(f"unknown value tag {tag!r}")

    # ---- messages
    def send(self, header: dict, buffers: list | None = None) -> None:
        buffers = buffers or []
        if self.before_send is not None:
            self.before_send()
        payload = json.dumps(header, allow_nan=False).encode("utf-8")
        parts = [_HEADER.pack(len(payload), len(buffers)), payload]
        for b in buffers:
            parts.append(_LEN.pack(len(b)))
            parts.append(b)
        _write_all(self.wfd, b"".join(parts))

    def reply_value(self, value, extra: dict | None = None) -> None:
        buffers: list = []
        header = {"op": "result", "re": self._serving[-1] if self._serving else 0,
                  "value": self.encode(value, buffers)}
        extra = {**(extra or {}), **self._take_rng_reply()}
        if extra:
            for key, val in extra.items():
                header[key] = self.encode(val, buffers)
        self.send(header, buffers)

    def reply_error(self, exc: BaseException, tb_text: str = "") -> None:
        args = [a for a in getattr(exc, "args", ()) if type(a) in (str, int, float, bool)]
        if len(args) != len(getattr(exc, "args", ())):
            args = None
        header = {"op": "error", "re": self._serving[-1] if self._serving else 0, "type": type(exc).__name__,
                  "message": _safe_str(exc), "args": args, "traceback": tb_text}
        buffers: list = []
        rng = self._take_rng_reply()
        if rng:
            header["rng"] = self.encode(rng["rng"], buffers)
        self.send(header, buffers)

    def _take_rng_reply(self) -> dict:
        """``{"rng": changes}`` when the call being answered changed global generators (once)."""
        changes = self._rng_reply.pop(self._serving[-1] if self._serving else 0, None)
        return {"rng": changes} if changes else {}

    def request(self, op: str, **fields):
        """Send a request and serve the peer's requests until the answer comes; return it.

        Raises the peer's exception (builtin type when there is one, else
        :class:`RemoteError`), :class:`CellTimeout` past ``self.deadline``, or
        :class:`WorkerGone` when the peer is gone.
        """
        self.post(op, **fields)
        return self.wait()

    def post(self, op: str, **fields) -> None:
        """Send a request without waiting; :meth:`wait` collects the answer."""
        buffers: list = []
        self._seq += 1
        header = {"op": op, "seq": self._seq}
        if not (op == "invoke" and fields.get("what") == "call"):
            self._rng_synced = None  # the peer may run code that draws
        for key, val in fields.items():
            header[key] = self.encode(val, buffers) if key in ("args", "kwargs", "value", "rng") else val
        try:
            self.send(header, buffers)
        except (BrokenPipeError, OSError) as exc:
            raise WorkerGone(f"could not write to the other side ({exc})") from None
        self._pending.append(self._seq)

    def wait(self):
        """Serve the peer's requests until the answer to the last :meth:`post` comes; return it."""
        while True:
            msg, bufs = self.reader.read_frame(self.deadline)
            kind = msg.get("op")
            if kind in ("result", "error"):
                expected = self._pending.pop() if self._pending else None
                if msg.get("re") != expected:
                    raise ProtocolError(f"an answer to request {msg.get('re')!r} came while waiting for {expected!r}")
                if "rng" in msg:  # the call drew from or reseeded the other side's global generators
                    set_rng_states(self.decode(msg["rng"], bufs))
                    self._rng_applied += 1
            if kind == "result":
                value = self.decode(msg.get("value"), bufs)
                mutated = msg.get("mutated")
                if mutated is not None:
                    return _MutationReply((value, self.decode(mutated, bufs)))
                return value
            if kind == "error":
                raise _rebuild_error(msg)
            self.serve_one(msg, bufs)

    def serve_one(self, msg: dict, bufs: list) -> None:
        """Answer one request from the peer."""
        op = msg.get("op")
        handler = self.handlers.get(op) or getattr(self, "_op_" + str(op), None)
        if handler is None:
            self.send({"op": "error", "type": "ProtocolError", "message": f"unknown op {op!r}", "traceback": ""})
            return
        self._serving.append(msg.get("seq", 0))
        self._served += 1
        try:
            handler(msg, bufs)
        except (WorkerGone, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit from student code included
            self.reply_error(exc, format_user_traceback(exc))
        finally:
            self._serving.pop()

    def _op_invoke(self, msg: dict, bufs: list) -> None:
        try:
            target = self.objects[int(msg["id"])]
        except (KeyError, ValueError, TypeError):
            raise ProtocolError(f"unknown object id {msg.get('id')!r}") from None
        what = msg.get("what")
        args = self.decode(msg.get("args", []), bufs)
        kwargs = self.decode(msg.get("kwargs", {"~": "dict", "v": []}), bufs)
        if what == "call":
            if "rng" in msg:  # run the call from the caller's generator states, as in one process
                states = self.decode(msg["rng"], bufs)
                if states:  # empty: the caller's states are those this side had when its last call returned
                    set_rng_states(states)
                rng_before = rng_fingerprint()
            before = _snapshots(args, kwargs)
            try:
                value = target(*args, **kwargs)
            finally:
                if "rng" in msg:
                    changed = _changed_generators(rng_before, rng_fingerprint())
                    if changed:
                        self._rng_reply[self._serving[-1] if self._serving else 0] = rng_states(changed)
            changed = _changed(before)
            self.reply_value(value, {"mutated": changed} if changed else None)
            return
        op = _INVOKE_OPS.get(what)
        if op is None:
            raise ProtocolError(f"unknown invoke {what!r}")
        self.reply_value(op(target, *args))


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)[:20000]
    except Exception:  # noqa: BLE001
        return "(the exception's message could not be shown)"


def _rebuild_error(msg: dict) -> BaseException:
    name, message, tb_text = str(msg.get("type")), str(msg.get("message", "")), str(msg.get("traceback", ""))
    cls = _BUILTIN_ERRORS.get(name)
    args = msg.get("args")
    if cls is not None:
        try:
            plain = isinstance(args, list) and all(type(a) in (str, int, float, bool) for a in args)
            exc = cls(*args) if plain else cls(message)
            exc.remote_traceback = tb_text
            return exc
        except Exception:  # noqa: BLE001 - e.g. an exception type with required arguments
            pass
    return RemoteError(name, message, tb_text)


def format_user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` limited to frames of notebook cells (``<cell ...>`` file names)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<cell")]
    lines = traceback.format_list(frames) if frames else []
    return "".join(lines) + "".join(traceback.format_exception_only(type(exc), exc))


def _snapshots(args, kwargs):
    np = _np()
    torch = _torch()
    out = []
    for key, val in list(enumerate(args)) + list(kwargs.items()):
        if np is not None and type(val) is np.ndarray:
            out.append((key, val, val.copy()))
        elif torch is not None and isinstance(val, torch.Tensor):
            out.append((key, val, val.detach().clone()))
    return out


def _changed(before):
    np = _np()
    out = []
    for key, val, copy in before:
        if type(val) is getattr(np, "ndarray", None):
            same = val.shape == copy.shape and val.dtype == copy.dtype and np.array_equal(val, copy, equal_nan=True)
        else:
            torch = _torch()
            same = val.shape == copy.shape and bool(torch.equal(val.detach(), copy)) if val.dtype == copy.dtype else False
        if not same:
            out.append([key, val])
    return out


def apply_mutations(args, kwargs, mutated) -> None:
    """Copy arrays the callee changed in place back into the caller's arguments."""
    np = _np()
    torch = _torch()
    for key, new in mutated or []:
        orig = args[key] if isinstance(key, int) else kwargs.get(key)
        try:
            if np is not None and type(orig) is np.ndarray and orig.flags.writeable:
                orig[...] = new
            elif torch is not None and isinstance(orig, torch.Tensor):
                with torch.no_grad():
                    orig.copy_(new.to(orig.device) if isinstance(new, torch.Tensor) else torch.as_tensor(new))
        except (ValueError, TypeError, RuntimeError):
            pass


_INVOKE_OPS = {
    "getattr": lambda obj, name: getattr(obj, name),
    "getitem": lambda obj, key: obj[key],
    "len": lambda obj: len(obj),
    "iter": lambda obj: iter(obj),
    "next": lambda obj: next(obj),
    "repr": lambda obj: repr(obj),
    "str": lambda obj: str(obj),
    "contains": lambda obj, x: x in obj,
    "binop": lambda obj, name, other: getattr(obj, name)(other),
    "float": lambda obj: float(obj),
    "int": lambda obj: int(obj),
    "index": lambda obj: obj.__index__(),
}


class Remote:
    """A handle to an object that lives on the other side of an :class:`Endpoint`.

    Calling it, reading an attribute, indexing, ``len``, iterating, comparing,
    arithmetic: each is one request; the result comes back as data or as another
    handle. Raises :class:`WorkerGone` once the other side was restarted.
    """

    __slots__ = ("_endpoint", "_ref", "_type", "_callable", "_generation", "_meta")

    def __init__(self, endpoint: Endpoint, ref: int, type_name: str, is_callable: bool, meta: dict | None = None):
        object.__setattr__(self, "_endpoint", endpoint)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_callable", is_callable)
        object.__setattr__(self, "_generation", endpoint.generation)
        object.__setattr__(self, "_meta", dict(meta or {}))

    def _invoke(self, what, *args, **kwargs):
        ep = self._endpoint
        if ep.generation != self._generation:
            raise RemoteError(
                "StaleHandle",
                f"this {self._type} belonged to a student process that was stopped; run the cell that made it again",
            )
        if what != "call":
            return ep.request("invoke", id=self._ref, what=what, args=list(args), kwargs=kwargs)
        # The call runs from this side's generator states, and what it does to them comes back.
        mine = rng_fingerprint() if ep.cache_rng else None
        same = mine is not None and ep._rng_synced is not None and mine == ep._rng_synced
        ep._rng_synced = None
        events = (ep._rng_applied, ep._served)
        try:
            result = ep.request("invoke", id=self._ref, what=what, args=list(args), kwargs=kwargs,
                                rng={} if same else rng_states())
        except Exception:
            # the call raised on the other side: its generators came back with the error
            if ep.cache_rng:
                ep._rng_synced = rng_fingerprint()
            raise
        if ep.cache_rng:  # unchanged on both sides unless states came back or the peer called us meanwhile
            ep._rng_synced = mine if (ep._rng_applied, ep._served) == events else rng_fingerprint()
        return result

    @property
    def __doc__(self):  # noqa: D105 - the docstring of the function on the other side
        return self._meta.get("doc")

    def __call__(self, *args, **kwargs):
        result = self._invoke("call", *args, **kwargs)
        if type(result) is _MutationReply:
            value, mutated = result
            apply_mutations(args, kwargs, mutated)
            return value
        return result

    def __getattr__(self, name):
        if name in ("__name__", "__qualname__") and name.strip("_") in self._meta:
            return self._meta[name.strip("_")]
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._invoke("getattr", name)

    def __getitem__(self, key):
        return self._invoke("getitem", key)

    def __len__(self):
        return self._invoke("len")

    def __iter__(self):
        it = self._invoke("iter")
        while True:
            try:
                yield it._invoke("next") if isinstance(it, Remote) else next(it)
            except StopIteration:
                return

    def __contains__(self, item):
        return self._invoke("contains", item)

    def __bool__(self):
        return True  # like any object without __bool__: truthiness is not the student's to decide

    def __float__(self):
        return self._invoke("float")

    def __int__(self):
        return self._invoke("int")

    def __index__(self):
        return self._invoke("index")

    def __repr__(self):
        try:
            return self._invoke("repr")
        except (Exception, WorkerGone):  # noqa: BLE001
            return f"<student {self._type}>"

    def __str__(self):
        try:
            return self._invoke("str")
        except (Exception, WorkerGone):  # noqa: BLE001
            return f"<student {self._type}>"

    def __hash__(self):
        return hash((id(self._endpoint), self._ref))


def _names_of(obj) -> dict:
    """``__name__``, ``__qualname__`` and ``__doc__`` of a callable, those that are strings."""
    out = {}
    for key, attr, limit in (("name", "__name__", _MAX_NAME), ("qualname", "__qualname__", _MAX_NAME),
                             ("doc", "__doc__", _MAX_DOC)):
        try:
            value = getattr(obj, attr, None)
        except Exception:  # noqa: BLE001 - a property of the student's that raises
            value = None
        if isinstance(value, str):
            out[key] = value[:limit]
    return out


class _MutationReply(tuple):
    """(value, mutated arguments): what a call returns when it changed array arguments in place."""


def _binop(name):
    def method(self, other):
        return self._invoke("binop", name, other)

    method.__name__ = name
    return method


def _refuse_order(name):
    def method(self, other):
        raise TypeError(
            f"cannot order a {self._type} object from the student's code ({name}): compare plain values "
            "(numbers, arrays) instead"
        )

    method.__name__ = name
    return method


# Arithmetic is the student's computation (its result comes back as data or a handle);
# a comparison, though, is a verdict: it is never delegated to the student's objects.
for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
              "__rtruediv__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__"):
    setattr(Remote, _name, _binop(_name))
for _name in ("__lt__", "__le__", "__gt__", "__ge__"):
    setattr(Remote, _name, _refuse_order(_name))
Remote.__eq__ = lambda self, other: self is other
Remote.__ne__ = lambda self, other: self is not other
Remote.__neg__ = lambda self: self._invoke("binop", "__mul__", -1)
