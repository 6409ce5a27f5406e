"""User-defined ops, PyTorch style: ``forward(ctx, *args)`` gets the input tensors (run with
grad mode off), ``backward(ctx, *grads)`` returns one gradient per input. They are the same
Function class and Node ctx the built-in ops use, so the engine checks their gradients'
number and shapes, and a backward written in tensor ops is differentiable again."""
import warnings

from .. import backend
from ..core import function as core
from ..core.registry import OPS
from ..core.modes import STATE
from ..core.node import Node
from ..core.tensor import Tensor, _make

xp = backend.xp


class FunctionCtx(Node):
    """The ``ctx`` of a user Function: save_for_backward, saved_tensors, needs_input_grad,
    mark_dirty (this op changed an input in place), mark_non_differentiable."""

    __slots__ = ("device", "xp")
    dirty = ()
    non_differentiable = ()
    packed = None   # several outputs: [(slice in the packed output or None, shape, dtype)]

    def __init__(self, fn, next_nodes, seq):
        Node.__init__(self, fn, next_nodes, seq)
        self.device = None      # the output's device once known (None: the CPU)
        self.xp = backend.xp

    def mark_dirty(self, *tensors):
        """Declare the inputs that ``forward`` modified in place: their version counters move on
        (a later backward that needs their old values raises instead of using new ones); an
        input changed without it makes ``apply`` raise RuntimeError.

        Args:
            *tensors (Tensor): the inputs written in place.
        """
        self.dirty = tensors

    def mark_non_differentiable(self, *tensors):
        """Declare outputs that carry no gradient (indices, masks): they do not require grad and
        ``backward`` receives zeros for them.

        Args:
            *tensors (Tensor): outputs of ``forward``.
        """
        self.non_differentiable = tensors

    def set_materialize_grads(self, value):
        """PyTorch's switch between zeros and None for outputs that got no gradient. Accepted
        and stored for compatibility; tapegrad's ``backward`` always receives zeros for them
        (PyTorch's default), so ``False`` changes nothing.

        Args:
            value (bool): the setting.
        """
        self.materialize = bool(value)


class Function(core.Function):
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grads)`` (or
    ``vjp``), optionally ``jvp(ctx, *tangents)``; call ``MyFn.apply(...)``."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name is None or cls.name == getattr(cls.__mro__[1], "name", None):
            cls.name = cls.__name__
        if "backward" in cls.__dict__:
            cls.tensor_forward = True
            cls.vjp = staticmethod(_call_backward)
            if "jvp" in cls.__dict__:
                cls.user_jvp = staticmethod(cls.__dict__["jvp"])
                cls.jvp = staticmethod(_call_jvp)

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run the op: ``forward(ctx, *args, **kwargs)`` with grad mode off, then record one tape
        node whose VJP is ``backward`` (or ``vjp``), when an input requires grad.

        Args:
            *args: passed to ``forward``; the tensors among them are the op's inputs.
            **kwargs: passed to ``forward``.

        Returns:
            the output tensor(s) of ``forward``.

        Raises:
            NotImplementedError: the subclass defines no ``forward``.
            RuntimeError: ``forward`` changed an input in place without ``ctx.mark_dirty``, or
                (at backward time) ``backward`` returned the wrong number of gradients or one
                of the wrong shape.
        """
        if not cls.tensor_forward:
            return core.apply(cls, args, kwargs)
        return _apply(cls, args, kwargs)


def _call_backward(ctx, g):
    """The engine's vjp for a user Function: unpack per-output gradients, call backward."""
    if ctx.packed is None:
        return ctx.fn.backward(ctx, g)
    grads = []
    for i, shape, dtype in ctx.packed:
        if i is None:  # a non-differentiable output: a zero gradient, as PyTorch
            grads.append(_make(ctx.xp.zeros(shape, dtype)))
        else:
            grads.append(g[i].reshape(shape).to(dtype))
    return ctx.fn.backward(ctx, *grads)


def _call_jvp(ctx, *tangents):
    out = ctx.fn.user_jvp(ctx, *tangents)
    if ctx.packed is None:
        return out
    outs = out if isinstance(out, (tuple, list)) else (out,)
    flat = [t.reshape(-1).to(ctx.dtype) for (i, _, _), t in zip(ctx.packed, outs) if i is not None]
    return OPS["cat"].fn(flat, 0)


def _apply(cls, args, kwargs):
    nodes = tuple(a.node if isinstance(a, Tensor) else None for a in args)
    record = STATE.grad_enabled and any(n is not None for n in nodes)
    fw = bool(STATE.fw_levels) and any(isinstance(a, Tensor) and a._fw for a in args)
    ctx = FunctionCtx(cls, nodes, core.next_seq())
    anomaly = STATE.anomaly
    before = [a._data.copy() if isinstance(a, Tensor) else None for a in args] if anomaly else ()
    prev, prev_fw = STATE.grad_enabled, STATE.fw_levels
    STATE.grad_enabled, STATE.fw_levels = False, ()
    try:
        out = cls.forward(ctx, *args, **kwargs)
    finally:
        STATE.grad_enabled, STATE.fw_levels = prev, prev_fw
    multi = isinstance(out, (tuple, list))
    outs = [o if isinstance(o, Tensor) else _make(o if backend.is_array(o) else xp.asarray(o))
            for o in (out if multi else [out])]
    _check_ctx_tensors(ctx, cls, anomaly)
    dirty = ctx.dirty
    for i, (a, b) in enumerate(zip(args, before)):
        if b is not None and not any(a is d for d in dirty) and not backend.array_module(
                b).array_equal(a._data, b, equal_nan=True):
            raise RuntimeError(f"{cls.__name__}.forward changed input {i} in place without "
                               f"declaring it; call ctx.mark_dirty(input) in forward")
    for d in dirty:
        d._vc[0] += 1
    diff = [k for k, o in enumerate(outs) if backend.is_floating(o.dtype) and
            not any(o is t for t in ctx.non_differentiable)]
    if not (record or fw) or not diff:
        res = [o if any(o is d for d in dirty) else _make(o._data) for o in outs]
        return tuple(res) if multi else res[0]
    if multi:
        packed, results = _pack(ctx, outs, diff, record)
    else:
        ctx.packed = None
        packed = results = outs[0]
        ctx.shape, ctx.dtype = packed.shape, packed.dtype
        if any(packed is d for d in dirty):
            packed.node = ctx if record else packed.node
        else:
            packed = results = _make(packed._data, ctx if record else None)
    ctx.params = kwargs
    dev = packed.device
    if dev.type != "cpu":       # where the gradient it receives must be
        ctx.device, ctx.xp = dev, backend.module_for(dev)
    if record:
        if anomaly:
            ctx.where = core.caller_location()
        for tape in STATE.tapes:
            tape._record(ctx, args)
    if fw:
        ctx._saved = args
        ctx._versions = core._versions(args)
        core.push_tangents(ctx, packed, args, STATE)
        if multi:  # the slices were made before the packed tangent existed: redo them
            packed, results = _unpack(ctx, packed, outs)
    return tuple(results) if multi else results


def _pack(ctx, outs, diff, record):
    """Several outputs become one flat node output; each output is a slice of it (so the
    engine keeps one gradient per node)."""
    dtype = outs[diff[0]].dtype
    for k in diff:
        dtype = backend.promote_types(dtype, outs[k].dtype)
    flat = backend.array_module(outs[diff[0]]._data).concatenate(
        [outs[k]._data.reshape(-1).astype(dtype) for k in diff])
    ctx.shape, ctx.dtype = flat.shape, flat.dtype
    packed = _make(flat, ctx if record else None)
    return _unpack(ctx, packed, outs, diff)


def _unpack(ctx, packed, outs, diff=None):
    if diff is None:
        diff = [k for k, (i, _, _) in enumerate(ctx.packed) if i is not None]
    meta, results, off = [], [], 0
    for k, o in enumerate(outs):
        if k in diff:
            n = o._data.size
            key = slice(off, off + n)
            meta.append((key, o.shape, o.dtype))
            results.append(packed[key].reshape(o.shape).to(o.dtype))
            off += n
        else:
            meta.append((None, o.shape, o.dtype))
            results.append(_make(o._data))
    ctx.packed = meta
    return packed, results


def _check_ctx_tensors(ctx, cls, anomaly):
    stray = [k for k, v in vars(ctx).items() if isinstance(v, Tensor) and not k.startswith("_")]
    if stray:
        msg = (f"{cls.__name__} stores tensor(s) {stray} on ctx directly; use "
               f"ctx.save_for_backward(...) so in-place changes are detected and memory is freed")
        if anomaly:
            raise RuntimeError(msg)
        warnings.warn(msg, UserWarning, stacklevel=4)


class _OnceDifferentiable(core.Function):
    """Identity on a once_differentiable backward's result, connected to what that backward
    read; differentiating through it raises instead of silently giving a wrong answer."""

    name = "once_differentiable"

    @staticmethod
    def forward(ctx, r, *inputs, op):
        return r

    @staticmethod
    def vjp(ctx, g):
        raise NotImplementedError(f"the backward of '{ctx.params['op']}' is once_differentiable; "
                                  f"it cannot be differentiated again (create_graph=True)")


def once_differentiable(backward):
    """Mark a backward that is not itself differentiable. It runs without recording; if a
    graph was requested (create_graph=True), its results raise when differentiated again."""
    def wrapper(ctx, *grads):
        prev = STATE.grad_enabled
        STATE.grad_enabled = False
        try:
            out = backward(ctx, *grads)
        finally:
            STATE.grad_enabled = prev
        if not prev:
            return out
        read = [t for t, _ in (ctx._user_saved or ()) if t is not None and t.requires_grad]
        read += [g for g in grads if isinstance(g, Tensor) and g.requires_grad]
        if not read:
            return out

        def guard(r):
            return core.apply(_OnceDifferentiable, (r, *read), {"op": ctx.name}) \
                if isinstance(r, Tensor) and backend.is_floating(r.dtype) else r
        return tuple(guard(r) for r in out) if isinstance(out, tuple) else guard(out)
    wrapper.__name__ = getattr(backward, "__name__", "backward")
    return wrapper
