"""``rnn_scan``: one recurrent layer, one direction, over a whole sequence, as one op.

The recurrent layers (nn/rnn.py) compute the input projection of every time step with one
``linear`` (x @ W_ih^T for the whole sequence) and hand it here; what is left is inherently
sequential: per step one product with W_hh and the cell's elementwise maths.

Why a primitive: as a composite each step would record a dozen nodes, and the backward
would run a dozen VJPs per step plus one small weight-gradient product per step. Here the
forward loops over arrays, keeping the gate activations; the first-order VJP
(:class:`ScanGrad`, ops/rnn_backward.py) loops back over them with one product per step
and computes the weight gradients as one product over all steps (dW_hh = dG^T H_prev).

Higher orders: the VJP and the JVP are those of the reference composite
(``rnn_steps.reference``, the same steps in tapegrad ops), so a backward pass run with
``create_graph=True``, forward mode, or a VJP of the VJP see an ordinary differentiable
graph. The fast array VJP is only taken when nothing will differentiate it.
"""
from ..core.function import Function
from ..core.registry import primitive
from ..core.modes import STATE, enable_grad
from ..core.engine import grad
from ..forward_ad import Alias, dual_level, make_dual, unpack_dual
from .rnn_steps import MODES, reference
from .rnn_forward import array_scan, saved_arrays
from .rnn_backward import BACKWARD
from . import rnn_kernel


@primitive("rnn_scan", public=False)
class RNNScan(Function):
    """out = the states of a recurrent layer over time (ops/rnn_steps.py has the maths).

    Inputs: ``xg`` (T, B, gates * H) the input projection with its biases (GRU: b_ih only),
    ``h0`` (B, P), ``c0`` (B, H) for LSTM else None, ``w_hh`` (gates * H, P), ``b_hh``
    (gates * H,) for GRU else None, ``w_hr`` (P, H) for a projecting LSTM else None.
    Params: ``mode`` (RNN_TANH, RNN_RELU, LSTM, GRU), ``reverse`` (run from the last step
    to the first), ``batch_sizes`` (the active rows per time step of a packed batch, or
    None). Output: h after each step, (T, B, P) in time order; LSTM: those flattened, then
    the final c flattened, (T * B * P + B * H,) (so both parts are contiguous views).

    VJP: :class:`ScanGrad` (first order, arrays) or the reference's autodiff (when the
    backward pass itself is recorded or carries tangents). JVP: the reference in forward
    mode.
    """

    save_inputs = True
    save_output = True

    @staticmethod
    def forward(ctx, xg, h0, c0, w_hh, b_hh, w_hr, mode, reverse, batch_sizes):
        if rnn_kernel.takes_kernels(mode, xg, w_hr, batch_sizes):
            out, acts = rnn_kernel.scan_forward(ctx.xp, xg, h0, c0, w_hh, reverse)
            acts = (acts,)
        else:
            acts = saved_arrays(ctx.xp, mode, xg, h0, batch_sizes)
            out = array_scan(ctx.xp, mode, xg, h0, c0, w_hh, b_hh, w_hr, reverse,
                             batch_sizes, acts)
        if ctx.recording:
            ctx.acts = acts
        return out

    @staticmethod
    def vjp(ctx, g):
        needs = ctx.needs_input_grad
        if STATE.grad_enabled or STATE.fw_levels or STATE.vmap:
            return _reference_vjp(ctx, g, needs)
        ins = ctx.inputs
        flat = ScanGrad.apply(g, ctx.output, *ins, *ctx.acts, needs=needs, **ctx.params)
        layouts = _layouts(ins, ctx.acts)
        out, start = [], 0
        for x, need, (shape, axes) in zip(ins, needs, layouts):
            if not need:
                out.append(None)
                continue
            size = x._data.size
            part = flat[start:start + size].reshape(shape)
            out.append(part if axes is None else part.permute(*axes))
            start += size
        return tuple(out)

    @staticmethod
    def jvp(ctx, *tangents):
        ins = ctx.inputs
        with dual_level():
            xs = [x if t is None else make_dual(x, t) for x, t in zip(ins, tangents)]
            return unpack_dual(reference(*xs, **ctx.params)).tangent


def _reference_vjp(ctx, g, needs):
    """The VJP as the reference composite's, recorded (so it can be differentiated again).
    The inputs are aliased so the gradients stop at them (an input computed from another
    input must not pass its gradient on here; the engine does that)."""
    ins = ctx.inputs
    with enable_grad():
        xs = [Alias.apply(x) if need else x for x, need in zip(ins, needs)]
        out = reference(*xs, **ctx.params)
        wrt = [x for x, need in zip(xs, needs) if need]
        grads = iter(grad(out, wrt, g, create_graph=True, allow_unused=True))
    return tuple(next(grads) if need else None for need in needs)


@primitive("rnn_scan_backward", public=False)
class ScanGrad(Function):
    """The gradients of ``rnn_scan`` (for the inputs in ``needs``, flattened and joined),
    from the upstream gradient ``g``, its output ``y``, its inputs and the activations its
    forward kept: the backward recursion runs over arrays (ops/rnn_backward.py).

    First order only (``differentiable = False``): rnn_scan's VJP uses it only when the
    backward pass is not recorded; otherwise it differentiates the reference composite.
    An op (not plain array code inside the VJP) so that tg.compile records and replays it.
    """

    differentiable = False

    @staticmethod
    def forward(ctx, g, y, xg, h0, c0, w_hh, b_hh, w_hr, *acts, needs, mode, reverse,
                batch_sizes):
        inputs = (xg, h0, c0, w_hh, b_hh, w_hr)
        flat, views = _result(ctx.xp, g.dtype, inputs, needs, _layouts(inputs, acts))
        if rnn_kernel.is_kernel_acts(acts):
            rnn_kernel.scan_backward(ctx.xp, g, y, h0, c0, w_hh, acts[0], reverse, views)
        else:
            BACKWARD[mode](ctx.xp, g, y, h0, c0, w_hh, b_hh, w_hr, acts, reverse,
                           batch_sizes, views)
        return flat


def _layouts(inputs, acts):
    """Per input, (memory shape, axes viewing it as the input's shape or None) of its
    gradient: the input's own shape, except xg's on the kernel path (its gates-major
    layout, rnn_kernel.py)."""
    out = [(None if x is None else tuple(x.shape), None) for x in inputs]
    if rnn_kernel.is_kernel_acts(acts):
        out[0] = rnn_kernel.result_layout(tuple(inputs[0].shape))
    return out


def _result(xp, dtype, inputs, needs, layouts):
    """One flat array for the needed gradients, and for each input a view of its shape in
    it laid out as ``layouts`` says (None where not needed): the backward writes each
    gradient in place."""
    sizes = [x.size if need else 0 for x, need in zip(inputs, needs)]
    flat = xp.empty(sum(sizes), dtype)
    views, start = [], 0
    for size, (shape, axes) in zip(sizes, layouts):
        view = flat[start:start + size].reshape(shape) if size else None
        views.append(view if view is None or axes is None else view.transpose(axes))
        start += size
    return flat, views


def rnn_scan(xg, h0, c0, w_hh, b_hh, w_hr, mode, reverse=False, batch_sizes=None):
    """Run one recurrent layer's direction over a sequence (see :class:`RNNScan`)."""
    if mode not in MODES:
        raise ValueError(f"rnn_scan: unknown mode {mode!r}; expected one of {sorted(MODES)}")
    if batch_sizes is not None:
        batch_sizes = tuple(int(b) for b in batch_sizes)
    return RNNScan.apply(xg, h0, c0, w_hh, b_hh, w_hr, mode=mode, reverse=bool(reverse),
                         batch_sizes=batch_sizes)


