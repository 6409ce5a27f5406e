"""Averaged SGD (Polyak and Juditsky, 1992), PyTorch's update."""
from .optimizer import Optimizer, resolve_lr
from ._arith import new_step, new_scalar, number, traced, power, where, zeros_like, assign_, \
    decay_, check_hyper


class ASGD(Optimizer):
    """SGD with a decaying step and a running average ``ax`` of the iterates (read it from
    ``optimizer.state[p]["ax"]``):

        w <- w (1 - lambd eta) - eta g;  ax <- w if mu == 1 else ax + mu (w - ax)
        eta <- lr / (1 + lambd lr t)^alpha;  mu <- 1 / max(1, t - t0)

    Args: params, lr (1e-2), lambd (1e-4, decay), alpha (0.75, eta's power), t0 (1e6, the
    step averaging starts), weight_decay (0), maximize. ``foreach``, ``capturable`` and
    ``differentiable`` are accepted and ignored. State: ``step``, ``eta``, ``mu`` (0-d
    float64 on the host, like the step counter) and ``ax``. Raises ValueError for a
    negative lr or weight_decay.
    """

    traceable = True
    _scalar_state = ("step", "eta", "mu")

    def __init__(self, params=None, lr=None, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0,
                 foreach=None, maximize=False, differentiable=False, capturable=False, *,
                 learning_rate=None, check_finite=False):
        params, lr = resolve_lr(params, lr, learning_rate, 1e-2)
        check_hyper("ASGD", weight_decay=weight_decay)
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                                      weight_decay=weight_decay, maximize=maximize),
                         check_finite)

    def _init_state(self, p, state, group):
        state["step"] = new_step()
        state["eta"] = new_scalar(group["lr"])
        state["mu"] = new_scalar(1.0)
        state["ax"] = zeros_like(p._data)

    def _update(self, w, g, state, group):
        lr, lambd = group["lr"], group["lambd"]
        if group["maximize"]:
            g = -g
        step = state["step"]
        step += 1
        g = decay_(w, g, lr, group["weight_decay"], False)
        eta, mu, ax = number(state["eta"]), number(state["mu"]), state["ax"]
        w *= 1 - lambd * eta
        w -= eta * g
        if traced(mu):     # no Python branch on a traced value: both, chosen by a mask
            assign_(ax, where(mu == 1, w, ax + (w - ax) * mu, w))
        elif mu != 1:
            ax += (w - ax) * mu
        else:
            assign_(ax, w)
        assign_(state["eta"], lr / power(1 + lambd * lr * step, group["alpha"]))
        t0 = number(step) - group["t0"]
        assign_(state["mu"], 1 / (t0.clamp(min=1.0) if traced(t0) else max(1, t0)))
