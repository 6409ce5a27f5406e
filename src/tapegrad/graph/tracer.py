"""The tracer: while ``STATE.trace`` is set, every op runs for real and is also recorded.

Values are told apart by the identity of their arrays (every array seen is kept alive
until the trace ends, so an id is never reused). An array that no recorded op made is
state (a parameter), a constant, or a view a rule took of a known array; which of the
first two it is, and whether it was a *stale* constant (an array a rule computed from
tensor data outside the ops, e.g. ``_make(np.sign(x._data))``), is decided by comparing
two traces (see compiled.py).
"""
import weakref

from .. import backend
from ..core import function as core
from ..core.function import promote_args, DeviceNode
from ..core.modes import STATE
from ..core.node import Node
from ..core.tensor import Tensor
from .ir import Program, Op, Lit, arrays_in


class TraceError(RuntimeError):
    """A traced function did something a replay could not repeat faithfully."""


_HOW = {"__bool__": "bool(tensor) (an if/while/and/or on a tensor)",
        "item": "tensor.item()", "tolist": "tensor.tolist()", "numpy": "tensor.numpy()",
        "__float__": "float(tensor)", "__int__": "int(tensor)",
        "__index__": "a tensor used as a Python index", "__array__": "np.asarray(tensor)"}


class Tracer:
    """Records ops, in-place writes and value reads into a Program."""

    def __init__(self, on_read="error"):
        self.prog = Program()
        self.ids = {}        # id(array) -> value number
        self.keep = []       # every array seen, alive until the trace ends
        self.ptrs = {}       # (data pointer, nbytes, dtype) -> value number, for views
        self.leaves = {}     # id(tensor) -> leaf tensor that an op read
        self.arrays = {}     # value number -> its array at definition
        self.on_read = on_read
        self.read = None     # what value read made the trace unusable (fallback mode)

    # -- entering and leaving -----------------------------------------------------------
    def __enter__(self):
        if STATE.trace is not None:
            raise TraceError("tg.compile: a compiled function (or Graph.run) was called while "
                             "another one is being traced; nested tracing is not supported")
        STATE.trace = self
        return self

    def __exit__(self, *exc):
        STATE.trace = None

    def value_read(self, name):
        self._cannot_replay(
            _HOW[name], "reads a tensor's value while tracing, so Python control flow would "
            "depend on data and a replay could silently take the wrong branch. Write it with "
            "tensor ops instead (tg.where(cond, a, b), tg.maximum, a mask), or")

    def untraceable(self, fn):
        """An op whose rules decide on input values in Python (``traceable = False``)."""
        self._cannot_replay(
            f"op '{fn.name}', whose rules branch on its inputs' values in Python",
            "(e.g. a special case for zeros), can't be traced: a replay would repeat the branch "
            "taken for the traced values on any input. Call it outside the compiled function "
            "(compile around it), or")

    def refuse(self, what):
        """An op computed arrays from an integer tensor's values outside the ops (``what``
        says which): a replay would reuse them for new indices. Ops call this through
        ``ops._util.not_traceable``."""
        self._cannot_replay(
            what, "are computed from index values outside the ops, so a replay would reuse "
            "them for other indices. Call it outside the compiled function (compile around "
            "it), or")

    def _cannot_replay(self, what, problem):
        """``what`` makes a replay unfaithful: refuse it, or with fallback='eager' note it
        (this signature then runs eagerly, with a warning)."""
        if self.on_read == "eager":
            self.read = self.read or what
            return
        raise TraceError(f"tg.compile: {what} {problem} compile with tg.compile(fn, "
                         f"fallback='eager') to run such a function eagerly (with a warning).")

    # -- values -------------------------------------------------------------------------
    def _define(self, arr, kind, label=None):
        vid = self.prog.new_value(arr, kind, label)
        self.arrays[vid] = arr
        self.ids[id(arr)] = vid
        self.keep.append(arr)
        if arr.flags.c_contiguous:
            self.ptrs[_key(arr)] = vid
        return vid

    def input(self, arr, label=None):
        vid = self._define(arr, "input", label)
        self.prog.inputs.append(vid)
        return vid

    def ref(self, arr, label=None):
        """The value number of an array an op reads, registering unknown ones."""
        vid = self.ids.get(id(arr))
        if vid is not None:
            return vid
        if arr.base is not None and arr.flags.c_contiguous:
            src = self.ptrs.get(_key(arr))
            if src is not None:   # a reshape of a known array (labels.reshape(-1))
                out = self._define(arr, "op")
                self.prog.ops.append(Op("view", None, [src], out))
                return out
        vid = self._define(arr, "external", label)
        self.prog.state[vid] = arr   # state or constant: decided by comparing two traces
        return vid

    def _arg(self, a):
        if isinstance(a, Tensor):
            if a.node is not None and a.node.is_leaf and not a.node.watch:
                self.leaves[id(a)] = a
            return self.ref(a._data)
        if backend.is_array(a):
            return self.ref(a)
        if isinstance(a, backend.generic):
            a = a.item()
        return Lit(a)

    # -- the hooks the core calls ---------------------------------------------------------
    def apply(self, fn, args, params, promoted):
        if not fn.traceable:
            self.untraceable(fn)
        if fn.promote and not promoted:
            args = promote_args(args)   # casts where needed, recorded (this tracer is active)
        refs = [self._arg(a) for a in args]
        dyn = [(k, self.ref(p)) for k, p in arrays_in(params, _is_array)]
        STATE.trace = None
        try:
            out = core.apply(fn, args, params, True)
        finally:
            STATE.trace = self
        arr = out._data
        node = out.node
        recording = type(node) in (Node, DeviceNode) and node.fn is fn
        op = Op("call", fn, refs, None, params, dyn, recording=recording)
        op.out = self._define(arr, "op")
        if recording:
            for k, val in node.__dict__.items():
                if k in ("_out", "_saved", "_versions", "_out_vc", "_out_v", "_out_fw"):
                    continue
                if backend.is_array(val):
                    if id(val) not in self.ids:
                        op.side.append((k, None, self._define(val, "op")))
                elif isinstance(val, (tuple, list)):
                    for i, item in enumerate(val):
                        if backend.is_array(item) and id(item) not in self.ids:
                            op.side.append((k, i, self._define(item, "op")))
        self.prog.ops.append(op)
        return out

    def bind(self, obj, key, arr):
        """``arr`` (a 0-d array the traced ops read as state) holds the number ``obj[key]``;
        every replay copies the current ``obj[key]`` into it first (a scheduler's new lr)."""
        if not any(o is obj and k == key for o, k, _ in self.prog.bindings):
            self.prog.bindings.append((obj, key, arr))

    def watch(self, obj, key):
        """The trace used the Python value ``obj[key]``: a replay first checks it is
        unchanged, and the function is traced anew when it changed."""
        if not any(o is obj and k == key for o, k, _ in self.prog.watched):
            self.prog.watched.append((obj, key, obj[key]))

    def guard(self, arr, check, args, what):
        """A condition on an array's values that the traced computation assumed (see
        ops._util.guard): recorded as a ``guard`` op that the replay evaluates."""
        base = arr.base     # a reshape of a known array holds the same values: guard that
        while backend.is_array(base) and base.size == arr.size and id(base) in self.ids:
            arr, base = base, base.base
        self.prog.ops.append(Op("guard", None, [self.ref(arr)], None,
                                params={"check": check, "args": tuple(args), "what": what}))

    def write(self, tensor, arr):
        dst = tensor._data
        src = self._arg(arr)
        old = self.ref(dst)
        new = self.prog.new_value(dst, "op")
        self.ids[id(dst)] = new
        self.prog.ops.append(Op("write", None, [old, src], new))

    # -- after the run ------------------------------------------------------------------
    def finish(self, result, args):
        """Record the function's result and the .grad it left on leaves."""
        prog = self.prog

        def walk(x):
            if isinstance(x, Tensor):
                v = self.ref(x._data)
                prog.out_vids.append(v)
                return ("t", v)
            if isinstance(x, (list, tuple)):
                return (type(x), [walk(i) for i in x])
            if isinstance(x, dict):
                return (dict, [(k, walk(i)) for k, i in x.items()])
            return ("py", x)
        prog.outputs = walk(result)
        bases = set()
        for arr in self.arrays.values():
            b = arr
            while b.base is not None and backend.is_array(b.base):
                b = b.base
            if b is not arr:
                bases.add(id(b))
        count = {}
        for arr in self.arrays.values():   # an op may return its input array itself
            count[id(arr)] = count.get(id(arr), 0) + 1
        roots = {}
        for vid, arr in self.arrays.items():
            prog.values[vid].own = arr.base is None and id(arr) not in bases and \
                count[id(arr)] == 1
            b = arr
            while b.base is not None and backend.is_array(b.base):
                b = b.base
            prog.values[vid].root = roots.setdefault(id(b), vid)
        for op in prog.ops:       # a write's result is the memory it wrote into
            if op.kind == "write":
                prog.values[op.out].root = prog.values[op.args[0]].root
        prog.device = _device(self.arrays.values())
        arg_pos = {id(a): k for k, a in enumerate(args)}
        for a in args:   # an argument no op read can still get a .grad (backward on it)
            if a.node is not None and a.node.is_leaf and not a.node.watch:
                self.leaves.setdefault(id(a), a)
        for leaf in self.leaves.values():
            g = leaf._grad
            if g is None or id(g._data) not in self.ids:
                continue
            where = ("arg", arg_pos[id(leaf)]) if id(leaf) in arg_pos else \
                ("leaf", weakref.ref(leaf))
            prog.grads.append((where, self.ids[id(g._data)]))
        return prog


def _is_array(x):
    return backend.is_array(x)


def _key(arr):
    return (backend.data_ptr(arr), arr.nbytes, arr.dtype.str)


def _device(arrays):
    """The one device of a program's arrays (a replay runs on one array module); several
    devices are refused."""
    devs = {backend.device_of(a) for a in arrays
            if type(a) is not backend.ndarray or a.ndim}   # (0-d CPU values: moved by ops)
    if len(devs) > 1:
        raise TraceError(f"tg.compile: the traced function computes on several devices "
                         f"({', '.join(sorted(map(str, devs)))}); a compiled function runs on "
                         f"one. Move everything to one device first (model.to(device), "
                         f"x.to(device)), or compile the parts per device.")
    return devs.pop() if devs else backend.CPU
