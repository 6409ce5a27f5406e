"""Gradient clipping and flat parameter vectors (PyTorch's ``nn.utils``); packing and
padding of sequence batches are in ``nn.utils.rnn``.

``clip_grad_norm`` / ``clip_grad_value`` are the seed documents' names for the same
functions. Gradients are scaled in place (their arrays are owned by ``.grad``).
"""
import math

from ... import backend
from ...core.modes import no_grad
from ...core.tensor import Tensor
from ...ops._util import guard, finite
from ...ops.index import stack
from ...ops.vector_norm import vector_norm

xp = backend.xp


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p._grad is not None]


def _finite(arr):
    """No NaN or inf in ``arr`` (read from the array: a guard covers it under tg.compile)."""
    return bool(backend.array_module(arr).isfinite(arr).all())


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
        return Tensor(xp.asarray(0.0, dtype=backend.float32))   # (PyTorch: on the CPU too)
    # tensor ops throughout (no branch on values), so tg.compile records the clipping
    with no_grad():
        dtype = with_grad[0]._grad.dtype
        grads = [p._grad for p in with_grad]
        if norm_type == math.inf:
            total = stack([g.abs().max() for g in grads]).max().to(dtype)
        else:
            norms = [vector_norm(g, norm_type) for g in grads]
            total = vector_norm(stack(norms).to(dtype), norm_type).to(dtype)
        if error_if_nonfinite:
            guard(total._data, finite, what="the gradients' total norm was finite (clip_grad_norm_ with "
                       "error_if_nonfinite=True)")
            if not _finite(total._data):
                bad = [f"#{i} {list(p.shape)}" + (f" '{p._tg_name}'" if hasattr(p, "_tg_name")
                                                  else "")
                       for i, p in enumerate(params)
                       if p._grad is not None and not _finite(p._grad._data)]
                raise RuntimeError(
                    f"the total norm of order {norm_type} for gradients from {len(with_grad)} "
                    f"parameters is non-finite ({float(total._data)}), so it cannot be clipped; "
                    f"non-finite gradients in parameter(s) {', '.join(bad)}. Nothing was "
                    f"changed. Find the op that produced it with "
                    f"tg.autograd.detect_anomaly(), or pass error_if_nonfinite=False.")
        # PyTorch's form: scale by min(coef, 1) always (x * 1.0 is x); a NaN total gives NaN
        coef = (float(max_norm) / (total + 1e-6)).clamp(max=1.0)
        with backend.errstate(invalid="ignore"):
            for g in grads:
                g.mul_(coef)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element into [-clip_value, clip_value] (in place)."""
    c = float(clip_value)
    with no_grad():
        for p in _grads(parameters):
            p._grad.copy_(p._grad.clamp(-c, c))


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    from ... import ops
    params = list(parameters)
    cat = getattr(ops, "cat", None) or getattr(ops, "concat", None)
    if cat is not None:
        return cat([p.reshape(-1) for p in params])
    return Tensor(backend.array_module(params[0]._data).concatenate(
        [p._data.ravel() for p in params]))   # no cat op yet


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
        backend.array_module(p._data).copyto(p._data, vec._data[i:i + n].reshape(p.shape),
                                             casting="same_kind")
        p._vc[0] += 1
        i += n


clip_grad_norm = clip_grad_norm_
clip_grad_value = clip_grad_value_

from . import rnn  # noqa: E402,F401  (tg.nn.utils.rnn, as torch.nn.utils.rnn)
