"""Gradient clipping and flat parameter vectors (PyTorch's ``nn.utils``).

``clip_grad_norm`` / ``clip_grad_value`` are the seed documents' names for the same
functions. Gradients are scaled in place (their arrays are owned by ``.grad``).
"""
import math

from .. import backend
from ..core.tensor import Tensor

xp = backend.xp


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p._grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Scale all gradients together so their total ``norm_type``-norm is at most
    ``max_norm``; returns the total norm (before clipping) as a 0-d tensor.

    With ``error_if_nonfinite=True`` a NaN/Inf total norm raises before any gradient is
    changed, naming the parameters whose gradients are not finite.
    """
    params = list([parameters] if isinstance(parameters, Tensor) else parameters)
    with_grad = _grads(params)
    norm_type = float(norm_type)
    if not with_grad:
        return Tensor(xp.asarray(0.0, dtype=backend.float32))
    dtype = with_grad[0]._grad._data.dtype
    if norm_type == math.inf:
        norms = [xp.abs(p._grad._data).max() for p in with_grad]
        total = xp.max(xp.stack(norms)).astype(dtype)
    else:
        norms = [xp.linalg.norm(p._grad._data.ravel(), norm_type) for p in with_grad]
        total = xp.linalg.norm(xp.stack(norms).astype(dtype), norm_type).astype(dtype)
    if error_if_nonfinite and not xp.isfinite(total):
        bad = [f"#{i} {list(p.shape)}" + (f" '{p._tg_name}'" if hasattr(p, "_tg_name") else "")
               for i, p in enumerate(params)
               if p._grad is not None and not xp.isfinite(p._grad._data).all()]
        raise RuntimeError(
            f"the total norm of order {norm_type} for gradients from {len(with_grad)} "
            f"parameters is non-finite ({float(total)}), so it cannot be clipped; non-finite "
            f"gradients in parameter(s) {', '.join(bad)}. Nothing was changed. Find the op that "
            f"produced it with tg.autograd.detect_anomaly(), or pass error_if_nonfinite=False.")
    clip_coef = float(max_norm) / (float(total) + 1e-6)
    if clip_coef < 1 or clip_coef != clip_coef:   # NaN total: scale (to NaN), as PyTorch
        with xp.errstate(invalid="ignore"):
            for p in with_grad:
                g = p._grad._data
                g *= g.dtype.type(clip_coef)
                p._grad._vc[0] += 1
    return Tensor(xp.asarray(total, dtype=dtype))


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element into [-clip_value, clip_value] (in place)."""
    c = float(clip_value)
    for p in _grads(parameters):
        xp.clip(p._grad._data, -c, c, out=p._grad._data)
        p._grad._vc[0] += 1


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    from .. import ops
    params = list(parameters)
    cat = getattr(ops, "cat", None) or getattr(ops, "concat", None)
    if cat is not None:
        return cat([p.reshape(-1) for p in params])
    return Tensor(xp.concatenate([p._data.ravel() for p in params]))   # no cat op yet


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D ``vec`` into the parameters (in place)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected a tg.Tensor, got {type(vec).__name__}")
    if vec.ndim != 1:
        raise ValueError(f"vec must be 1-D, got shape {list(vec.shape)}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if total != vec.numel():
        raise ValueError(f"vec has {vec.numel()} elements but the parameters need {total}")
    i = 0
    for p in params:
        n = p.numel()
        xp.copyto(p._data, vec._data[i:i + n].reshape(p.shape), casting="same_kind")
        p._vc[0] += 1
        i += n


clip_grad_norm = clip_grad_norm_
clip_grad_value = clip_grad_value_
