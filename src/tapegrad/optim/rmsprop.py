"""RMSprop (with centering, momentum and weight decay) and Adagrad."""
from .optimizer import Optimizer, resolve_lr
from ._arith import new_step, number, sqrt, buffer, zeros_like, full_like


class RMSprop(Optimizer):
    """v <- alpha v + (1 - alpha) g^2; (centered: subtract the squared running mean of g);
    w <- w - lr * g / (sqrt(v) + eps), through a momentum buffer if momentum > 0."""

    traceable = True

    def __init__(self, params=None, lr=None, alpha=0.99, eps=1e-8, weight_decay=0.0,
                 momentum=0.0, centered=False, *, maximize=False, learning_rate=None,
                 check_finite=False, capturable=False, foreach=None, differentiable=False):
        params, lr = resolve_lr(params, lr, learning_rate, 1e-2)
        if alpha < 0 or eps < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"invalid RMSprop hyperparameters: alpha={alpha}, eps={eps}, "
                             f"momentum={momentum}, weight_decay={weight_decay} (all >= 0)")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize),
                         check_finite)

    def _init_state(self, p, state, group):
        state["step"] = new_step()
        state["square_avg"] = zeros_like(p._data)
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros_like(p._data)
        if group["centered"]:
            state["grad_avg"] = zeros_like(p._data)

    def _update(self, w, g, state, group):
        alpha, eps, wd, mom = group["alpha"], group["eps"], group["weight_decay"], \
            group["momentum"]
        if group["maximize"]:
            g = -g
        step = state["step"]
        step += 1
        if wd:
            g = g + wd * w
        sq = state["square_avg"]
        sq *= alpha
        sq += (1 - alpha) * g * g
        if group["centered"]:
            ga = buffer(state, "grad_avg", w)
            ga += (g - ga) * (1 - alpha)
            avg = sqrt(sq - ga * ga)
        else:
            avg = sqrt(sq)
        avg += eps
        if mom > 0:
            buf = buffer(state, "momentum_buffer", w)
            buf *= mom
            buf += g / avg
            w -= group["lr"] * buf
        else:
            w -= group["lr"] * g / avg


class Adagrad(Optimizer):
    """s <- s + g^2;  w <- w - lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)."""

    def __init__(self, params=None, lr=None, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, *, maximize=False,
                 learning_rate=None, check_finite=False, foreach=None, differentiable=False,
                 fused=None):
        params, lr = resolve_lr(params, lr, learning_rate, 1e-2)
        if lr_decay < 0 or weight_decay < 0 or initial_accumulator_value < 0 or eps < 0:
            raise ValueError("invalid Adagrad hyperparameters: lr_decay, weight_decay, "
                             "initial_accumulator_value and eps must be >= 0")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize), check_finite)

    traceable = True

    def _init_state(self, p, state, group):
        state["step"] = new_step()
        state["sum"] = full_like(p._data, group["initial_accumulator_value"])

    def _update(self, w, g, state, group):
        if group["maximize"]:
            g = -g
        step = state["step"]
        step += 1
        if group["weight_decay"]:
            g = g + group["weight_decay"] * w
        clr = number(group["lr"] / (1 + (step - 1) * group["lr_decay"]))
        s = state["sum"]
        s += g * g
        std = sqrt(s)
        std += group["eps"]
        w -= clr * g / std
