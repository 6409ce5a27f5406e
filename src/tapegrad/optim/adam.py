"""Adam (with amsgrad and L2 weight decay) and AdamW (decoupled weight decay)."""
from .optimizer import Optimizer, resolve_lr
from ._arith import new_step, number, sqrt, maximum_, buffer, zeros_like


class Adam(Optimizer):
    """m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2;
    w <- w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    (v replaced by its running maximum with amsgrad). ``weight_decay`` adds wd * w to g."""

    _decoupled = False

    def __init__(self, params=None, lr=None, betas=(0.9, 0.999), eps=1e-8, weight_decay=None,
                 amsgrad=False, *, maximize=False, learning_rate=None, check_finite=False,
                 foreach=None, capturable=False, differentiable=False, fused=None):
        params, lr = resolve_lr(params, lr, learning_rate, 1e-3)
        if weight_decay is None:
            weight_decay = 1e-2 if self._decoupled else 0.0
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"invalid betas {betas}: each must be in [0, 1)")
        if eps < 0 or weight_decay < 0:
            raise ValueError(f"invalid eps ({eps}) or weight_decay ({weight_decay}): must be >= 0")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize), check_finite)

    traceable = True

    def _init_state(self, p, state, group):
        state["step"] = new_step()
        state["exp_avg"] = zeros_like(p._data)
        state["exp_avg_sq"] = zeros_like(p._data)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = zeros_like(p._data)

    def _update(self, w, g, state, group):
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], \
            group["weight_decay"]
        if group["maximize"]:
            g = -g
        step = state["step"]
        step += 1
        if wd:
            if self._decoupled:
                w *= 1 - lr * wd
            else:
                g = g + wd * w
        m, v = state["exp_avg"], state["exp_avg_sq"]
        tmp = g - m
        tmp *= 1 - beta1
        m += tmp                                   # m.lerp_(g, 1 - beta1)
        tmp = g * g
        tmp *= 1 - beta2
        v *= beta2
        v += tmp                                   # v.mul_(beta2).addcmul_(g, g, 1 - beta2)
        bc1 = number(1 - beta1 ** step)
        bc2_sqrt = number(sqrt(1 - beta2 ** step))
        if group["amsgrad"]:
            vmax = buffer(state, "max_exp_avg_sq", w)
            maximum_(vmax, v)
            v = vmax
        denom = sqrt(v)
        denom /= bc2_sqrt
        denom += eps
        tmp = m / denom
        tmp *= lr / bc1
        w -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay: w <- w * (1 - lr * weight_decay) before the Adam
    step (default weight_decay 0.01)."""

    _decoupled = True
