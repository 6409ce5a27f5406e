"""tg.compile: trace a function of tensors into a Program once per input signature, then
replay it on arrays.

A signature is the shapes, dtypes and requires_grad of the tensor arguments plus the
other arguments' values. Per signature:

1. The first call runs under the tracer (it really computes, so its results are eager's).
2. The second call is traced again and the two programs are compared op by op. Arrays no
   op made are state when both traces read the same array (parameters, optimizer buffers:
   read and written by reference), constants when they are new arrays with equal values
   (``ones`` seeds, ``arange`` indices), and refused when their values differ: that is a
   value a rule computed from tensor data outside the ops, which a replay would repeat
   stale. A function whose op sequence changes between calls (an optimizer that creates
   its buffers on the first step) is traced again until two traces agree (at most 4).
3. Later calls replay the program: no Tensor is made except for the returned results.
"""
import functools
import threading
import warnings

from .. import backend
from ..core.modes import STATE
from ..core.tensor import Tensor, _make
from .ir import same_params, static_params
from .passes import optimize
from .replay import GuardFailed, build
from .tracer import Tracer, TraceError

_MAX_TRACES = 4


class _Entry:
    __slots__ = ("progs", "run", "prog", "eager")

    def __init__(self):
        self.progs = []      # traced programs not yet confirmed
        self.run = None      # the replay function once confirmed
        self.prog = None     # the optimized program it runs
        self.eager = False   # fallback: this signature runs eagerly


class Compiled:
    """A compiled function: call it like the original. ``.graph`` is the program traced
    for the latest signature (printable); ``.graphs`` all of them by signature."""

    def __init__(self, fn, fallback="error", optimize=True, fuse=None):
        if fallback not in ("error", "eager"):
            raise ValueError(f"tg.compile: fallback must be 'error' or 'eager', got {fallback!r}")
        self.fn = fn
        self.fallback = fallback
        self.optimize = optimize
        self.fuse = fuse
        self.cache = {}
        self._last = None
        self._lock = threading.RLock()   # replays reuse buffers: one call at a time
        functools.update_wrapper(self, fn)

    @property
    def graph(self):
        """The graph compiled for the most recent call (print it to read its ops).

        Raises:
            RuntimeError: the function has not been called yet.
        """
        e = self.cache.get(self._last)
        if e is None:
            raise RuntimeError("tg.compile: nothing traced yet; call the function first")
        return e.prog if e.prog is not None else e.progs[-1]

    @property
    def graphs(self):
        """Every graph compiled so far, keyed by its signature (shapes, dtypes, devices, modes)."""
        return {k: (e.prog or e.progs[-1]) for k, e in self.cache.items() if e.prog or e.progs}

    def __call__(self, *args, **kwargs):
        with self._lock:
            return self._call(args, kwargs)

    def _call(self, args, kwargs):
        key, tensors = _signature(args, kwargs)
        self._last = key
        e = self.cache.get(key)
        if e is None:
            e = self.cache[key] = _Entry()
        if e.run is not None and not _unchanged(e.prog.watched):
            e.run = e.prog = None       # a watched Python value changed: trace anew
            e.progs = []
        if e.run is not None:
            try:
                return self._replay(e, tensors)
            except GuardFailed as err:
                if not (err.clean and self.fallback == "eager"):
                    raise
                warnings.warn(f"{err} Running this call eagerly (fallback='eager').",
                              UserWarning, stacklevel=3)
                return _detach(self.fn(*args, **kwargs))
        if e.eager:
            return self.fn(*args, **kwargs)
        return self._trace(e, args, kwargs, tensors)

    # -- tracing ------------------------------------------------------------------------
    def _trace(self, e, args, kwargs, tensors):
        tracer = Tracer(on_read=self.fallback)
        with tracer:
            for i, t in enumerate(tensors):
                tracer.input(t._data, label=f"arg{i}")
            result = self.fn(*args, **kwargs)
        if tracer.read is not None:
            warnings.warn(f"tg.compile: {getattr(self.fn, '__name__', 'fn')} reads tensor values "
                          f"({tracer.read}), so it depends on data; it runs eagerly "
                          f"(fallback='eager')", UserWarning, stacklevel=3)
            e.eager = True
            return result
        prog = tracer.finish(result, tensors)
        if self.fuse and prog.device.type != "cpu":
            raise TraceError(f"tg.compile(fuse=True): elementwise fusion runs numba kernels on "
                             f"the CPU, and this function computes on {prog.device}, where "
                             f"tapegrad has no fused kernels (CuPy runs each op as one kernel). "
                             f"Leave fuse unset, or pass fuse=False.")
        if e.progs and _agree(e.progs[-1], prog):
            e.prog = optimize(prog, fuse=self.fuse is not False) if self.optimize else prog
            e.run = build(e.prog)
            e.progs = []
        else:
            e.progs.append(prog)
            if len(e.progs) > _MAX_TRACES:
                raise TraceError(
                    f"tg.compile: {getattr(self.fn, '__name__', 'fn')} recorded a different "
                    f"sequence of ops on each of {len(e.progs)} calls with the same signature; "
                    f"its ops depend on Python state that keeps changing (a step counter in the "
                    f"op parameters, as Adam's bias correction). Pass such numbers as tensor "
                    f"arguments, or don't compile this function.")
        return _detach(result)

    # -- replay -------------------------------------------------------------------------
    def _replay(self, e, tensors):
        prog = e.prog
        for obj, key, arr in prog.bindings:
            arr[...] = obj[key]
        out = e.run(*[t._data for t in tensors])
        n = len(prog.out_vids)
        for (where, _), arr in zip(prog.grads, out[n:]):
            leaf = tensors[where[1]] if where[0] == "arg" else where[1]()
            if leaf is None:
                continue
            g = leaf._grad
            if g is None or g.shape != arr.shape:
                leaf._grad = _make(arr)
            else:
                g._data = arr
                g._vc[0] += 1
        it = iter(out[:n])
        return _rebuild(prog.outputs, it)


def _result(arr):
    """A compiled function's result: no graph on any call (a replay records none, so the
    traced calls don't either); a backward through it says why."""
    t = _make(arr)
    t._src = ("tg.compile", "compiled")
    return t


def _detach(x):
    if isinstance(x, Tensor):
        return _result(x._data)
    if isinstance(x, dict):
        return {k: _detach(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        items = [_detach(v) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
    return x


def _rebuild(spec, it):
    kind, x = spec
    if kind == "t":
        return _result(next(it))
    if kind == "py":
        return x
    if kind is dict:
        return {k: _rebuild(s, it) for k, s in x}
    items = [_rebuild(s, it) for s in x]
    return kind(*items) if hasattr(kind, "_fields") else kind(items)   # namedtuples too


def _signature(args, kwargs):
    """(hashable key, the tensor arguments in order). The autocast state is part of the key:
    a trace made under tg.autocast holds its casts, one made outside has none."""
    tensors = []
    key = [STATE.autocast.key if STATE.autocast is not None else None]

    def visit(x):
        if isinstance(x, Tensor):
            tensors.append(x)
            return ("T", x.shape, x.dtype.str, x.requires_grad, str(x.device))
        if backend.is_array(x):
            raise TypeError("tg.compile: pass tensors, not NumPy arrays (wrap them with "
                            "tg.tensor or tg.from_numpy)")
        if isinstance(x, (list, tuple)):
            return (type(x).__name__, tuple(visit(i) for i in x))
        try:
            hash(x)
            return ("V", type(x).__name__, x)
        except TypeError:
            return ("R", type(x).__name__, repr(x))
    for a in args:
        key.append(visit(a))
    for k in sorted(kwargs):
        key.append((k, visit(kwargs[k])))
    return tuple(key), tensors


def _unchanged(watched):
    return all(_same_value(obj[key], value) for obj, key, value in watched)


def _same_value(a, b):
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return a is b


def _agree(a, b):
    """Do two traces of one signature record the same program? Classifies ``b``'s arrays
    made outside any op as state or constants (see the module docstring); raises
    TraceError for a stale constant."""
    if len(a.ops) != len(b.ops) or len(a.values) != len(b.values) or a.inputs != b.inputs:
        return False
    for x, y in zip(a.ops, b.ops):
        if (x.kind != y.kind or x.fn is not y.fn or x.args != y.args or x.dyn != y.dyn or
                x.out != y.out or x.side != y.side or x.params.keys() != y.params.keys()):
            return False
        if not same_params(static_params(x.params, x.dyn), static_params(y.params, y.dyn)):
            return False
    if a.state.keys() != b.state.keys() or len(a.grads) != len(b.grads):
        return False
    if [(id(o), k) for o, k, _ in a.watched] != [(id(o), k) for o, k, _ in b.watched] or \
            not all(_same_value(x[2], y[2]) for x, y in zip(a.watched, b.watched)):
        return False
    if any(ga[1] != gb[1] or ga[0][0] != gb[0][0] or
           (ga[0][0] == "arg" and ga[0][1] != gb[0][1]) or
           (ga[0][0] == "leaf" and ga[0][1]() is not gb[0][1]()) for ga, gb in zip(a.grads, b.grads)):
        return False
    consts = {}
    for v, arr in b.state.items():
        old = a.state[v]
        if old is arr:
            continue
        if not same_params(old, arr):
            raise TraceError(_stale_message(b, v))
        consts[v] = arr
    for v, arr in consts.items():
        del b.state[v]
        b.consts[v] = arr
        b.values[v].kind = "const"
    return True


def _stale_message(prog, v):
    users = [op for op in prog.ops if v in op.values_read()]
    who = users[0].name if users else "an op"
    return (f"tg.compile: op '{who}' reads %{v}, an array {prog._ty(v)} that no traced op made "
            f"and whose value changed between two calls. A derivative rule or the function "
            f"computed it from tensor data outside tapegrad ops (e.g. _make(np.sign(x._data)) "
            f"or x.numpy()), or drew random numbers outside the ops (dropout's mask), so a "
            f"replay would reuse a stale constant. Compute it with tapegrad "
            f"ops; or, if it is state that the function replaces on every call (e.g. .grad "
            f"accumulated across calls), reset it inside the function (opt.zero_grad()); or "
            f"run this function eagerly.")


def compile(fn=None, *, fallback="error", optimize=True, fuse=None):
    """Compile a function of tensors (a whole training step included): ``tg.compile(fn)``
    or ``@tg.compile`` / ``@tg.compile(fallback="eager")``. See tapegrad.graph.compile.

    ``fuse``: replay long elementwise chains on small arrays as one numba kernel call when
    numba is installed (graph/fusion.py; exp, log, tanh and sigmoid may then differ from
    eager in the last bit). ``fuse=False``: results bit for bit eager's. The default
    (None) fuses where tapegrad can: on the CPU. A program on a GPU replays its ops on
    CuPy arrays unfused; ``fuse=True`` there is refused with a TraceError."""
    if fn is None:
        return lambda f: Compiled(f, fallback=fallback, optimize=optimize, fuse=fuse)
    return Compiled(fn, fallback=fallback, optimize=optimize, fuse=fuse)



