"""Function (an op's forward, VJP and JVP in one class), the op registry, and apply():
run an op forward and, when grad mode is on and an input takes gradients, record it.

Built-in ops and user ops use this same class. A built-in op's ``forward`` gets arrays
(through ``ctx.xp``); its ``vjp``/``jvp`` get and return Tensors, so backward passes
are themselves differentiable.
"""
import itertools
import os
import sys
import warnings

from .. import backend
from .modes import STATE
from .errors import ShapeError, argument_error
from .node import Node, LeafNode

xp = backend.xp
ndarray = backend.ndarray
CPU = backend.CPU
_new = object.__new__
_seq = itertools.count(1)
next_seq = _seq.__next__
# Tensor and its fast constructor; core/tensor.py binds them when it loads (it imports this
# module, so this one can't import it back)
Tensor = _make = None
# vmap's batching rule for ops that meet a BatchedTensor; tapegrad.vmap sets it when it loads
# (the rare modes register with the core; the core imports none of them)
batch_apply = None
# tg.autocast's casts of a primitive's and of a composite's inputs; tapegrad.amp sets them
autocast_inputs = autocast_composite = None
# an accelerator (CUDA) is in use: every op then takes the special path, which checks and
# carries devices, so programs that never leave the CPU pay one flag test per op
DEVICES = False


def _devices_changed(in_use):
    global DEVICES
    DEVICES = in_use


backend.devices.on_change(_devices_changed)


class Function:
    """One differentiable op. Subclass and define ``forward``, ``vjp`` and ``jvp``.

    Class flags: ``save_inputs`` / ``save_output`` keep the inputs / output for the
    rules (``ctx.inputs``, ``ctx.output``); ``differentiable = False`` marks ops whose
    result is a constant (argmax, comparisons); ``promote`` applies PyTorch's type
    promotion to tensor inputs; ``view`` says the output aliases input 0's memory;
    ``random`` says each call draws new random numbers (a graph pass must neither fold
    nor merge it); ``traceable = False`` says a rule decides on input values in Python,
    so a trace (tg.compile) can't replay it faithfully and must refuse it; ``moves`` says
    the output is on another device than the inputs (``x.to("cuda")``); ``saves``
    (with ``save_inputs``) lists for each input the inputs its gradient reads, so those
    no needed gradient reads are not kept (nor version-checked): ``((1,), (0,))`` for
    ``a * b``; ``array_vjp`` says its vjp is written in operators and ops that plain arrays
    answer too (ctx.inputs, ctx.output and g are arrays then), so a first-order backward
    runs it without building tensors or nodes.
    """

    name = None
    save_inputs = False
    save_output = False
    differentiable = True
    promote = False
    view = False
    random = False
    traceable = True
    array_vjp = False   # its vjp runs on plain arrays too (first-order passes use that)
    moves = False
    saves = None      # per input, the inputs its gradient reads (None: all of them)
    jvp = None
    tensor_forward = False   # True for torch-style user Functions (forward gets Tensors)

    @staticmethod
    def forward(ctx, *args, **params):
        """The op on arrays: ``args`` are the inputs' arrays (NumPy or CuPy, ``ctx.xp`` is
        their module) or Python values, ``params`` its keyword parameters; returns the
        output array. Whatever backward needs besides the inputs and output goes on ``ctx``
        (only when ``ctx.recording``)."""
        raise NotImplementedError

    @staticmethod
    def vjp(ctx, g):
        """The vector-Jacobian product: the gradient of each input given the gradient ``g``
        of the output (a tuple with one entry per input, None where none is needed),
        written in tapegrad ops so it is differentiable again."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **params):
        """Run the op on tensors (or arrays, numbers) ``args`` with keyword ``params``;
        records it when grad mode is on and an input requires grad. Returns a Tensor."""
        return apply(cls, args, params)


class _Scratch:
    """The ctx an op's forward gets when nothing is recorded: a throwaway object, so what
    the forward stores for backward is dropped with it."""
    xp = xp
    recording = False


def apply(fn, args, params, promoted=False):
    """Run ``fn.forward`` on the arrays behind ``args``; record a Node when grad mode is on
    and an input takes gradients (the rare modes, tapes, forward mode and the others under
    ``STATE.special``, go through :func:`_apply_special`)."""
    st = STATE
    if st.special or DEVICES:
        return _apply_special(fn, args, params, promoted, st)
    nodes = None
    # most calls: one tensor, or two of one dtype, or a float tensor and a Python number
    # (nothing to promote, nothing to wrap)
    if len(args) == 2:
        a, b = args
        if isinstance(a, Tensor):
            da = a._data
            if isinstance(b, Tensor):
                db = b._data
                if da.dtype == db.dtype:
                    arrays = (da, db)
                    nodes = (a.node, b.node)
                    needs = nodes[0] is not None or nodes[1] is not None
            elif (type(b) is float or type(b) is int) and da.dtype.kind in "fV":
                arrays = (da, b)
                nodes = (a.node, None)
                needs = nodes[0] is not None
    elif len(args) == 1:
        a = args[0]
        if isinstance(a, Tensor):
            arrays = (a._data,)
            nodes = (a.node,)
            needs = nodes[0] is not None
    if nodes is None:
        arrays, nodes, needs, redo = _scan(fn, args, promoted)
        if redo is not None:   # arrays to wrap, or dtypes to promote
            return apply(fn, redo[0], params, redo[1])
    if not (needs and st.grad_enabled and fn.differentiable):
        return _constant(fn, _forward(fn, _new(_Scratch), arrays, params), args, needs,
                         st.grad_enabled)
    ctx = Node(fn, nodes, next_seq(), params)
    out = _forward(fn, ctx, arrays, params)
    if out.dtype.kind not in "fV":
        return _constant(fn, out, args, needs, True)
    t = _make(out, ctx)
    _finish(ctx, fn, t, out, args, False)
    return t


def _scan(fn, args, promoted):
    """apply()'s general pass over the arguments: (their arrays, their nodes as a tuple,
    whether one takes gradients, None) or, when the call must be redone, (.., .., ..,
    (the arguments to redo it with, whether they are promoted)): NumPy arrays wrapped, or
    dtypes promoted."""
    arrays = []
    nodes = []
    needs = False    # an input takes gradients
    differ = False   # promotion must run: the tensors' dtypes differ, or an argument is
    #                  neither a tensor nor a Python int or float (a NumPy scalar, a bool)
    scalar = False   # a Python int or float is an argument: promotion runs if no tensor
    #                  is floating (PyTorch computes such an op in float)
    dtype = None
    for a in args:
        if isinstance(a, Tensor):
            d = a._data
            arrays.append(d)
            n = a.node
            nodes.append(n)
            if n is not None:
                needs = True
            if dtype is None:
                dtype = d.dtype
            elif d.dtype != dtype:
                differ = True
        elif isinstance(a, ndarray):
            return None, None, None, (_wrap_arrays(args), False)
        else:
            arrays.append(a)
            nodes.append(None)
            if type(a) is float or type(a) is int:
                scalar = True
            else:
                differ = True
    if (differ or scalar and (dtype is None or dtype.kind not in "fV")) and fn.promote and \
            not promoted:
        return None, None, None, (promote_args(args, fn.name), True)
    return arrays, tuple(nodes), needs, None


def _finish(ctx, fn, t, out, args, fw):
    """What a recorded (or forward-mode) node keeps: the output's shape and dtype, the saved
    inputs with their versions, the saved output with its version."""
    if fn.view:
        _share_view(t, args[0])
    ctx.shape = out.shape
    ctx.dtype = out.dtype
    if fn.save_inputs or fw:
        if fn.saves is not None and not fw and None in ctx.next:
            args = _needed(fn.saves, ctx.next, args)
        ctx._saved = args
        ctx._versions = _versions(args)
    if fn.save_output or fw:
        ctx._out = out
        ctx._out_vc = vc = t._vc
        ctx._out_v = vc[0]


def _apply_special(fn, args, params, promoted, st):
    """apply() while a rare mode is active: an accelerator, tracing, vmap, GradientTapes,
    forward mode, anomaly detection, checkpointing or the profiler."""
    if st.arrays:   # inside an array-level VJP: arrays in, arrays out
        return _array_apply(fn, args, params)
    dev = CPU
    if DEVICES and not fn.moves:
        if any(not isinstance(a, Tensor) and backend.is_array(a) for a in args):
            args = _wrap_arrays(args)
        dev, scalars = _device_of_args(fn, args)
        if scalars:   # 0-d CPU tensors meet another device's: moved there (differentiably,
            #           and as ops a trace records)
            args = tuple(ToDevice.apply(a, device=dev) if isinstance(a, Tensor) and
                         type(a._data) is ndarray and not a._data.ndim else a for a in args)
    if st.autocast is not None:   # casts by the op's autocast policy, as recorded ops
        args = autocast_inputs(fn, args, dev)
    if st.trace is not None:   # the tracer runs the op (through here) and records it
        return st.trace.apply(fn, args, params, promoted)
    if st.vmap and any(type(a).__name__ == "BatchedTensor" for a in args):
        return batch_apply(fn, args, params)
    if any(not isinstance(a, Tensor) and backend.is_array(a) for a in args):
        args = _wrap_arrays(args)
    if fn.promote and not promoted and _must_promote(args):
        args = promote_args(args, fn.name)
    nodes = [a.node if isinstance(a, Tensor) else None for a in args]
    enabled = st.grad_enabled
    record = enabled and fn.differentiable
    if record and st.tapes:
        _watch_inputs(st.tapes, args, nodes)
    needs = any(n is not None for n in nodes)
    record = record and needs
    fw = fn.differentiable and bool(st.fw_levels) and any(
        isinstance(a, Tensor) and a._fw is not None for a in args)
    ctx = None
    if record or fw or st.profile:
        ctx = Node(fn, tuple(nodes), next_seq(), params) if dev is CPU and not fn.moves \
            else DeviceNode(fn, tuple(nodes), next_seq(), params, dev)
    arrays = [a._data if isinstance(a, Tensor) else a for a in args]
    if ctx is not None and st.profile:
        out = st.profile.run_forward(fn, ctx, arrays, params)
    elif dev is CPU and not fn.moves:
        out = _forward(fn, _new(_Scratch) if ctx is None else ctx, arrays, params)
    else:
        if ctx is None:
            ctx = _new(_Scratch)
            ctx.xp = backend.module_for(dev)
        with backend.on_device(dev):
            out = _device_forward(fn, ctx, arrays, params)
        if fn.moves:
            if isinstance(ctx, DeviceNode):
                ctx.device = backend.device_of(out)
        elif backend.device_of(out) != dev:
            raise RuntimeError(f"{fn.name}: the forward computed on {dev} returned an array on "
                               f"{backend.device_of(out)}; an op's forward must allocate with "
                               f"ctx.xp (its inputs' array module)")
        if not record and not fw:
            return _constant(fn, out, args, needs, enabled)
    if ctx is None or not (record or fw) or out.dtype.kind not in "fV":
        return _constant(fn, out, args, needs, enabled)
    t = _make(out, ctx if record else None)
    _finish(ctx, fn, t, out, args, fw)
    if record:
        _observe(ctx, args, st)
    else:
        t._src = (fn.name, "no_grad" if needs else "no_input")
    if fw:
        push_tangents(ctx, t, args, st)
    return t


def _forward(fn, ctx, arrays, params):
    """``fn.forward`` on arrays; its result as an array (NumPy returns 0-d results as
    scalars), a broadcasting failure as an error naming the op and the shapes."""
    try:
        out = fn.forward(ctx, *arrays, **params)
    except _FORWARD_ERRORS as e:
        raise _forward_error(fn, arrays, params, e) from None
    return out if type(out) is ndarray else xp.asarray(out)


def _array_apply(fn, args, params):
    """``fn`` on the arrays behind ``args``, for an array-level VJP: its forward's result
    as it is (an array or a NumPy scalar), no tensor, no node."""
    arrays = [a._data if isinstance(a, Tensor) else a for a in args]
    ctx = _new(_Scratch)
    if DEVICES:
        ctx.xp = backend.array_module(*arrays)
    return fn.forward(ctx, *arrays, **params)


def _device_forward(fn, ctx, arrays, params):
    """:func:`_forward` on an accelerator (or moving between devices): results as arrays of
    the device's module."""
    try:
        out = fn.forward(ctx, *arrays, **params)
    except _FORWARD_ERRORS as e:
        raise _forward_error(fn, arrays, params, e) from None
    return out if backend.is_array(out) else ctx.xp.asarray(out)


def _wrap_arrays(args):
    return tuple(_make(a) if not isinstance(a, Tensor) and backend.is_array(a) else a
                 for a in args)


def _device_of_args(fn, args):
    """(The device the op runs on, whether 0-d CPU tensors must move there). Tensors on two
    devices are an error naming the op and both devices, except that a 0-d CPU tensor goes
    with any device's tensors, as a Python number does (PyTorch's rule)."""
    dev = None
    scalars = False
    for a in args:
        if isinstance(a, Tensor):
            d = a._data
            if type(d) is ndarray:
                if not d.ndim:
                    scalars = True
                    continue
                d = CPU
            else:
                d = backend.device_of(d)
            if dev is None:
                dev = d
            elif d != dev:
                raise RuntimeError(f"{fn.name}: expected all tensors to be on the same device, "
                                   f"but found at least two devices, {dev} and {d}")
    if dev is None or dev == CPU:
        return CPU, False
    return dev, scalars


class DeviceNode(Node):
    """A node of an op computed on an accelerator: its ctx.xp is that device's array module
    (CuPy), and ``device`` is its output's device, where the gradient it receives must be
    (another than its inputs' for ops that move tensors)."""

    __slots__ = ("xp", "device")

    def __init__(self, fn, next_nodes, seq, params, dev):
        Node.__init__(self, fn, next_nodes, seq, params)
        self.xp = backend.module_for(dev)
        self.device = dev


def _must_promote(args):
    """Whether PyTorch's type promotion changes something for these arguments (apply's
    argument pass decides the same inline)."""
    dtype = None
    scalar = False
    for a in args:
        if isinstance(a, Tensor):
            d = a._data.dtype
            if dtype is None:
                dtype = d
            elif d != dtype:
                return True
        elif type(a) is float or type(a) is int:
            scalar = True
        else:
            return True
    return scalar and (dtype is None or dtype.kind not in "fV")


class Unsaved:
    """Stands for a tensor input an op did not save (no gradient reads its values): its
    shape and dtype only, so an in-place change of it later is not an error (PyTorch's
    rule: ``d += d * 2`` works, ``d`` was not saved)."""

    __slots__ = ("shape", "dtype")

    def __init__(self, t):
        self.shape, self.dtype = t.shape, t.dtype

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<unsaved input {list(self.shape)} {self.dtype}>"


def _needed(saves, nodes, args):
    """``args`` with the tensors that no needed gradient reads (``saves[i]``: the inputs
    input i's gradient reads) replaced by their shape and dtype."""
    keep = set()
    for i, n in enumerate(nodes):
        if n is not None:
            keep.update(saves[i])
    return tuple(a if i in keep or not isinstance(a, Tensor) else Unsaved(a)
                 for i, a in enumerate(args))


def _versions(args):
    """The version of each tensor argument as the op saves it (None for other arguments).
    The usual answers (every tensor at version 0) are shared tuples: a recorded op then
    leaves one object fewer for the cyclic garbage collector to track."""
    if len(args) == 2:
        a, b = args
        v = (a._vc[0] if isinstance(a, Tensor) else None,
             b._vc[0] if isinstance(b, Tensor) else None)
    else:
        v = tuple([a._vc[0] if isinstance(a, Tensor) else None for a in args])
    return _FRESH.get(v, v)


_FRESH = {v: v for v in ((0,), (0, 0), (0, None), (None, 0), (0, 0, 0), (0, 0, None))}


def _observe(ctx, args, st):
    """Tell whoever watches the recording (anomaly mode, tapes, a checkpoint, the profiler)
    about a new node."""
    if st.anomaly:
        ctx.where = caller_location()
    for tape in st.tapes:
        tape._record(ctx, args)
    if st.ckpt is not None:
        st.ckpt.adopt(ctx)
    if st.profile:
        st.profile.saved(ctx.fn, ctx)


_FORWARD_ERRORS = (ValueError, TypeError, AttributeError)


def _forward_error(fn, arrays, params, e):
    """What an op's forward raised, in tapegrad's words: NumPy's broadcasting ValueError as
    a ShapeError naming the op and the shapes; Python's or NumPy's error on an argument
    holding no numbers (a string, a dict...) as a TypeError naming the op and the argument;
    anything else as it is."""
    if isinstance(e, ValueError) and not isinstance(e, ShapeError) and "broadcast" in str(e):
        shapes = " and ".join(str(list(a.shape)) for a in arrays if backend.is_array(a))
        return ShapeError(f"{fn.name}: the shapes {shapes} cannot be broadcast together")
    return argument_error(fn.name, fn.forward, arrays, params, e, skip=1)


def push_tangents(ctx, out, args, st):
    """Forward mode: the output's tangent at each active level from the inputs' tangents at
    that level, by the op's jvp rule (run with that level switched off, so the rule's own
    ops carry only the other levels' tangents)."""
    fn = ctx.fn
    levels = st.fw_levels
    for level in reversed(levels):
        tangents = [a._fw.get(level) if isinstance(a, Tensor) and a._fw else None for a in args]
        if all(t is None for t in tangents):
            continue
        if fn.jvp is None:
            raise NotImplementedError(f"forward-mode AD: op '{fn.name}' has no jvp rule")
        st.fw_levels = tuple(lv for lv in levels if lv != level)
        try:
            with backend.on_device(ctx.device or CPU):
                t_out = fn.jvp(ctx, *tangents)
        finally:
            st.fw_levels = levels
        if t_out is None:
            continue
        if not isinstance(t_out, Tensor):
            t_out = _make(ctx.xp.asarray(t_out, dtype=out.dtype))
        if t_out.shape != out.shape:
            from .registry import OPS
            t_out = OPS["broadcast_to"].fn(t_out, out.shape)
        if t_out.dtype != out.dtype:
            t_out = Cast.apply(t_out, dtype=out.dtype)
        if out._fw is None:
            out._fw = ctx._out_fw = {}
        out._fw[level] = t_out


def _constant(fn, out, args, needs, enabled):
    """The output of an op that recorded nothing: a tensor without a graph (``_src`` says
    why, for the error a later backward through it raises)."""
    t = _make(out)
    if fn.view:
        _share_view(t, args[0])
    why = "no_grad" if needs and not enabled else None
    if why is None:
        for a in args:  # grad mode was off upstream
            if isinstance(a, Tensor) and a._src is not None and a._src[1] == "no_grad":
                why = "no_grad"
                break
        else:
            why = "no_input" if fn.differentiable else "constant"
    t._src = (fn.name, why)
    return t


def _share_view(t, src):
    if isinstance(src, type(t)) and t._data.base is not None:
        t._vc = src._vc
        t._base = src._base if src._base is not None else src


def _watch_inputs(tapes, args, nodes):
    """While a tape records, floating tensors entering an op are watched."""
    for a in args:
        if isinstance(a, Tensor) and a.node is None and a._data.dtype.kind in "fV":
            for tape in tapes:
                tape.watch(a)
    for i, a in enumerate(args):  # the same tensor may appear twice (x * x)
        if isinstance(a, Tensor):
            nodes[i] = a.node
    return any(n is not None for n in nodes)


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def in_package(filename):
    """Whether ``filename`` is one of tapegrad's own source files (by the package's own
    directory: a user's clone named ``tapegrad`` is not the package)."""
    return os.path.abspath(filename).startswith(_PACKAGE)


def warn_user(message, category=UserWarning):
    """``warnings.warn`` pointing at the user's line: the first frame outside tapegrad."""
    level, f = 1, sys._getframe(1)
    while f is not None and in_package(f.f_code.co_filename):
        level, f = level + 1, f.f_back
    warnings.warn(message, category, stacklevel=level)


def caller_location():
    """file:line of the first frame outside tapegrad (where the user called the op)."""
    f = sys._getframe(1)
    while f is not None and in_package(f.f_code.co_filename):
        f = f.f_back
    return f"{f.f_code.co_filename}:{f.f_lineno}" if f is not None else "<unknown>"


# -- type promotion (PyTorch's rules) -------------------------------------------------------
def result_type(*args):
    """PyTorch's result dtype: tensors with dims > 0-d tensors > Python scalars; a lower
    group only counts if its category (bool < int < float) is higher."""
    dim = zdim = None
    scalar_cat = -1
    for a in args:
        if isinstance(a, Tensor):
            d = a._data.dtype
            if a._data.ndim:
                dim = d if dim is None else _promote(dim, d)
            else:
                zdim = d if zdim is None else _promote(zdim, d)
        elif isinstance(a, bool):
            scalar_cat = max(scalar_cat, 0)
        elif isinstance(a, int):
            scalar_cat = max(scalar_cat, 1)
        elif isinstance(a, float):
            scalar_cat = max(scalar_cat, 2)
    res = dim
    if zdim is not None and (res is None or backend.category(zdim) > backend.category(res)):
        res = zdim
    if scalar_cat >= 0 and (res is None or scalar_cat > backend.category(res)):
        res = (backend.bool_, backend.DEFAULT_INT, backend.DEFAULT_FLOAT)[scalar_cat]
    return res


def _promote(a, b):
    """PyTorch's promote_types: across categories the higher one wins as it is (float32 with
    int64 is float32); within a category NumPy's rule (int32 with int64 is int64)."""
    ca, cb = backend.category(a), backend.category(b)
    if ca != cb:
        return a if ca > cb else b
    return backend.promote_types(a, b)


def promote_args(args, op=None):
    """Cast tensor inputs to PyTorch's promoted dtype (python scalars stay weakly typed:
    NumPy keeps a float32 tensor float32 when it meets a python float). ``op`` (the op's
    name) checks every argument is a tensor or a number: a TypeError names the op."""
    ops = tuple(_make(a) if isinstance(a, ndarray) else
                a.item() if isinstance(a, backend.generic) else a for a in args)
    if op is not None:
        for i, a in enumerate(ops):
            if not isinstance(a, (Tensor, int, float, bool)) and a is not None:
                raise TypeError(f"{op}(): argument {i} must be a tensor or a number, not "
                                f"{type(a).__name__}")
    res = result_type(*ops)
    if res is None:
        return ops
    return tuple(Cast.apply(a, dtype=res) if isinstance(a, Tensor) and a._data.dtype != res
                 else a for a in ops)


def zeros_like(t):
    """A constant tensor of zeros with ``t``'s shape, dtype and device (an array in an
    array-level VJP)."""
    if STATE.arrays:
        return backend.array_module(t).zeros_like(t)
    d = t._data
    if type(d) is ndarray:
        return _make(xp.zeros(d.shape, d.dtype))
    with backend.on_device(backend.device_of(d)):
        return _make(backend.array_module(d).zeros(d.shape, d.dtype))


class Cast(Function):
    """y = x as another dtype; dy/dx = identity, cast back to x's dtype."""

    name = "to"

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype
        return x.astype(dtype, copy=False)

    @staticmethod
    def vjp(ctx, g):
        if ctx.in_dtype.kind not in "fV":
            return None
        return Cast.apply(g, dtype=ctx.in_dtype)

    @staticmethod
    def jvp(ctx, t):
        return Cast.apply(t, dtype=ctx.params["dtype"])


class ToDevice(Function):
    """y = x on another device (``x.to("cuda")``); dy/dx = identity, moved back."""

    name = "to_device"
    moves = True

    @staticmethod
    def forward(ctx, x, device):
        ctx.source = backend.device_of(x)
        return backend.to_device(x, device)

    @staticmethod
    def vjp(ctx, g):
        return ToDevice.apply(g, device=ctx.source)

    @staticmethod
    def jvp(ctx, t):
        return ToDevice.apply(t, device=ctx.params["device"])
