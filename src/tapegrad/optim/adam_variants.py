"""Adam's relatives: Adamax (infinity norm), NAdam (Nesterov momentum) and RAdam (rectified
variance), with PyTorch's update rules, defaults and order of rounding.

Each ``_update`` is written with operators, so tg.compile traces it (``traceable``); the
step counter and NAdam's momentum product are 0-d float64 state, recomputed on replay.
"""
from .optimizer import Optimizer, resolve_lr
from ._arith import new_step, new_scalar, number, traced, power, sqrt, where, zeros_like, \
    maximum_, lerp_, mul_add_, decay_, check_hyper


class Adamax(Optimizer):
    """Adam with the infinity norm (Kingma and Ba, 2015, section 7.1):

        g <- g + weight_decay * w;  m <- beta1 m + (1 - beta1) g;
        u <- max(beta2 u, |g| + eps);  w <- w - lr / (1 - beta1^t) * m / u

    Args: params, lr (default 2e-3), betas (0.9, 0.999), eps (1e-8), weight_decay (0),
    maximize (ascend instead). ``foreach``, ``capturable`` and ``differentiable`` are
    accepted for PyTorch compatibility and ignored. Raises ValueError for a negative lr,
    eps or weight_decay, or a beta outside [0, 1).
    """

    traceable = True

    def __init__(self, params=None, lr=None, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False,
                 learning_rate=None, check_finite=False):
        params, lr = resolve_lr(params, lr, learning_rate, 2e-3)
        check_hyper("Adamax", eps=eps, betas=betas, weight_decay=weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, maximize=maximize),
                         check_finite)

    def _init_state(self, p, state, group):
        state["step"] = new_step()
        state["exp_avg"] = zeros_like(p._data)
        state["exp_inf"] = zeros_like(p._data)

    def _update(self, w, g, state, group):
        (beta1, beta2), eps = group["betas"], group["eps"]
        if group["maximize"]:
            g = -g
        step = state["step"]
        step += 1
        g = decay_(w, g, group["lr"], group["weight_decay"], False)
        m, u = state["exp_avg"], state["exp_inf"]
        lerp_(m, g, 1 - beta1)
        u *= beta2
        maximum_(u, abs(g) + eps)
        clr = group["lr"] / number(1 - beta1 ** step)
        w -= clr * m / u                           # addcdiv_(m, u, value=-clr)


class _AdamMoments(Optimizer):
    """Shared by NAdam and RAdam: hyperparameter checks and Adam's two moments."""

    traceable = True

    def _init_hyper(self, params, lr, learning_rate, default_lr, betas, eps, weight_decay,
                    check_finite, **extra):
        params, lr = resolve_lr(params, lr, learning_rate, default_lr)
        check_hyper(type(self).__name__, eps=eps, betas=betas, weight_decay=weight_decay,
                    **{k: v for k, v in extra.items() if k == "momentum_decay"})
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, **extra), check_finite)

    def _init_state(self, p, state, group):
        state["step"] = new_step()
        state["exp_avg"] = zeros_like(p._data)
        state["exp_avg_sq"] = zeros_like(p._data)

    def _moments(self, w, g, state, group):
        """Step count, weight decay and the two moving averages; returns (t, g, m, v) with
        t the step counter (a 0-d array, or a tensor while traced)."""
        beta1, beta2 = group["betas"]
        if group["maximize"]:
            g = -g
        step = state["step"]
        step += 1
        g = decay_(w, g, group["lr"], group["weight_decay"], group["decoupled_weight_decay"])
        m, v = state["exp_avg"], state["exp_avg_sq"]
        lerp_(m, g, 1 - beta1)
        mul_add_(v, beta2, 1 - beta2, g, g)
        return step, g, m, v


class NAdam(_AdamMoments):
    """Adam with Nesterov momentum (Dozat, 2016), PyTorch's form with momentum decay:

        mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay));  P_t = prod_{i<=t} mu_i
        m, v as Adam's;  d = sqrt(v / (1 - beta2^t)) + eps
        w <- w - lr (1 - mu_t) / (1 - P_t) * g / d - lr mu_{t+1} / (1 - P_t mu_{t+1}) * m / d

    Args: params, lr (2e-3), betas (0.9, 0.999), eps (1e-8), weight_decay (0: L2, added
    to g), momentum_decay (4e-3), decoupled_weight_decay (False; True shrinks w by
    1 - lr * weight_decay first, as AdamW), maximize. State: ``step``, ``mu_product``
    (0-d float64), ``exp_avg``, ``exp_avg_sq``. Raises ValueError for invalid values.
    """

    def __init__(self, params=None, lr=None, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False, learning_rate=None,
                 check_finite=False):
        self._init_hyper(params, lr, learning_rate, 2e-3, betas, eps, weight_decay,
                         check_finite, momentum_decay=momentum_decay,
                         decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)

    _scalar_state = ("step", "mu_product")

    def _init_state(self, p, state, group):
        super()._init_state(p, state, group)
        state["mu_product"] = new_scalar(1.0)

    def _update(self, w, g, state, group):
        lr, (beta1, beta2), md = group["lr"], group["betas"], group["momentum_decay"]
        t, g, m, v = self._moments(w, g, state, group)
        mu = number(beta1 * (1.0 - 0.5 * power(0.96, t * md)))
        mu_next = number(beta1 * (1.0 - 0.5 * power(0.96, (t + 1) * md)))
        mu_product = state["mu_product"]
        mu_product *= mu
        prod = number(mu_product)
        denom = sqrt(v / number(1 - power(beta2, t)))
        denom += group["eps"]
        w += (-lr * (1.0 - mu) / (1.0 - prod)) * g / denom
        w += (-lr * mu_next / (1.0 - prod * mu_next)) * m / denom


class RAdam(_AdamMoments):
    """Rectified Adam (Liu et al., 2019): Adam's step scaled by a rectification term where
    the variance of the adaptive rate is tractable, plain momentum SGD before that:

        rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        m_hat = m / (1 - beta1^t)
        rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                    w <- w - lr * m_hat * sqrt(1 - beta2^t) / (sqrt(v) + eps) * r
        otherwise:  w <- w - lr * m_hat

    Args: params, lr (1e-3), betas (0.9, 0.999), eps (1e-8), weight_decay (0),
    decoupled_weight_decay (False), maximize. Raises ValueError for invalid values.
    """

    def __init__(self, params=None, lr=None, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False,
                 capturable=False, differentiable=False, learning_rate=None,
                 check_finite=False):
        self._init_hyper(params, lr, learning_rate, 1e-3, betas, eps, weight_decay,
                         check_finite, decoupled_weight_decay=decoupled_weight_decay,
                         maximize=maximize)

    def _update(self, w, g, state, group):
        lr, (beta1, beta2) = group["lr"], group["betas"]
        t, g, m, v = self._moments(w, g, state, group)
        bc2 = 1 - power(beta2, t)
        m_hat = m / number(1 - power(beta1, t))
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = number(rho_inf - 2 * t * power(beta2, t) / bc2)
        r2 = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        adaptive = number(sqrt(bc2)) / (sqrt(v) + group["eps"])
        if traced(t):
            # both branches computed, the step chosen by a mask (no Python branch on a
            # traced value); clamping keeps the unused square root finite early on
            w -= where(rho_t > 5.0, m_hat * lr * adaptive * sqrt(r2.clamp(min=0.0)),
                       m_hat * lr, w)
        elif rho_t > 5.0:
            w -= m_hat * lr * adaptive * sqrt(r2)
        else:
            w -= m_hat * lr
