"""Numerical gradient checks: analytical VJPs against central finite differences, in
float64 (float32 inputs are upcast: finite differences are meaningless in float32). Inputs
may be on any device; the Jacobians are compared in host memory."""
import warnings

from .. import backend
from ..core.engine import grad
from ..core.errors import GradcheckError
from ..core.tensor import Tensor, _make

xp = backend.xp


def _flatten_outputs(out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor) and backend.is_floating(o.dtype)]


def _as_f64(inputs):
    """float64 leaf copies of the inputs; which of them to differentiate."""
    xs, diff = [], []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and backend.is_floating(x.dtype):
            if x.dtype != backend.float64:
                warnings.warn(f"gradcheck: input {i} is {x.dtype}; checking in float64",
                              stacklevel=3)
            t = Tensor(x._data.astype(backend.float64, copy=True))
            if x.requires_grad:
                t.requires_grad_(True)
                diff.append(i)
            xs.append(t)
        else:
            xs.append(x)
    return xs, diff


def _host(t):
    """A host copy of tensor ``t``'s values."""
    d = t._data
    return d.copy() if type(d) is backend.ndarray else backend.to_host(d)


def _numerical(fn, xs, diff, eps):
    """Jacobian columns by central differences: J[k][out][:, j] for input k element j."""
    base = [_host(o) for o in _flatten_outputs(fn(*xs))]
    jac = {}
    for k in diff:
        arr = xs[k]._data
        cols = [xp.zeros((o.size, arr.size)) for o in base]
        flat = arr.reshape(-1)
        for j in range(arr.size):
            old = flat[j]
            flat[j] = old + eps
            plus = [_host(o) for o in _flatten_outputs(fn(*xs))]
            flat[j] = old - eps
            minus = [_host(o) for o in _flatten_outputs(fn(*xs))]
            flat[j] = old
            for c, p, m in zip(cols, plus, minus):
                c[:, j] = ((p - m) / (2 * eps)).reshape(-1)
        jac[k] = cols
    return jac


def _analytical(fn, xs, diff):
    outs = _flatten_outputs(fn(*xs))
    jac = {k: [xp.zeros((o.numel(), xs[k].numel())) for o in outs] for k in diff}
    for oi, o in enumerate(outs):
        if o.node is None:
            continue  # an output that depends on no input: a zero Jacobian
        for r in range(o.numel()):
            seed = backend.array_module(o._data).zeros(o.shape, o.dtype)
            seed.reshape(-1)[r] = 1
            gs = grad([o], [xs[k] for k in diff], [_make(seed)], retain_graph=True,
                      allow_unused=True)
            for k, g in zip(diff, gs):
                if g is not None:
                    jac[k][oi][r, :] = _host(g).reshape(-1)
    return jac


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Check ``fn``'s gradients with respect to the inputs that require grad.

    Returns True, or raises GradcheckError naming the input, the output, the worst element
    and both values (or returns False with ``raise_exception=False``).
    """
    inputs = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
    xs, diff = _as_f64(inputs)
    if not diff:
        raise ValueError("gradcheck: no input requires grad; set requires_grad=True on the "
                         "floating inputs to check")
    num = _numerical(fn, xs, diff, eps)
    ana = _analytical(fn, xs, diff)
    for k in diff:
        for oi, (a, n) in enumerate(zip(ana[k], num[k])):
            bad = ~xp.isclose(a, n, rtol=rtol, atol=atol, equal_nan=True)
            if bad.any():
                err = xp.where(bad, xp.abs(a - n), -1.0)
                r, j = xp.unravel_index(int(xp.argmax(err)), err.shape)
                msg = (f"Jacobian mismatch for output {oi} with respect to input {k}: worst at "
                       f"output element {int(r)}, input element {tuple(int(v) for v in xp.unravel_index(j, xs[k].shape))}: "
                       f"numerical {n[r, j]:.6g} vs analytical {a[r, j]:.6g} "
                       f"({int(bad.sum())} of {bad.size} elements differ)")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True, seed=0):
    """Check second derivatives: gradcheck of the VJP ``(x, v) -> J(x)^T v``, with random
    ``v`` (the grad_outputs) also differentiated."""
    inputs = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
    xs, diff = _as_f64(inputs)
    outs = _flatten_outputs(fn(*xs))
    rng = xp.random.default_rng(seed)
    if grad_outputs is None:
        vs = [rng.standard_normal(o.shape) for o in outs]
    else:
        vs = [backend.to_host(getattr(v, "_data", v)).astype(backend.float64)
              for v in grad_outputs]
    vs = [Tensor(backend.to_device(v, o.device)).requires_grad_(True) for v, o in zip(vs, outs)]
    n = len(xs)

    def vjp_fn(*args):
        primals, cot = list(args[:n]), args[n:]
        o = _flatten_outputs(fn(*primals))
        gs = grad(o, [primals[k] for k in diff], list(cot), create_graph=True,
                  allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(vjp_fn, tuple(xs) + tuple(vs), eps, atol, rtol, raise_exception)
