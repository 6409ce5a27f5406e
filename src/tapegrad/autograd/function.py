"""User-defined ops, PyTorch style: ``forward(ctx, *args)`` gets the input tensors (run with
grad mode off), ``backward(ctx, *grads)`` returns one gradient per input. They are the same
Function class and Node ctx the built-in ops use, so the engine checks their gradients'
number and shapes, and a backward written in tensor ops is differentiable again."""
import warnings

from .. import backend
from ..core import function as core
from ..core.modes import STATE
from ..core.node import Node
from ..core.tensor import Tensor, _make

xp = backend.xp


class FunctionCtx(Node):
    """The ``ctx`` of a user Function: save_for_backward, saved_tensors, needs_input_grad,
    mark_dirty (this op changed an input in place), mark_non_differentiable."""

    dirty = ()
    non_differentiable = ()

    def mark_dirty(self, *tensors):
        self.dirty = tensors

    def mark_non_differentiable(self, *tensors):
        self.non_differentiable = tensors

    def set_materialize_grads(self, value):
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

    @classmethod
    def apply(cls, *args, **kwargs):
        if not cls.tensor_forward:
            return core.apply(cls, args, kwargs)
        return _apply(cls, args, kwargs)


def _call_backward(ctx, g):
    out = ctx.fn.backward(ctx, g)
    return out


def _apply(cls, args, kwargs):
    nodes = tuple(a.node if isinstance(a, Tensor) else None for a in args)
    record = STATE.grad_enabled and any(n is not None for n in nodes)
    ctx = FunctionCtx(cls, nodes, core.next_seq())
    anomaly = STATE.anomaly
    before = [a._data.copy() if isinstance(a, Tensor) else None for a in args] if anomaly else ()
    prev = STATE.grad_enabled
    STATE.grad_enabled = False
    try:
        out = cls.forward(ctx, *args, **kwargs)
    finally:
        STATE.grad_enabled = prev
    if isinstance(out, (tuple, list)):
        raise TypeError(f"{cls.__name__}.forward returned {len(out)} outputs; a user Function "
                        f"returns one tensor (combine outputs with tg.cat or split the op)")
    _check_ctx_tensors(ctx, cls, anomaly)
    dirty = ctx.dirty
    for i, (a, b) in enumerate(zip(args, before)):
        if b is not None and not any(a is d for d in dirty) and not xp.array_equal(
                a._data, b, equal_nan=True):
            raise RuntimeError(f"{cls.__name__}.forward changed input {i} in place without "
                               f"declaring it; call ctx.mark_dirty(input) in forward")
    for d in dirty:
        d._vc[0] += 1
    if not isinstance(out, Tensor):
        out = _make(xp.asarray(out))
    if not record or out.dtype.kind != "f" or any(out is t for t in ctx.non_differentiable):
        if any(out is d for d in dirty):
            return out
        return _make(out._data)
    ctx.shape, ctx.dtype, ctx.params = out.shape, out.dtype, kwargs
    if anomaly:
        ctx.where = core.caller_location()
    for tape in STATE.tapes:
        tape._record(ctx, args)
    if any(out is d for d in dirty):
        out.node = ctx
        return out
    return _make(out._data, ctx)


def _check_ctx_tensors(ctx, cls, anomaly):
    stray = [k for k, v in vars(ctx).items() if isinstance(v, Tensor) and not k.startswith("_")]
    if stray:
        msg = (f"{cls.__name__} stores tensor(s) {stray} on ctx directly; use "
               f"ctx.save_for_backward(...) so in-place changes are detected and memory is freed")
        if anomaly:
            raise RuntimeError(msg)
        warnings.warn(msg, UserWarning, stacklevel=4)


def once_differentiable(backward):
    """Mark a backward that is not itself differentiable: differentiating it again raises."""
    def wrapper(ctx, *grads):
        if STATE.grad_enabled and any(isinstance(g, Tensor) and g.node is not None
                                      for g in grads):
            raise NotImplementedError(f"the backward of '{ctx.name}' is once_differentiable; it "
                                      f"cannot be differentiated again (create_graph=True)")
        prev = STATE.grad_enabled
        STATE.grad_enabled = False
        try:
            return backward(ctx, *grads)
        finally:
            STATE.grad_enabled = prev
    wrapper.__name__ = getattr(backward, "__name__", "backward")
    return wrapper
