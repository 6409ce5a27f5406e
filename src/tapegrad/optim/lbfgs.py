"""L-BFGS with PyTorch's algorithm (after minFunc): the two-loop recursion over a limited
history, a fixed step or a strong-Wolfe line search (cubic interpolation, from Torch7's
lswolfe.lua), and PyTorch's stopping rules, so the iterates agree with torch.optim.LBFGS.

Everything runs on the flattened parameters as arrays of their own module (NumPy or
CuPy), so the history lives on the parameters' device; scalars (the step ``t``, the
curvature ``ys``) stay arrays' scalars as PyTorch keeps them 0-d tensors.
"""
from .. import backend
from ..core.modes import no_grad, enable_grad
from ..core.tensor import Tensor
from .optimizer import Optimizer, resolve_lr
from ._arith import sqrt

_FLAT = ("d", "prev_flat_grad")               # arrays over all the parameters, flattened
_LISTS = ("old_dirs", "old_stps", "ro", "al")  # the history


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clipped to
    ``bounds`` (default [min(x1, x2), max(x1, x2)]); their midpoint if the cubic has none:

        d1 = g1 + g2 - 3 (f1 - f2) / (x1 - x2);  d2 = sqrt(d1^2 - g1 g2)
        x = x2 - (x2 - x1) (g2 + d2 - d1) / (g2 - g1 + 2 d2)
    """
    if bounds is not None:
        lo, hi = bounds
    else:
        lo, hi = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, lo), hi)
    return (lo + hi) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """A step ``t`` along ``d`` meeting the strong Wolfe conditions
    f(x + t d) <= f + c1 t gtd and |g(x + t d) . d| <= -c2 gtd: bracket, then zoom by
    cubic interpolation. Returns (f_new, g_new, t, function evaluations)."""
    xp = backend.array_module(d)
    d_norm = xp.abs(d).max()
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # extrapolate, at least 1% beyond t and at most 10 t
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket around a point meeting the conditions
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        # a trial too close to an end (twice, or on it) moves to 10% inside the bracket
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # no sufficient decrease, or not below the low end: t becomes the high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.copy(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.copy(), gtd_new
    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


class LBFGS(Optimizer):
    """Limited-memory BFGS. Each ``step(closure)`` runs up to ``max_iter`` iterations,
    calling ``closure`` (which must zero the gradients, compute the loss, call
    ``backward()`` and return the loss) as often as needed, and returns the first loss.

    Args: params (one group only), lr (1: the step length scale), max_iter (20 per
    step), max_eval (max_iter * 5 // 4 function evaluations per step), tolerance_grad
    (1e-7: stop when max |g| <= it), tolerance_change (1e-9: stop when the step or the
    loss changes by less), history_size (100 pairs), line_search_fn (None for a fixed
    step, or "strong_wolfe").

    State (on the first parameter, as PyTorch's): ``func_evals``, ``n_iter``, the last
    direction ``d`` and step ``t``, the history ``old_dirs``, ``old_stps``, ``ro``, ``al``,
    ``H_diag``, ``prev_flat_grad``, ``prev_loss``.

    Raises ValueError for several parameter groups, a negative lr or an unknown
    line_search_fn (PyTorch raises the last at the first step, as a RuntimeError), and
    TypeError for a step without a closure.
    """

    def __init__(self, params, lr=None, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None, *,
                 learning_rate=None):
        params, lr = resolve_lr(params, lr, learning_rate, 1)
        if params is None:
            raise TypeError("LBFGS needs its parameters when it is built: "
                            "LBFGS(model.parameters(), ...)")
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got "
                             f"{line_search_fn!r}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size,
                                      line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def add_param_group(self, param_group):
        """Only the first group: LBFGS has one (ValueError for a second)."""
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    # -- the parameters as one flat vector -------------------------------------------------
    def _xp(self):
        return backend.array_module(self._params[0]._data)

    def _gather_flat_grad(self):
        xp = self._xp()
        return xp.concatenate([
            (xp.zeros(p._data.size, p._data.dtype) if p._grad is None
             else p._grad._data.astype(p._data.dtype, copy=False).reshape(-1))
            for p in self._params])

    def _add_grad(self, step_size, update):
        offset = 0
        for p in self._params:
            n = p._data.size
            p._data += step_size * update[offset:offset + n].reshape(p._data.shape)
            p._vc[0] += 1
            offset += n

    def _set_param(self, params_data):
        for p, data in zip(self._params, params_data):
            p._data[...] = data
            p._vc[0] += 1

    def _directional_evaluate(self, closure, x, t, d):
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # -- one step --------------------------------------------------------------------------
    def step(self, closure=None):
        """Up to ``max_iter`` L-BFGS iterations; returns the loss ``closure`` gave first."""
        if closure is None or not callable(closure):
            raise TypeError("LBFGS.step() needs a closure that zeroes the gradients, "
                            "computes the loss, calls backward() and returns the loss")

        def evaluate():
            with enable_grad():
                return closure()
        with no_grad():
            return self._step(evaluate)

    def _step(self, closure):
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        xp = self._xp()
        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if xp.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            # the direction: steepest descent first, then the two-loop recursion
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:                   # keep only pairs with positive curvature
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)
                num_old = len(old_dirs)
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q += -al[i] * old_dirs[i]
                d = r = q * H_diag
                for i in range(num_old):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]
            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            # the step length: a short first step, then lr (or a line search from it)
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / xp.abs(flat_grad).sum()) * lr
            else:
                t = lr
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:          # not a descent direction (any more)
                break
            ls_func_evals = 0
            if group["line_search_fn"] is not None:
                x_init = [p._data.copy() for p in self._params]

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)
                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd,
                    max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = xp.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                if n_iter != max_iter:           # the last iteration's loss is not needed
                    loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = xp.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if xp.abs(d * t).max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss

    # -- state dict: the flat arrays and the history are not shaped like a parameter ----
    def state_dict(self):
        """PyTorch's layout: all the state on the first parameter; arrays as tensors."""
        out = super().state_dict()
        for st in out["state"].values():
            for k in _LISTS:
                if isinstance(st.get(k), list):
                    st[k] = [Tensor(v) if backend.is_array(v) else v for v in st[k]]
        return out

    def load_state_dict(self, state_dict):
        """As ``Optimizer.load_state_dict``; the flat arrays must hold one value per
        parameter element (ValueError otherwise) and are placed on the parameters'
        device."""
        numel = sum(p._data.size for p in self._params)
        saved, plain = {}, {}
        for name, st in (state_dict.get("state", {}) if isinstance(state_dict, dict)
                         else {}).items():
            saved[name] = {k: v for k, v in st.items() if k in _FLAT or k in _LISTS}
            plain[name] = {k: v for k, v in st.items() if k not in saved[name]}
            for k in _FLAT:
                v = saved[name].get(k)
                arr = v._data if isinstance(v, Tensor) else v
                if arr is not None and arr.size != numel:
                    raise ValueError(f"cannot load LBFGS state (nothing was changed): '{k}' "
                                     f"has {arr.size} elements, but the parameters have "
                                     f"{numel}")
        super().load_state_dict({**state_dict, "state": plain})
        dev = self._params[0].device
        dtype = self._params[0]._data.dtype
        for p in self.state:
            for k, v in saved.get(self._name(p), {}).items():
                self.state[p][k] = ([_to_array(e, dev, dtype) for e in v]
                                    if isinstance(v, list) else _to_array(v, dev, dtype))


def _to_array(v, dev, dtype):
    """A saved tensor or array as an array of the parameters' dtype on their device."""
    arr = v._data if isinstance(v, Tensor) else v
    if backend.is_array(arr):
        return backend.to_device(arr, dev).astype(dtype, copy=True)
    return arr
