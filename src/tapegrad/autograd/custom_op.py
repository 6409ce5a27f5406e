"""The TenfloweRS seed's custom-op form: subclass ``CustomOp`` with ``forward(self, inputs)``
and ``backward(self, grad_output, inputs)`` returning one gradient per input, then apply it
with ``op(x, ...)`` or ``tape.custom_op(op, [x, ...])``. It runs as a user Function, so the
engine checks the gradients and a backward written in tensor ops differentiates again."""
from ..core.tensor import Tensor
from .function import Function


class CustomOp:
    """Base class for seed-style custom ops (see the module docstring)."""

    def forward(self, inputs):
        """Compute the op's output from ``inputs``; subclasses define it.

        Args:
            inputs (list of Tensor): the tensors the op was applied to.

        Returns:
            Tensor (or array): the output.

        Raises:
            NotImplementedError: the subclass does not define it.
        """
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, inputs)")

    def backward(self, grad_output, inputs):
        """The gradients of the inputs given the output's gradient; subclasses define it. Written in
        tapegrad tensor ops, it is itself differentiable (higher-order gradients work).

        Args:
            grad_output (Tensor): dL/d(output), the output's shape.
            inputs (list of Tensor): the inputs, as passed to ``forward``.

        Returns:
            one gradient per input (a list, a tuple, or a single tensor for one input; None for
            an input with no gradient).

        Raises:
            NotImplementedError: the subclass does not define it.
        """
        raise NotImplementedError(f"{type(self).__name__} must define "
                                  f"backward(self, grad_output, inputs)")

    def __call__(self, *inputs):
        return custom_op(self, list(inputs))


_functions = {}


def _function_for(op_type):
    """One Function subclass per CustomOp class, named after it (errors name the op)."""
    fn = _functions.get(op_type)
    if fn is None:
        def forward(ctx, op, *xs):
            ctx.op = op
            ctx.save_for_backward(*xs)
            out = op.forward(list(xs))
            return out if isinstance(out, Tensor) else Tensor(out)

        def backward(ctx, g):
            xs = list(ctx.saved_tensors)
            grads = ctx.op.backward(g, xs)
            grads = list(grads) if isinstance(grads, (list, tuple)) else [grads]
            if len(grads) != len(xs):
                raise RuntimeError(f"custom op '{op_type.__name__}' returned an incorrect number "
                                   f"of gradients (expected {len(xs)}, one per input; got "
                                   f"{len(grads)})")
            return (None,) + tuple(grads)

        fn = type(op_type.__name__, (Function,), {"forward": staticmethod(forward),
                                                  "backward": staticmethod(backward)})
        _functions[op_type] = fn
    return fn


def custom_op(op, inputs):
    """Apply CustomOp ``op`` to a list of input tensors."""
    return _function_for(type(op)).apply(op, *inputs)
