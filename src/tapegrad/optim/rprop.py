"""Rprop (Riedmiller and Braun, 1993), PyTorch's variant (no weight backtracking)."""
from .optimizer import Optimizer, resolve_lr
from ._arith import new_step, sign, where, zeros_like, full_like, clamp_, assign_


class Rprop(Optimizer):
    """Resilient backpropagation: each element keeps its own step size, grown by
    ``etas[1]`` while its gradient keeps its sign and shrunk by ``etas[0]`` when the sign
    flips (that element then skips one update); only the gradient's sign is used:

        s = sign(g * g_prev);  step <- clamp(step * (eta+ if s > 0, eta- if s < 0, 1),
                                             *step_sizes)
        g <- 0 where s < 0;  w <- w - sign(g) * step;  g_prev <- g

    Args: params, lr (1e-2, the initial step size), etas ((0.5, 1.2), with
    0 < eta- < 1 < eta+), step_sizes ((1e-6, 50), the bounds), maximize. ``foreach``,
    ``capturable`` and ``differentiable`` are accepted and ignored. State: ``step``,
    ``prev``, ``step_size``. Raises ValueError for a negative lr or invalid etas.
    """

    traceable = True

    def __init__(self, params=None, lr=None, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 capturable=False, foreach=None, maximize=False, differentiable=False,
                 learning_rate=None, check_finite=False):
        params, lr = resolve_lr(params, lr, learning_rate, 1e-2)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Rprop: invalid eta values: {etas[0]}, {etas[1]} (expected "
                             f"0 < etas[0] < 1 < etas[1])")
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes),
                                      maximize=maximize), check_finite)

    def _init_state(self, p, state, group):
        state["step"] = new_step()
        state["prev"] = zeros_like(p._data)
        state["step_size"] = full_like(p._data, group["lr"])

    def _update(self, w, g, state, group):
        (etaminus, etaplus), (lo, hi) = group["etas"], group["step_sizes"]
        step = state["step"]
        step += 1
        if group["maximize"]:
            g = -g
        prev, size = state["prev"], state["step_size"]
        s = sign(g * prev)
        size *= where(s > 0, etaplus, where(s < 0, etaminus, 1.0, g), g)
        clamp_(size, lo, hi)
        g = where(s < 0, 0.0, g, g)             # a flipped sign skips this update
        w -= sign(g) * size
        assign_(prev, g)
