"""Random sampling ops, PyTorch's names: multinomial, bernoulli, normal (every overload),
poisson. Each draws inside its forward from ``rng(generator, device)``, the generator of
its input's device (or ``generator=``), so a GPU tensor's numbers are made on the GPU.

As in PyTorch, bernoulli, normal and poisson are recorded with a zero gradient (the
samples are not reparameterised: write ``mean + std * tg.randn_like(std)`` for a pathwise
gradient), and multinomial returns int64 indices without one. ``random = True``: graph
passes neither fold nor merge them.
"""
from .. import backend
from ..backend import special as _sp
from ..core.errors import ShapeError
from ..core.function import Function
from ..core.registry import primitive, composite
from ..core.tensor import Tensor
from ..random import rng
from ._util import sum_to, guard, in_range_closed, xp_of
from .elementwise import zero_grad


def _draw(generator, arr):
    """What to draw from for array ``arr``: ``generator``, else its device's generator."""
    return rng(generator, backend.device_of(arr))


def _on(arr, like):
    """A draw made on the host (a NumPy generator given for a host stream) on ``like``'s
    device."""
    return arr if type(arr) is type(like) else backend.to_device(arr, backend.device_of(like))


def _float_input(t, op, what="input"):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}(): argument '{what}' must be a Tensor, not {type(t).__name__}")
    if not backend.is_floating(t.dtype):
        raise TypeError(f"{op}(): expected a floating-point {what}, got {t.dtype}")


def _zero_vjp(ctx, g):
    """The samples' gradient with respect to every tensor input: zero (PyTorch's)."""
    zero = zero_grad(g)
    return tuple(sum_to(zero, x.shape) if need else None
                 for x, need in zip(ctx.next, ctx.needs_input_grad))


def _zero_jvp(ctx, *tangents):
    return zero_grad(next(t for t in tangents if t is not None))


# -- bernoulli ----------------------------------------------------------------------------------
@primitive("bernoulli", public=False)
class Bernoulli(Function):
    """y ~ Bernoulli(p) elementwise (1.0 with probability p, else 0.0), p = the input's
    values or the number ``p``; dy/dp = 0 (PyTorch's)."""

    random = True

    @staticmethod
    def forward(ctx, probs, p, generator):
        u = _on(_draw(generator, probs).random(probs.shape), probs)
        return (u < (probs if p is None else p)).astype(probs.dtype)

    vjp = _zero_vjp
    jvp = _zero_jvp


@composite("bernoulli", method=True)
def bernoulli(input, p=None, *, generator=None):
    """Samples of 0.0/1.0 with input's shape and dtype: 1 with probability input[i], or
    with probability ``p`` (a number) when given. The gradient is zero.

    Raises: TypeError for a non-floating input; RuntimeError for a probability outside
    [0, 1]."""
    _float_input(input, "bernoulli")
    if p is not None:
        if not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli: expects p to be in [0, 1], but got p={p}")
        p = float(p)
    elif not in_range_closed(input._data, 0, 1):
        raise RuntimeError("bernoulli: expects all probabilities of input to be in [0, 1]")
    else:
        guard(input._data, in_range_closed, 0, 1, what="bernoulli's probabilities were in [0, 1]")
    return Bernoulli.apply(input, p, generator=generator)


# -- normal -------------------------------------------------------------------------------------
@primitive("normal", public=False)
class Normal(Function):
    """y = mean + std * z, z ~ N(0, 1), broadcast over mean's and std's shapes (in the
    dtype of mean, or of std when mean is a number, as PyTorch); dy/dmean = dy/dstd = 0
    (PyTorch's)."""

    random = True

    @staticmethod
    def forward(ctx, mean, std, generator):
        xp = ctx.xp
        ref = mean if backend.is_array(mean) else std
        shape = xp.broadcast_shapes(getattr(mean, "shape", ()), getattr(std, "shape", ()))
        z = _on(_draw(generator, ref).standard_normal(shape, dtype=ref.dtype), ref)
        return (mean + std * z).astype(ref.dtype, copy=False)

    vjp = _zero_vjp
    jvp = _zero_jvp


@composite("normal")
def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad=False, layout=None, pin_memory=False):
    """Normal samples, PyTorch's overloads:

    - ``normal(mean, std)`` with either or both tensors: one sample per element of their
      broadcast shape (zero gradient to both);
    - ``normal(mean, std, size)`` with numbers: a new tensor of ``size`` (``dtype``,
      ``device``, ``requires_grad`` as the factories).

    Raises: TypeError for a size given with tensor arguments, a missing size with numbers,
    or integer tensors; RuntimeError for a negative std; ShapeError when mean and std
    don't broadcast."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        if size is not None:
            raise TypeError("normal(): size is only accepted when mean and std are numbers")
        for v, what in ((mean, "mean"), (std, "std")):
            if isinstance(v, Tensor):
                _float_input(v, "normal", what)
        _check_std(std)
        if isinstance(mean, Tensor) and isinstance(std, Tensor):
            _broadcastable(mean, std)
        return Normal.apply(mean, std, generator=generator)
    if size is None:
        raise TypeError("normal(): with numbers for mean and std, the size is required "
                        "(normal(mean, std, size))")
    _check_std(std)
    from ..creation import randn
    out = randn(size, dtype=dtype, generator=generator, device=device)
    out = out * float(std) + float(mean)
    return out.requires_grad_(True) if requires_grad else out


def _check_std(std):
    if isinstance(std, Tensor):
        if not in_range_closed(std._data, 0, float("inf")):
            raise RuntimeError("normal expects all elements of std >= 0.0")
        guard(std._data, in_range_closed, 0, float("inf"), what="normal's std was >= 0")
    elif not std >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")


def _broadcastable(a, b):
    from ..core.errors import ShapeError
    try:
        xp_of(a).broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"normal: the shapes of mean {list(a.shape)} and std "
                         f"{list(b.shape)} cannot be broadcast together") from None


# -- poisson ------------------------------------------------------------------------------------
@primitive("poisson", public=False)
class Poisson(Function):
    """y ~ Poisson(rate) elementwise (as floats of the rate's dtype); dy/drate = 0
    (PyTorch's). NumPy's sampler on the CPU; elsewhere (a GPU's generator has none) the
    same algorithms from uniform draws: counting products of uniforms below exp(-rate) for
    rates < 10, Hörmann's transformed rejection (PTRS) above."""

    random = True

    @staticmethod
    def forward(ctx, rate, generator):
        gen = _draw(generator, rate)
        lam = rate.astype(backend.float64)
        native = getattr(gen, "poisson", None)
        if native is not None:
            return _on(native(lam), rate).astype(rate.dtype)
        return _poisson_from_uniforms(ctx.xp, gen, lam).astype(rate.dtype)

    vjp = _zero_vjp
    jvp = _zero_jvp


def _poisson_from_uniforms(xp, gen, lam):
    """Poisson samples for float64 rates ``lam`` from ``gen.random`` only."""
    out = xp.zeros(lam.shape, backend.float64)
    flat, res = lam.reshape(-1), out.reshape(-1)
    small = flat < 10
    with backend.errstate(divide="ignore", invalid="ignore"):
        for mask, method in ((small, _by_products), (~small, _by_ptrs)):
            idx = xp.nonzero(mask)[0]
            if idx.size:
                res[idx] = method(xp, gen, flat[idx])
    return out


def _by_products(xp, gen, lam):
    """Knuth: the number of uniforms whose running product stays above exp(-lam)."""
    limit = xp.exp(-lam)
    k = xp.zeros(lam.shape, backend.float64)
    prod = gen.random(lam.shape)
    active = xp.nonzero(prod > limit)[0]
    while active.size:
        k[active] += 1
        prod[active] *= gen.random(active.shape)
        active = active[prod[active] > limit[active]]
    return k


def _by_ptrs(xp, gen, lam):
    """Hörmann (1993), "The transformed rejection method for generating Poisson random
    variables", algorithm PTRS, for lam >= 10 (as NumPy's random_poisson_ptrs)."""
    slam, loglam = xp.sqrt(lam), xp.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    log_inv_alpha = xp.log(1.1239 + 1.1328 / (b - 3.4))
    vr = 0.9277 - 3.6224 / (b - 2)
    out = xp.zeros(lam.shape, backend.float64)
    todo = xp.arange(lam.size)
    while todo.size:
        u = gen.random(todo.shape) - 0.5
        v = gen.random(todo.shape)
        us = 0.5 - xp.abs(u)
        a_, b_, lam_ = a[todo], b[todo], lam[todo]
        k = xp.floor((2 * a_ / us + b_) * u + lam_ + 0.43)
        quick = (us >= 0.07) & (v <= vr[todo])
        reject = (k < 0) | ((us < 0.013) & (v > us))
        lhs = xp.log(v) + log_inv_alpha[todo] - xp.log(a_ / (us * us) + b_)
        rhs = -lam_ + k * loglam[todo] - _sp.call("gammaln", k + 1)
        ok = quick | (~reject & (lhs <= rhs))
        out[todo[ok]] = k[ok]
        todo = todo[~ok]
    return out


@composite("poisson")
def poisson(input, generator=None):
    """Samples of Poisson(rate) for each rate in ``input`` (floats of input's dtype). The
    gradient is zero.

    Raises: TypeError for a non-floating input; RuntimeError for a negative or NaN rate."""
    _float_input(input, "poisson")
    if not in_range_closed(input._data, 0, float("inf")):
        raise RuntimeError("poisson: invalid Poisson rate, expected rate to be non-negative")
    guard(input._data, in_range_closed, 0, float("inf"), what="poisson's rates were >= 0")
    return Poisson.apply(input, generator=generator)


# -- multinomial --------------------------------------------------------------------------------
@primitive("multinomial", public=False)
class Multinomial(Function):
    """Category indices drawn from each row of weights (int64, no gradient).

    With replacement: inverse CDF, one binary search over all rows at once (row r's CDF
    shifted to [r, r + 1]). Without: the exponential race (PyTorch's too), the n smallest
    of E_i / p_i with E_i ~ Exp(1), which orders categories as successive draws without
    replacement would; zero-weight categories get key inf and so come last."""

    random = True
    differentiable = False

    @staticmethod
    def forward(ctx, weights, num_samples, replacement, generator):
        xp = ctx.xp
        k = weights.shape[-1]
        shape = weights.shape[:-1] + (num_samples,)
        if not weights.size:
            return xp.zeros(shape, backend.int64)
        p = weights.reshape(-1, k).astype(backend.float64)
        gen = _draw(generator, weights)
        rows = p.shape[0]
        if replacement:
            cdf = xp.cumsum(p, axis=1)
            cdf /= cdf[:, -1:]
            offs = xp.arange(rows)[:, None]
            u = _on(gen.random((rows, num_samples)), weights)
            idx = xp.searchsorted((cdf + offs).reshape(-1), (u + offs).reshape(-1),
                                  side="right").reshape(rows, num_samples) - offs * k
            # u rounding up to the CDF's end: the last category with weight
            last = k - 1 - xp.argmax(p[:, ::-1] > 0, axis=1)
            idx = xp.minimum(idx, last[:, None])
        else:
            with backend.errstate(divide="ignore"):
                keys = _on(gen.exponential(1.0, (rows, k)), weights) / p
            idx = xp.argsort(keys, axis=1)[:, :num_samples]
        return idx.reshape(shape).astype(backend.int64)


def _valid_weights(a):
    """No NaN, inf or negative entry, and every row sums to more than 0."""
    xp = xp_of(a)
    return bool((xp.isfinite(a) & (a >= 0)).all()) and (a.size == 0 or bool(
        (a.reshape(-1, a.shape[-1]).sum(axis=1) > 0).all()))


@composite("multinomial", method=True)
def multinomial(input, num_samples, replacement=False, *, generator=None):
    """``num_samples`` category indices drawn from each row of ``input`` (1-d or 2-d,
    non-negative weights, not necessarily normalised): int64 of shape (num_samples,) or
    (rows, num_samples). Without replacement each category appears at most once per row;
    asking for more samples than a row has categories of non-zero weight gives the
    zero-weight ones last (PyTorch 2.13 on the CPU does the same).

    Raises: TypeError for a non-floating input; RuntimeError for an input that is not 1-d
    or 2-d, num_samples <= 0, more samples than categories without replacement, weights
    with NaN, inf or a negative entry, or a row summing to 0."""
    _float_input(input, "multinomial")
    if input.ndim not in (1, 2):
        raise ShapeError(f"multinomial: prob_dist must be 1 or 2 dim, got shape "
                         f"{list(input.shape)}")
    n = int(num_samples)
    k = input.shape[-1]
    if n <= 0:
        raise RuntimeError(f"multinomial: cannot sample n_sample <= 0 samples (got {n})")
    if not replacement and n > k:
        raise ShapeError(f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples "
                         f"without replacement ({n} > {k})")
    data = input._data
    if not (xp_of(data).isfinite(data) & (data >= 0)).all():
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or "
                           "element < 0")
    if not _valid_weights(data):
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of "
                           "probabilities <= 0)")
    guard(data, _valid_weights, what="multinomial's weights were valid")
    return Multinomial.apply(input.detach(), num_samples=n, replacement=bool(replacement),
                             generator=generator)

