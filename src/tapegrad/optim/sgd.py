"""SGD with momentum, dampening, Nesterov momentum and weight decay (PyTorch's update)."""
from .optimizer import Optimizer, resolve_lr, required


class SGD(Optimizer):
    """g <- g + weight_decay * w;  buf <- momentum * buf + (1 - dampening) * g (buf = g at the
    first step);  g <- g + momentum * buf if nesterov else buf;  w <- w - lr * g.

    ``SGD(model.parameters(), lr=0.01, momentum=0.9)`` or the seed form
    ``SGD(learning_rate=0.01, momentum=0.9)`` followed by ``step(params)``.
    """

    def __init__(self, params=None, lr=None, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, learning_rate=None, check_finite=False,
                 foreach=None, differentiable=False, fused=None):
        params, lr = resolve_lr(params, lr, learning_rate, 1e-3)
        if momentum < 0:
            raise ValueError(f"invalid momentum value: {momentum} (expected >= 0)")
        if weight_decay < 0:
            raise ValueError(f"invalid weight_decay value: {weight_decay} (expected >= 0)")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum > 0 and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize), check_finite)

    traceable = True

    def _update(self, w, g, state, group):
        wd, mom = group["weight_decay"], group["momentum"]
        if group["maximize"]:
            g = -g
        if wd:
            g = g + wd * w
        if mom:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.clone() if hasattr(g, "clone") else g.copy()
            else:
                buf *= mom
                damp = group["dampening"]
                buf += g if damp == 0 else (1 - damp) * g
            g = g + mom * buf if group["nesterov"] else buf
        w -= group["lr"] * g


__all__ = ["SGD", "required"]
