"""Full backward hooks for modules, built from tensor hooks.

Each tensor input that requires grad passes through an identity op (``clone``) before
forward, so the gradient arriving at that copy is exactly d(loss)/d(input). A hook on the
output records grad_output; once the gradients of all such inputs have arrived, the
module's hooks run as ``hook(module, grad_input, grad_output)``. A hook may return a
replacement grad_input tuple; with several inputs the replacement reaches the input
whose gradient arrived last and the earlier ones are already passed on (a documented
limitation: PyTorch's BackwardHook can replace all of them).
"""
from ..core.tensor import Tensor


class _State:
    def __init__(self, n_inputs, needs):
        self.grad_output = None
        self.grad_input = [None] * n_inputs
        self.pending = set(needs)
        self.needs = needs


def wrap_inputs(module, args):
    from .. import ops
    needs = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    state = _State(len(args), needs)
    if not needs:
        return args, state
    args = list(args)
    for i in needs:
        args[i] = ops.clone(args[i])
        args[i].register_hook(_input_hook(module, state, i))
    return tuple(args), state


def _input_hook(module, state, i):
    def hook(g):
        state.grad_input[i] = g
        state.pending.discard(i)
        if state.pending:
            return None
        res = _fire(module, state)
        if res is not None:
            return res[i]
        return None
    return hook


def _fire(module, state):
    grad_output = (state.grad_output,)
    grad_input = tuple(state.grad_input)
    out = None
    for hook in list(module._backward_hooks.values()):
        res = hook(module, grad_input, grad_output)
        if res is not None:
            if not isinstance(res, (tuple, list)) or len(res) != len(grad_input):
                raise RuntimeError(
                    f"backward hook of {type(module).__name__} returned {type(res).__name__}; "
                    f"it must return None or a tuple of {len(grad_input)} gradient(s), one per "
                    f"forward input")
            grad_input = tuple(res)
            out = grad_input
    return out


def wrap_output(module, out, state):
    if not isinstance(out, Tensor) or not out.requires_grad:
        return out

    def hook(g):
        state.grad_output = g
        if not state.needs:   # nothing upstream takes gradients: fire now, grad_input all None
            _fire(module, state)
        return None
    out.register_hook(hook)
    return out
