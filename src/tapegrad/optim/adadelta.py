"""Adadelta (Zeiler, 2012), PyTorch's update."""
from .optimizer import Optimizer, resolve_lr
from ._arith import new_step, sqrt, zeros_like, mul_add_, decay_, check_hyper


class Adadelta(Optimizer):
    """A per-element step from the ratio of two running RMS values:

        g <- g + weight_decay * w;  s <- rho s + (1 - rho) g^2
        delta = sqrt(a + eps) / sqrt(s + eps) * g;  a <- rho a + (1 - rho) delta^2
        w <- w - lr * delta

    Args: params, lr (1.0, scales delta), rho (0.9, in [0, 1]), eps (1e-6), weight_decay
    (0), maximize. ``foreach``, ``capturable`` and ``differentiable`` are accepted and
    ignored. State: ``step``, ``square_avg`` (s), ``acc_delta`` (a). Raises ValueError
    for a negative lr, eps or weight_decay, or rho outside [0, 1].
    """

    traceable = True

    def __init__(self, params=None, lr=None, rho=0.9, eps=1e-6, weight_decay=0.0,
                 foreach=None, *, capturable=False, maximize=False, differentiable=False,
                 learning_rate=None, check_finite=False):
        params, lr = resolve_lr(params, lr, learning_rate, 1.0)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Adadelta: invalid rho value: {rho} (expected 0 <= rho <= 1)")
        check_hyper("Adadelta", eps=eps, weight_decay=weight_decay)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize), check_finite)

    def _init_state(self, p, state, group):
        state["step"] = new_step()
        state["square_avg"] = zeros_like(p._data)
        state["acc_delta"] = zeros_like(p._data)

    def _update(self, w, g, state, group):
        rho, eps = group["rho"], group["eps"]
        step = state["step"]
        step += 1
        if group["maximize"]:
            g = -g
        g = decay_(w, g, group["lr"], group["weight_decay"], False)
        s, a = state["square_avg"], state["acc_delta"]
        mul_add_(s, rho, 1 - rho, g, g)
        delta = sqrt(a + eps) / sqrt(s + eps) * g
        mul_add_(a, rho, 1 - rho, delta, delta)
        w -= group["lr"] * delta
