"""Linear algebra of issue 15 against PyTorch 2.13: cholesky, qr, svd, svdvals, eigh,
eigvalsh, lstsq, pinv, slogdet, matrix_norm (fro, nuc, 2, -2, 1, -1, inf, -inf),
matrix_power, multi_dot, cdist, addmv, addr, addbmm. Each row compares float64 values,
first- and second-order gradients, forward-mode tangents and float32 values
(tests/parity.py), on random well-conditioned inputs with distinct eigen/singular values.

Conventions checked here:
- Symmetric-input ops (cholesky, eigh, eigvalsh, pinv(hermitian=True)) read one triangle
  and return PyTorch's symmetric gradient, so they are called on ``A + A^T`` (as PyTorch's
  OpInfo does): then perturbations are symmetric and finite differences apply. The registry
  tests can't do that, so this file also checks them on the fake CUDA device.
- Signs: tapegrad makes each eigenvector's (each u_j's) largest entry positive; the torch
  side is normalized the same way (a constant sign per vector, so gradients compare too).
"""
import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad.autograd import gradcheck, gradgradcheck
from tapegrad.core.errors import ShapeError

from helpers import cuda_for_tests
from parity import Row, check_row, parametrize, normal, normals

INF = float("inf")


# -- the torch side, with tapegrad's sign convention ---------------------------------------------
def _signs(u, dim):
    """+1/-1 per vector of u (vectors along dim) making its largest-magnitude entry > 0."""
    idx = u.abs().argmax(dim, keepdim=True)
    return torch.where(torch.take_along_dim(u, idx, dim) < 0, -1.0, 1.0).to(u.dtype).detach()


def t_eigh(a, UPLO="L"):
    w, v = torch.linalg.eigh(a, UPLO=UPLO)
    return w, v * _signs(v, -2)


def t_svd(a, full_matrices=True):
    u, s, vh = torch.linalg.svd(a, full_matrices=full_matrices)
    k = s.shape[-1]
    su = _signs(u, -2)
    rows = su[..., :k].mT
    if vh.shape[-2] > k:
        rows = torch.cat([rows, _signs(vh[..., k:, :], -1)], -2)
    return u * su, s, vh * rows


def sym_tg(f):
    return lambda a, *rest: f(a + a.mT, *rest)


def sym_t(f):
    return lambda a, *rest: f(a + a.mT, *rest)


def spd(*shape):
    """Halves of symmetric positive-definite matrices (the row functions add A^T)."""
    def make(rng):
        x = rng.standard_normal(shape)
        return [(x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])) / 2]
    return make


def nth(f, i):
    return lambda *a: f(*a)[i]


# -- parity rows ----------------------------------------------------------------------------
ROWS = [
    Row("cholesky", sym_tg(tg.linalg.cholesky), sym_t(torch.linalg.cholesky), spd(3, 3)),
    Row("cholesky-upper-batched", sym_tg(lambda a: tg.linalg.cholesky(a, upper=True)),
        sym_t(lambda a: torch.linalg.cholesky(a, upper=True)), spd(2, 4, 4)),
    Row("cholesky-legacy", sym_tg(lambda a: a.cholesky(True)),
        sym_t(lambda a: torch.cholesky(a, True)), spd(3, 3)),
    Row("eigh", sym_tg(tg.linalg.eigh), sym_t(t_eigh), normal(4, 4)),
    Row("eigh-upper-batched", sym_tg(lambda a: tg.linalg.eigh(a, UPLO="U")),
        sym_t(lambda a: t_eigh(a, "U")), normal(2, 3, 3)),
    Row("eigh-reads-lower", nth(tg.linalg.eigh, 0), nth(torch.linalg.eigh, 0), normal(3, 3),
        grad=False),
    Row("eigvalsh", sym_tg(tg.linalg.eigvalsh), sym_t(torch.linalg.eigvalsh), normal(2, 4, 4)),
    Row("qr-tall", tg.linalg.qr, torch.linalg.qr, normal(5, 3)),
    Row("qr-wide-batched", tg.linalg.qr, torch.linalg.qr, normal(2, 3, 5)),
    Row("qr-square", lambda a: a.qr(), lambda a: a.qr(), normal(3, 3)),
    Row("qr-complete-wide", lambda a: tg.linalg.qr(a, "complete"),
        lambda a: torch.linalg.qr(a, "complete"), normal(2, 4)),
    # complete with m > n: the extra columns are compared without gradients (any basis)
    Row("qr-complete-tall-values", lambda a: tg.linalg.qr(a, "complete"),
        lambda a: torch.linalg.qr(a, "complete"), normal(4, 2), grad=False),
    Row("qr-complete-tall", lambda a: (lambda q, r: (q[..., :2], r[..., :2, :]))(
        *tg.linalg.qr(a, "complete")),
        lambda a: torch.linalg.qr(a), normal(4, 2)),
    Row("qr-r", lambda a: tg.linalg.qr(a, mode="r").R, lambda a: torch.linalg.qr(a).R,
        normal(4, 3)),
    Row("svd", tg.linalg.svd, t_svd, normal(3, 3)),
    Row("svd-reduced-tall", lambda a: tg.linalg.svd(a, full_matrices=False),
        lambda a: t_svd(a, False), normal(5, 3)),
    Row("svd-reduced-wide-batched", lambda a: tg.linalg.svd(a, False),
        lambda a: t_svd(a, False), normal(2, 2, 4)),
    # full_matrices with m > n: U's last m - n columns are any basis of the complement
    # (checked for orthonormality in test_signs_are_fixed), their cotangents ignored
    Row("svd-full-tall", lambda a: (lambda u, s, vh: (u[..., :2], s, vh))(*tg.linalg.svd(a)),
        lambda a: (lambda u, s, vh: (u[..., :2], s, vh))(*t_svd(a)), normal(4, 2)),
    Row("svd-legacy", lambda a: a.svd(), lambda a: (lambda u, s, vh: (u, s, vh.mT))(
        *t_svd(a, False)), normal(4, 3)),
    Row("svd-legacy-no-uv", lambda a: tg.svd(a, compute_uv=False)[1],
        lambda a: torch.svd(a, compute_uv=False)[1], normal(3, 2)),
    Row("svdvals", tg.linalg.svdvals, torch.linalg.svdvals, normal(2, 3, 5)),
    Row("pinv-tall", tg.linalg.pinv, torch.linalg.pinv, normal(4, 3)),
    Row("pinv-wide-batched", tg.linalg.pinv, torch.linalg.pinv, normal(2, 2, 4)),
    Row("pinv-hermitian", sym_tg(lambda a: tg.linalg.pinv(a, hermitian=True)),
        sym_t(lambda a: torch.linalg.pinv(a, hermitian=True)), normal(3, 3)),
    Row("pinv-rank-deficient", lambda a: tg.linalg.pinv(a, rtol=1e-8),
        lambda a: torch.linalg.pinv(a, rtol=1e-8),
        lambda rng: [np.outer(rng.standard_normal(3), rng.standard_normal(2))], f32=False),
    Row("pinv-atol", lambda a: tg.linalg.pinv(a, atol=0.5), lambda a: torch.linalg.pinv(
        a, atol=0.5), lambda rng: [np.diag([3.0, 1.0, 0.1]) + 0.01 * rng.standard_normal((3, 3))]),
    Row("pinverse", lambda a: a.pinverse(), lambda a: a.pinverse(), normal(3, 4)),
    Row("lstsq-tall", lambda a, b: tg.linalg.lstsq(a, b).solution,
        lambda a, b: torch.linalg.lstsq(a, b).solution, normals((5, 3), (5, 2))),
    Row("lstsq-vector-gelsd", lambda a, b: tg.linalg.lstsq(a, b, driver="gelsd")[:2],
        lambda a, b: torch.linalg.lstsq(a, b, driver="gelsd")[:2], normals((4, 2), (4,)),
        grad=False),
    Row("lstsq-solution-batched", lambda a, b: tg.linalg.lstsq(a, b, driver="gelsd")[0],
        lambda a, b: torch.linalg.lstsq(a, b, driver="gelsd")[0], normals((2, 4, 3), (1, 4, 2))),
    Row("lstsq-wide", lambda a, b: tg.linalg.lstsq(a, b)[0], lambda a, b: torch.linalg.lstsq(
        a, b)[0], normals((2, 4), (2, 3))),
    Row("slogdet-batched", tg.linalg.slogdet, torch.linalg.slogdet, normal(2, 3, 3)),
    Row("slogdet-method", lambda a: a.slogdet(), lambda a: a.slogdet(), normal(4, 4)),
    Row("slogdet-empty", tg.linalg.slogdet, torch.linalg.slogdet, normal(0, 0)),
    Row("matrix_norm-nuc", lambda a: tg.linalg.matrix_norm(a, "nuc"),
        lambda a: torch.linalg.matrix_norm(a, "nuc"), normal(2, 3, 4)),
    Row("matrix_norm-2", lambda a: tg.linalg.matrix_norm(a, 2),
        lambda a: torch.linalg.matrix_norm(a, 2), normal(3, 2)),
    Row("matrix_norm--2-dims-keepdim", lambda a: tg.linalg.matrix_norm(a, -2, (2, 0), True),
        lambda a: torch.linalg.matrix_norm(a, -2, (2, 0), True), normal(3, 2, 4)),
    Row("matrix_norm-inf", lambda a: tg.linalg.matrix_norm(a, INF),
        lambda a: torch.linalg.matrix_norm(a, INF), normal(3, 4)),
    Row("matrix_norm--inf", lambda a: tg.linalg.matrix_norm(a, -INF, keepdim=True),
        lambda a: torch.linalg.matrix_norm(a, -INF, keepdim=True), normal(2, 3, 4)),
    Row("matrix_norm-1", lambda a: tg.linalg.matrix_norm(a, 1),
        lambda a: torch.linalg.matrix_norm(a, 1), normal(3, 4)),
    Row("matrix_norm--1", lambda a: tg.linalg.matrix_norm(a, -1),
        lambda a: torch.linalg.matrix_norm(a, -1), normal(3, 4)),
    Row("matrix_norm-fro", lambda a: tg.linalg.matrix_norm(a, dim=(0, 2)),
        lambda a: torch.linalg.matrix_norm(a, dim=(0, 2)), normal(3, 2, 4)),
    Row("linalg.norm-2", lambda a: tg.linalg.norm(a, 2), lambda a: torch.linalg.norm(a, 2),
        normal(3, 4)),
    Row("linalg.norm-nuc", lambda a: tg.linalg.norm(a, "nuc"),
        lambda a: torch.linalg.norm(a, "nuc"), normal(3, 4)),
    Row("matrix_power-3", lambda a: tg.linalg.matrix_power(a, 3),
        lambda a: torch.linalg.matrix_power(a, 3), normal(2, 3, 3)),
    Row("matrix_power-5-method", lambda a: a.matrix_power(5), lambda a: a.matrix_power(5),
        lambda rng: [0.5 * rng.standard_normal((3, 3))]),
    Row("matrix_power-neg", lambda a: tg.matrix_power(a, -2), lambda a: torch.matrix_power(
        a, -2), lambda rng: [2 * np.eye(3) + 0.5 * rng.standard_normal((3, 3))]),
    Row("matrix_power-0", lambda a: tg.linalg.matrix_power(a, 0),
        lambda a: torch.linalg.matrix_power(a, 0), normal(2, 3, 3)),
    Row("multi_dot", lambda a, b, c, d: tg.linalg.multi_dot([a, b, c, d]),
        lambda a, b, c, d: torch.linalg.multi_dot([a, b, c, d]),
        normals((4, 10), (10, 3), (3, 8), (8, 2))),
    Row("multi_dot-vectors", lambda a, b, c: tg.linalg.multi_dot((a, b, c)),
        lambda a, b, c: torch.linalg.multi_dot((a, b, c)), normals((3,), (3, 4), (4,))),
    # torch.cdist has no second derivative (its backward is once differentiable): the second
    # order is compared against the same distances written with torch's vector_norm
    Row("cdist", tg.cdist, torch.cdist, normals((3, 4), (5, 4)), grad2=False),
    Row("cdist-grad2", tg.cdist, lambda a, b: torch.linalg.vector_norm(
        a[..., :, None, :] - b[..., None, :, :], dim=-1), normals((3, 4), (5, 4))),
    Row("cdist-p1-batched", lambda a, b: tg.cdist(a, b, p=1),
        lambda a, b: torch.cdist(a, b, p=1), normals((2, 3, 4), (1, 5, 4)), grad2=False),
    Row("cdist-p3", lambda a, b: tg.cdist(a, b, 3.0), lambda a, b: torch.cdist(a, b, 3.0),
        normals((3, 2), (4, 2)), grad2=False),
    Row("cdist-pinf", lambda a, b: tg.cdist(a, b, INF), lambda a, b: torch.cdist(a, b, INF),
        normals((3, 2), (4, 2)), grad2=False),
    Row("cdist-p0", lambda a, b: tg.cdist(a, b, 0), lambda a, b: torch.cdist(a, b, 0),
        normals((3, 2), (4, 2)), grad2=False),
    Row("cdist-mm", tg.cdist, torch.cdist, normals((30, 3), (4, 3)), rtol=1e-6, atol=1e-8),
    Row("cdist-mm-forced", lambda a, b: tg.cdist(a, b, compute_mode="use_mm_for_euclid_dist"),
        lambda a, b: torch.cdist(a, b, compute_mode="use_mm_for_euclid_dist"),
        normals((3, 3), (4, 3)), rtol=1e-6, atol=1e-8),
    Row("addmv", tg.addmv, torch.addmv, normals((2,), (2, 3), (3,))),
    Row("addmv-scaled-method", lambda x, m, v: x.addmv(m, v, beta=0.5, alpha=-2.0),
        lambda x, m, v: x.addmv(m, v, beta=0.5, alpha=-2.0), normals((), (2, 3), (3,))),
    Row("addr", tg.addr, torch.addr, normals((2, 3), (2,), (3,))),
    Row("addr-scaled", lambda x, a, b: tg.addr(x, a, b, beta=2, alpha=3),
        lambda x, a, b: torch.addr(x, a, b, beta=2, alpha=3), normals((3,), (2,), (3,))),
    Row("addbmm", tg.addbmm, torch.addbmm, normals((3, 2), (4, 3, 5), (4, 5, 2))),
    Row("addbmm-scaled-method", lambda x, a, b: x.addbmm(a, b, beta=0.5, alpha=2),
        lambda x, a, b: x.addbmm(a, b, beta=0.5, alpha=2), normals((2,), (2, 3, 1), (2, 1, 2))),
]


@parametrize(ROWS)
def test_parity(row):
    check_row(row)


def test_beta_zero_ignores_nan_input():
    """beta = 0: input's NaN does not reach the result, and input still gets a zero gradient."""
    x0, m0, v0 = np.array([np.nan, 1.0]), np.ones((2, 3)), np.arange(3.0)
    x = tg.tensor(x0, requires_grad=True)
    out = tg.addmv(x, tg.tensor(m0), tg.tensor(v0), beta=0)
    want = torch.addmv(torch.tensor(x0), torch.tensor(m0), torch.tensor(v0), beta=0)
    np.testing.assert_array_equal(out.numpy(), want.numpy())
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


def test_lstsq_fields_as_pytorch_fills_them():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    for driver in (None, "gels", "gelsy", "gelsd", "gelss"):
        got = tg.linalg.lstsq(tg.tensor(a), tg.tensor(b), driver=driver)
        want = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
        assert got._fields == ("solution", "residuals", "rank", "singular_values")
        for g, w in zip(got, want):
            assert tuple(g.shape) == tuple(w.shape), (driver, g.shape, w.shape)
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-9, atol=1e-12)
    assert got.rank.dtype == np.int64
    deficient = np.outer(rng.standard_normal(4), rng.standard_normal(3))
    got = tg.linalg.lstsq(tg.tensor(deficient), tg.tensor(b[:4]), driver="gelsd")
    assert int(got.rank) == 1 and got.residuals.shape == (0,)


def test_lstsq_residuals_are_differentiable():
    """PyTorch drops gradients through residuals; here they are the composite's gradient."""
    rng = np.random.default_rng(4)
    a = tg.tensor(rng.standard_normal((5, 2)), requires_grad=True)
    b = tg.tensor(rng.standard_normal((5, 2)), requires_grad=True)
    f = lambda a, b: tg.linalg.lstsq(a, b, driver="gelsd").residuals  # noqa: E731
    assert gradcheck(f, [a, b]) and gradgradcheck(f, [a, b])


# -- symmetric-input ops: finite differences through A + A^T, and on the fake CUDA ----------
SYM_OPS = [
    ("cholesky", lambda a: tg.linalg.cholesky(a + a.mT + 9 * tg.eye(3, dtype=a.dtype,
                                                                       device=a.device))),
    ("eigh-values", lambda a: tg.linalg.eigh(a + a.mT)[0]),
    ("eigh-vectors", lambda a: tg.linalg.eigh(a + a.mT, "U")[1] ** 3),
    ("eigvalsh", lambda a: tg.linalg.eigvalsh(a + a.mT)),
    ("pinv-hermitian", lambda a: tg.linalg.pinv(a + a.mT, hermitian=True)),
]


@pytest.mark.parametrize("name,f", SYM_OPS, ids=[n for n, _ in SYM_OPS])
def test_symmetric_ops_finite_differences(name, f):
    a = tg.tensor(np.random.default_rng(5).standard_normal((2, 3, 3)), requires_grad=True)
    assert gradcheck(f, [a]) and gradgradcheck(f, [a])
    t = tg.tensor(np.random.default_rng(6).standard_normal(a.shape))
    _, jt = tg.func.jvp(f, [a.detach()], [t])
    eps = 1e-6
    fd = (f(a.detach() + eps * t).numpy() - f(a.detach() - eps * t).numpy()) / (2 * eps)
    np.testing.assert_allclose(jt.numpy(), fd, rtol=1e-5, atol=1e-6)


def _derivs(f, a, dev=None):
    """The output, a VJP and a second-order VJP (fixed cotangents), on the host."""
    rng = np.random.default_rng(7)
    out = f(a)
    u = tg.tensor(rng.standard_normal(out.shape))
    g, = tg.grad(out, [a], u.to(dev) if dev else u, create_graph=True)
    v = tg.tensor(rng.standard_normal(g.shape))
    h, = tg.grad((g * (v.to(dev) if dev else v)).sum(), [a])
    assert dev is None or out.device == g.device == h.device == dev
    return [x.cpu().numpy() for x in (out, g, h)]


@pytest.mark.parametrize("name,f", SYM_OPS, ids=[n for n, _ in SYM_OPS])
def test_symmetric_ops_on_second_device(name, f):
    a0 = np.random.default_rng(8).standard_normal((2, 3, 3))
    ref = _derivs(f, tg.tensor(a0, requires_grad=True))
    with cuda_for_tests():
        dev = tg.device("cuda:0")
        got = _derivs(f, tg.tensor(a0).to(dev).requires_grad_(), dev)
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, rtol=1e-7, atol=1e-9)


# -- conventions at repeated eigen/singular values --------------------------------------------
def test_value_losses_are_exact_at_repeated_values():
    """Losses of the eigenvalues / singular values alone: the exact, finite gradient at
    repeated values, also through eigh's and svd's vectors outputs (which then get zeros)."""
    rng = np.random.default_rng(8)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    a = tg.tensor(q @ np.diag([1.0, 1.0, 2.0]) @ q.T, requires_grad=True)   # 1 repeated
    for w in (tg.linalg.eigvalsh(a), tg.linalg.eigh(a).eigenvalues):
        g, = tg.grad(w.sum(), [a])   # d trace(A) = I
        np.testing.assert_allclose(g.numpy(), np.eye(3), atol=1e-12)
    o = tg.tensor(q, requires_grad=True)   # orthogonal: singular values all 1
    for s in (tg.linalg.svdvals(o), tg.linalg.svd(o).S):
        g, = tg.grad(s.sum(), [o])   # nuclear norm: d ||A||_* = U V^T = Q
        np.testing.assert_allclose(g.numpy(), q, atol=1e-12)
    g, = tg.grad(tg.linalg.matrix_norm(o, "nuc"), [o])
    np.testing.assert_allclose(g.numpy(), q, atol=1e-12)


def test_vector_losses_at_repeated_values_stay_finite():
    """A loss of the eigenvectors at an exactly repeated eigenvalue: PyTorch gives inf/NaN;
    tapegrad takes 1 / (w_j - w_i) as 0 for equal values, a finite (partial) gradient."""
    a0 = np.diag([1.0, 1.0, 3.0])
    a = tg.tensor(a0, requires_grad=True)
    g, = tg.grad((tg.linalg.eigh(a).eigenvectors * tg.tensor(np.arange(9.0).reshape(3, 3)))
                 .sum(), [a])
    assert np.isfinite(g.numpy()).all()
    at = torch.tensor(a0, requires_grad=True)
    gt, = torch.autograd.grad((torch.linalg.eigh(at).eigenvectors *
                               torch.arange(9.0, dtype=torch.float64).reshape(3, 3)).sum(), [at])
    assert not torch.isfinite(gt).all()


def test_pinv_gradient_is_exact_at_repeated_singular_values():
    """pinv has its own rule (not the SVD's), exact at pinv(I) = I: d(A^-1) = -dA there."""
    u = np.arange(9.0).reshape(3, 3)
    a = tg.tensor(np.eye(3), requires_grad=True)
    g, = tg.grad(tg.linalg.pinv(a), [a], tg.tensor(u))
    np.testing.assert_allclose(g.numpy(), -u, atol=1e-12)
    at = torch.eye(3, dtype=torch.float64, requires_grad=True)
    gt, = torch.autograd.grad(torch.linalg.pinv(at), [at], torch.tensor(u))
    np.testing.assert_allclose(g.numpy(), gt.numpy(), atol=1e-12)


def test_signs_are_fixed():
    rng = np.random.default_rng(9)
    a = tg.tensor(rng.standard_normal((4, 6, 3)))
    u, s, vh = tg.linalg.svd(a)     # U's columns (the extra ones too); Vh's rows follow
    m = u.numpy()
    assert (np.take_along_axis(m, np.abs(m).argmax(-2)[..., None, :], -2) > 0).all()
    np.testing.assert_allclose((u[..., :3] * s.unsqueeze(-2) @ vh).numpy(), a.numpy(),
                               atol=1e-5)
    np.testing.assert_allclose(np.swapaxes(m, -1, -2) @ m, np.broadcast_to(np.eye(6), m.shape),
                               atol=1e-12)
    vh = tg.linalg.svd(a.mT).Vh.numpy()[..., 3:, :]   # Vh's extra rows: by their own entries
    assert (np.take_along_axis(vh, np.abs(vh).argmax(-1)[..., None], -1) > 0).all()
    v = tg.linalg.eigh(a @ a.mT).eigenvectors.numpy()
    assert (np.take_along_axis(v, np.abs(v).argmax(-2)[..., None, :], -2) > 0).all()


# -- errors: PyTorch's categories, messages naming the op and the shapes ----------------------
def _t(*shape):
    return tg.tensor(np.arange(float(np.prod(shape))).reshape(shape) + 1)


ERRORS = [
    (lambda: tg.linalg.cholesky(_t(2, 3)), ShapeError, "linalg.cholesky"),
    (lambda: tg.linalg.cholesky(-tg.eye(2)), RuntimeError, "not positive-definite"),
    (lambda: tg.cholesky(tg.tensor([[1.0, 2.0], [2.0, 1.0]])), RuntimeError, "cholesky"),
    (lambda: tg.linalg.eigh(_t(3)), ShapeError, "[3]"),
    (lambda: tg.linalg.eigh(_t(2, 2), UPLO="X"), RuntimeError, "UPLO"),
    (lambda: tg.linalg.eigvalsh(_t(2, 3)), ShapeError, "linalg.eigvalsh"),
    (lambda: tg.linalg.qr(_t(2, 2), mode="full"), RuntimeError, "'full'"),
    (lambda: tg.linalg.qr(_t(4)), ShapeError, "linalg.qr"),
    (lambda: tg.linalg.svd(_t(4)), ShapeError, "linalg.svd"),
    (lambda: tg.linalg.svd(tg.tensor([[1.0, float("nan")], [0.0, 1.0]])), RuntimeError,
     "failed to converge"),
    (lambda: tg.linalg.svdvals(_t(3)), ShapeError, "linalg.svdvals"),
    (lambda: tg.linalg.pinv(_t(2, 2), atol="a"), TypeError, "atol"),
    (lambda: tg.linalg.lstsq(_t(3, 2), _t(4, 1)), ShapeError, "[3, 2]"),
    (lambda: tg.linalg.lstsq(_t(3, 2), _t(3, 1), driver="x"), RuntimeError, "driver"),
    (lambda: tg.linalg.slogdet(_t(2, 3)), ShapeError, "linalg.slogdet"),
    (lambda: tg.linalg.slogdet(tg.tensor([[1.0, 2.0], [2.0, 4.0]], requires_grad=True))
     .logabsdet.backward(), RuntimeError, "singular"),
    (lambda: tg.linalg.matrix_norm(_t(3, 3), 3), RuntimeError, "Order 3"),
    (lambda: tg.linalg.matrix_norm(_t(3)), ShapeError, "2 dimensions"),
    (lambda: tg.linalg.matrix_norm(_t(3, 3), dim=(0, 2)), IndexError, "out of range"),
    (lambda: tg.linalg.matrix_power(_t(2, 3), 2), ShapeError, "[2, 3]"),
    (lambda: tg.linalg.matrix_power(_t(2, 2), 1.5), TypeError, "int"),
    (lambda: tg.linalg.matrix_power(tg.tensor([[1.0, 2.0], [2.0, 4.0]]), -1), RuntimeError,
     "singular"),
    (lambda: tg.linalg.multi_dot([_t(2, 3)]), RuntimeError, "at least 2"),
    (lambda: tg.linalg.multi_dot([_t(2, 3), _t(4, 2)]), ShapeError, "[2, 3] and [4, 2]"),
    (lambda: tg.linalg.multi_dot([_t(2, 3), _t(3, 2, 2), _t(2, 2)]), ShapeError, "tensor 1"),
    (lambda: tg.cdist(_t(3, 2), _t(3, 4)), ShapeError, "columns"),
    (lambda: tg.cdist(_t(3), _t(3, 3)), ShapeError, "cdist"),
    (lambda: tg.cdist(_t(3, 2), _t(3, 2), p=-1), RuntimeError, "non-negative"),
    (lambda: tg.cdist(tg.tensor([[1, 2]]), tg.tensor([[1, 2]])), RuntimeError, "floating"),
    (lambda: tg.addmv(_t(2), _t(2, 3), _t(4)), ShapeError, "addmv"),
    (lambda: tg.addmv(_t(3), _t(2, 3), _t(3)), RuntimeError, "broadcast"),
    (lambda: tg.addr(_t(2, 2), _t(2, 1), _t(2)), ShapeError, "addr"),
    (lambda: tg.addbmm(_t(2, 2), _t(2, 2, 3), _t(3, 3, 2)), ShapeError, "addbmm"),
]


@pytest.mark.parametrize("fn,kind,fragment", ERRORS)
def test_errors(fn, kind, fragment):
    with pytest.raises(kind) as info:
        fn()
    assert fragment in str(info.value)
