"""Matrix functions and products built from matmul: matrix_power, multi_dot, cdist, addmv,
addr, addbmm. All composites: their gradients (every order, both modes) come from matmul,
inverse, vector_norm and the elementwise ops."""
from .. import backend
from ..core.registry import composite
from ..core.errors import ShapeError
from ..core.tensor import Tensor
from ._util import Sample, const_like, xp_of
from .elementwise import where
from .extra import _add_scaled
from .linalg import einsum
from .shape import unsqueeze, squeeze, _mT
from .solve import inverse, _eye


# -- matrix_power ---------------------------------------------------------------------------
def _mp_samples(rng):
    a = 0.5 * rng.standard_normal((3, 3)) + _eye(3)
    return [Sample([a], {"n": 3}), Sample([a], {"n": 1}), Sample([a], {"n": -2}),
            Sample([a], {"n": 0}), Sample([0.5 * rng.standard_normal((2, 2, 2))], {"n": 4}),
            Sample([rng.standard_normal((0, 2, 2))], {"n": 2})]


@composite("matrix_power", method=True, samples=_mp_samples)
def matrix_power(A, n):
    """torch.linalg.matrix_power (and torch.matrix_power, Tensor.matrix_power): A^n for a
    batch of square matrices and an integer n, by repeated squaring (about 2 log2 |n|
    matmuls). n = 0 gives the identity (connected to A with gradient 0, as in PyTorch);
    n < 0 gives inverse(A)^|n| (A must be invertible; RuntimeError otherwise). Raises
    ShapeError for non-square A and TypeError for a non-integer n."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"linalg.matrix_power: n must be an int, got {type(n).__name__}")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ShapeError(f"linalg.matrix_power: A must be a batch of square matrices, but got "
                         f"shape {list(A.shape)}")
    if n == 0:
        eye = const_like(_eye(A.shape[-1]), A, dtype=A.dtype)
        return where(xp_of(A).zeros(A.shape, dtype=bool), A, eye)
    if n < 0:
        A, n = inverse(A), -n
    out = None
    while n:   # binary powering: A^n = prod of A^(2^i) over the bits of n
        if n & 1:
            out = A if out is None else out @ A
        n >>= 1
        if n:
            A = A @ A
    return out


# -- multi_dot ------------------------------------------------------------------------------
def _chain_order(dims):
    """split[i][j]: where the cheapest product of matrices i..j splits (the classic dynamic
    program over dims, matrix i being dims[i] x dims[i + 1])."""
    k = len(dims) - 1
    cost = [[0] * k for _ in range(k)]
    split = [[0] * k for _ in range(k)]
    for span in range(1, k):
        for i in range(k - span):
            j = i + span
            cost[i][j], split[i][j] = min(
                (cost[i][s] + cost[s + 1][j] + dims[i] * dims[s + 1] * dims[j + 1], s)
                for s in range(i, j))
    return split


def _chain(mats, split, i, j):
    if i == j:
        return mats[i]
    s = split[i][j]
    return _chain(mats, split, i, s) @ _chain(mats, split, s + 1, j)


def _multi_dot_samples(rng):
    r = rng.standard_normal
    # the tensors as separate arguments, so the registry tests make them take gradients
    return [Sample([r((2, 3)), r((3, 4)), r((4, 2))]),
            Sample([r((3,)), r((3, 5)), r((5, 2)), r((2,))]),
            Sample([r((4, 1)), r((1, 3))]), Sample([r((2,)), r((2, 3))])]


@composite("linalg.multi_dot", samples=_multi_dot_samples)
def multi_dot(tensors, *more):
    """torch.linalg.multi_dot: the product of two or more matrices (a list, or, beyond
    PyTorch, separate arguments) in the order of fewest multiplications (chosen from their
    shapes). The first may be a 1-d row vector and the last a 1-d column vector; their dims
    are dropped from the result. Raises ShapeError for other dims or sizes that don't chain,
    RuntimeError for fewer than two tensors."""
    ts = [tensors, *more] if more or isinstance(tensors, Tensor) else list(tensors)
    if len(ts) < 2:
        raise RuntimeError(f"linalg.multi_dot: expected at least 2 tensors but got {len(ts)}")
    for i, t in enumerate(ts):
        ok = t.ndim in (1, 2) if i in (0, len(ts) - 1) else t.ndim == 2
        if not ok:
            which = "the first" if i == 0 else "the last" if i == len(ts) - 1 else f"tensor {i}"
            raise ShapeError(f"linalg.multi_dot: {which} tensor must be "
                             f"{'1D or 2D' if i in (0, len(ts) - 1) else '2D'} but got "
                             f"{t.ndim}D (shape {list(t.shape)})")
    row, col = ts[0].ndim == 1, ts[-1].ndim == 1
    mats = list(ts)
    if row:
        mats[0] = unsqueeze(mats[0], 0)
    if col:
        mats[-1] = unsqueeze(mats[-1], -1)
    for i in range(len(mats) - 1):
        if mats[i].shape[1] != mats[i + 1].shape[0]:
            raise ShapeError(f"linalg.multi_dot: tensors {i} and {i + 1} with shapes "
                             f"{list(ts[i].shape)} and {list(ts[i + 1].shape)} cannot be "
                             f"multiplied")
    dims = [mats[0].shape[0]] + [m.shape[1] for m in mats]
    out = _chain(mats, _chain_order(dims), 0, len(mats) - 1)
    if col:
        out = squeeze(out, -1)
    return squeeze(out, 0) if row else out


# -- cdist ----------------------------------------------------------------------------------
_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                "donot_use_mm_for_euclid_dist")


def _euclid_mm(x1, x2):
    """||x - y|| as sqrt(|x|^2 + |y|^2 - 2 x.y): one matmul instead of a (P, R, M) array of
    differences, at the price of cancellation for near points (PyTorch's fast path).
    Clamped at 0; the gradient at distance 0 is 0 (the inner where keeps sqrt's infinite
    slope out of the graph)."""
    d2 = (x1 * x1).sum(dim=-1, keepdim=True) + unsqueeze((x2 * x2).sum(dim=-1), -2) \
        - 2.0 * (x1 @ _mT(x2))
    pos = d2 > 0
    return where(pos, where(pos, d2, 1.0).sqrt(), 0.0)


def _cdist_samples(rng):
    r = rng.standard_normal
    return [Sample([r((3, 2)), r((4, 2))]), Sample([r((2, 3, 4)), r((2, 2, 4))], {"p": 1.0}),
            Sample([r((3, 2)), r((2, 2))], {"p": 3.0}),
            Sample([r((2, 1, 3, 2)), r((3, 2, 2))], {"p": float("inf")}),
            Sample([r((3, 2)), r((4, 2))], {"compute_mode": "use_mm_for_euclid_dist"}),
            Sample([r((0, 2)), r((3, 2))])]


@composite("cdist", samples=_cdist_samples)
def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """torch.cdist: out[..., i, j] = ||x1[..., i, :] - x2[..., j, :]||_p for x1 (..., P, M)
    and x2 (..., R, M) (batch dims broadcast), p >= 0 (0 counts differing entries, inf is
    the largest difference). For p = 2 the mm form (see _euclid_mm) is used when
    ``compute_mode`` asks for it or, by default, when P > 25 or R > 25, as PyTorch does;
    otherwise the differences are formed (memory P * R * M per batch). The gradient at
    distance 0 is 0. Unlike PyTorch's (first order only) it is differentiable twice.
    Raises ShapeError for fewer than 2 dims or different M, and RuntimeError for p < 0,
    integer input or an unknown compute_mode."""
    from .vector_norm import vector_norm
    for t in (x1, x2):
        if t.ndim < 2:
            raise ShapeError(f"cdist: only tensors of at least 2 dims are supported, got "
                             f"shapes {list(x1.shape)} and {list(x2.shape)}")
        if not backend.is_floating(t.dtype):
            raise RuntimeError(f"cdist: only floating-point inputs are supported, got "
                               f"{t.dtype}")
    if x1.shape[-1] != x2.shape[-1]:
        raise ShapeError(f"cdist: x1 and x2 must have the same number of columns, got shapes "
                         f"{list(x1.shape)} and {list(x2.shape)}")
    if p < 0:
        raise RuntimeError(f"cdist: p must be non-negative, got {p}")
    if compute_mode not in _CDIST_MODES:
        raise RuntimeError(f"cdist: compute_mode must be one of {', '.join(_CDIST_MODES)}, "
                           f"got {compute_mode!r}")
    mm = p == 2 and (compute_mode == _CDIST_MODES[1] or compute_mode == _CDIST_MODES[0] and
                     (x1.shape[-2] > 25 or x2.shape[-2] > 25))
    if mm:
        return _euclid_mm(x1, x2)
    return vector_norm(unsqueeze(x1, -2) - unsqueeze(x2, -3), p, dim=-1)


# -- add + product --------------------------------------------------------------------------
@composite("addmv", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2,)), rng.standard_normal((2, 3)), rng.standard_normal((3,))]),
    Sample([rng.standard_normal(()), rng.standard_normal((2, 3)), rng.standard_normal((3,))],
           {"beta": 0.5, "alpha": 2.0})])
def addmv(input, mat, vec, *, beta=1, alpha=1):
    """torch.addmv: beta * input + alpha * (mat @ vec), mat (n, m), vec (m,), input
    broadcasting to (n,). With beta = 0, input is ignored (NaN and inf in it don't
    propagate). Raises ShapeError for other dims or sizes."""
    if mat.ndim != 2 or vec.ndim != 1 or mat.shape[1] != vec.shape[0]:
        raise ShapeError(f"addmv: expected a matrix and a vector of matching size, got mat "
                         f"{list(mat.shape)} and vec {list(vec.shape)}")
    return _add_scaled(input, mat @ vec, beta, alpha, "addmv")


@composite("addr", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3)), rng.standard_normal((2,)), rng.standard_normal((3,))]),
    Sample([rng.standard_normal((3,)), rng.standard_normal((2,)), rng.standard_normal((3,))],
           {"beta": 2.0, "alpha": -1.0})])
def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """torch.addr: beta * input + alpha * outer(vec1, vec2), input broadcasting to (n, m).
    With beta = 0, input is ignored. Raises ShapeError unless vec1 and vec2 are 1-d."""
    if vec1.ndim != 1 or vec2.ndim != 1:
        raise ShapeError(f"addr: vec1 and vec2 must be 1-D, got shapes {list(vec1.shape)} "
                         f"and {list(vec2.shape)}")
    return _add_scaled(input, unsqueeze(vec1, 1) * unsqueeze(vec2, 0), beta, alpha, "addr")


@composite("addbmm", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((3, 2)), rng.standard_normal((4, 3, 5)),
            rng.standard_normal((4, 5, 2))]),
    Sample([rng.standard_normal((2,)), rng.standard_normal((2, 3, 1)),
            rng.standard_normal((2, 1, 2))], {"beta": 0.0, "alpha": 0.5})])
def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """torch.addbmm: beta * input + alpha * sum_b batch1[b] @ batch2[b] for batch1 (b, n, m)
    and batch2 (b, m, p) (one GEMM over (n, b*m) x (b*m, p)), input broadcasting to (n, p).
    With beta = 0, input is ignored. Raises ShapeError for other dims or sizes."""
    if batch1.ndim != 3 or batch2.ndim != 3 or batch1.shape[0] != batch2.shape[0] or \
            batch1.shape[2] != batch2.shape[1]:
        raise ShapeError(f"addbmm: expected batch1 (b, n, m) and batch2 (b, m, p), got shapes "
                         f"{list(batch1.shape)} and {list(batch2.shape)}")
    return _add_scaled(input, einsum("bij,bjk->ik", batch1, batch2), beta, alpha, "addbmm")
