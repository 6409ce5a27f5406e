"""PyTorch parity for linear algebra (one row per op and notable variant: values in float64
and float32, first- and second-order gradients), plus error categories for bad input."""
import numpy as np
import pytest
import torch

import tapegrad as tg
from parity import Row, check_row, parametrize

INF = float("inf")


def r(*shapes):
    return lambda rng: [rng.uniform(-2, 2, s) for s in shapes]


def well(*shape):
    """Well-conditioned square matrices (2 I + a random part)."""
    return lambda rng: [2 * np.eye(shape[-1]) + 0.5 * rng.standard_normal(shape)]


def const(*arrays):
    return lambda rng: [np.array(a, dtype=float) for a in arrays]


def eq(spec, *shapes):
    return Row(f"einsum-{spec}", lambda *a: tg.einsum(spec, *a),
               lambda *a: torch.einsum(spec, *a), r(*shapes))


ROWS = [
    Row("mm", tg.mm, torch.mm, r((2, 3), (3, 4))),
    Row("bmm", tg.bmm, torch.bmm, r((2, 2, 3), (2, 3, 4))),
    Row("mv", tg.mv, torch.mv, r((2, 3), (3,))),
    Row("dot", tg.dot, torch.dot, r((4,), (4,))),
    Row("inner", tg.inner, torch.inner, r((4,), (4,))),
    Row("inner-mat", tg.inner, torch.inner, r((2, 3), (4, 3))),
    Row("outer", tg.outer, torch.outer, r((3,), (2,))),
    Row("ger", lambda a, b: a.ger(b), lambda a, b: a.ger(b), r((2,), (3,))),
    eq("ij,jk->ik", (2, 3), (3, 4)),
    eq("bij,bjk->bik", (2, 2, 3), (2, 3, 2)),
    eq("ii->i", (3, 3)),
    eq("ii", (3, 3)),
    eq("ij->", (2, 3)),
    eq("ij->j", (2, 3)),
    eq("i,j->ij", (3,), (2,)),
    eq("ij,ij->i", (2, 3), (2, 3)),
    eq("...ij,...jk", (2, 2, 3), (3, 2)),
    eq("ij,jk,kl->il", (2, 3), (3, 2), (2, 2)),
    eq("iij->ij", (2, 2, 3)),
    eq("ij,kj", (2, 3), (3, 3)),
    eq("bn,anm,bm->ba", (2, 3), (2, 3, 3), (2, 3)),
    eq("ij,j->i", (2, 1), (3,)),
    Row("einsum-list", lambda a, b: tg.einsum("ij,jk", [a, b]),
        lambda a, b: torch.einsum("ij,jk", [a, b]), r((2, 3), (3, 2))),
    Row("tensordot-2", lambda a, b: tg.tensordot(a, b, 2), lambda a, b: torch.tensordot(a, b, 2),
        r((2, 3, 2), (3, 2, 2))),
    Row("tensordot-lists", lambda a, b: tg.tensordot(a, b, dims=([0, 2], [1, 0])),
        lambda a, b: torch.tensordot(a, b, dims=([0, 2], [1, 0])), r((2, 3, 4), (4, 2, 3))),
    Row("tensordot-0", lambda a, b: tg.tensordot(a, b, 0), lambda a, b: torch.tensordot(a, b, 0),
        r((2,), (3,))),
    Row("trace", tg.trace, torch.trace, r((3, 3))),
    Row("trace-rect", lambda a: a.trace(), lambda a: a.trace(), r((2, 3))),
    Row("diag-vec", tg.diag, torch.diag, r((3,))),
    Row("diag-vec-offset", lambda a: tg.diag(a, 1), lambda a: torch.diag(a, 1), r((2,))),
    Row("diag-vec-neg-offset", lambda a: tg.diag(a, -2), lambda a: torch.diag(a, -2), r((2,))),
    Row("diag-mat", tg.diag, torch.diag, r((3, 3))),
    Row("diag-mat-offset", lambda a: a.diag(-1), lambda a: a.diag(-1), r((3, 2))),
    Row("diagonal", lambda a: a.diagonal(1), lambda a: a.diagonal(1), r((3, 4))),
    Row("diagonal-dims", lambda a: tg.diagonal(a, 0, -1, 0), lambda a: torch.diagonal(a, 0, -1, 0),
        r((2, 3, 2))),
    Row("diag_embed", tg.diag_embed, torch.diag_embed, r((2, 3))),
    Row("diag_embed-offset-dims", lambda a: tg.diag_embed(a, -1, 0, 2),
        lambda a: torch.diag_embed(a, -1, 0, 2), r((2, 3))),
    Row("triu", tg.triu, torch.triu, r((3, 3))),
    Row("triu-offset", lambda a: a.triu(1), lambda a: a.triu(1), r((2, 3, 4))),
    Row("tril", tg.tril, torch.tril, r((3, 3))),
    Row("tril-offset", lambda a: a.tril(diagonal=-1), lambda a: a.tril(diagonal=-1), r((3, 4))),
    Row("inv", tg.linalg.inv, torch.linalg.inv, well(3, 3)),
    Row("inv-batched", tg.linalg.inv, torch.linalg.inv, well(2, 2, 2)),
    Row("inverse-method", lambda a: a.inverse(), lambda a: a.inverse(), well(2, 2)),
    Row("det", tg.linalg.det, torch.linalg.det, well(3, 3)),
    Row("det-batched", tg.det, torch.det, well(2, 3, 3)),
    Row("det-1x1", tg.det, torch.det, r((1, 1))),
    # At a singular matrix PyTorch's forward AD gives 0, but d det = tr(adj(A) dA) is not 0
    # for rank n-1: tapegrad's tangent is checked against finite differences in
    # tests/test_forward_ad.py instead.
    Row("det-singular", tg.linalg.det, torch.linalg.det, const([[1.0, 2.0], [2.0, 4.0]]),
        fwd=False),
    Row("det-rank1-3x3", tg.linalg.det, torch.linalg.det,
        const([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [-1.0, -2.0, -3.0]]), atol=1e-8),
    Row("det-singular-14x14", tg.linalg.det, torch.linalg.det, lambda rng: [
        np.vstack([np.ones((1, 14)), rng.uniform(-1, 1, (13, 14))])[[0, 0] + list(range(1, 13))]],
        grad2=False, rtol=1e-6, atol=1e-8, fwd=False),  # SVD cofactors, first order only
    Row("slogdet", tg.linalg.slogdet, torch.linalg.slogdet, well(3, 3)),
    Row("slogdet-negative", tg.slogdet, torch.slogdet,
        lambda rng: [-np.eye(3) + 0.2 * rng.standard_normal((3, 3))]),
    Row("logdet", tg.logdet, torch.logdet, well(2, 3, 3)),
    Row("solve-vec", tg.linalg.solve, torch.linalg.solve,
        lambda rng: well(3, 3)(rng) + [rng.standard_normal(3)]),
    Row("solve-mat", tg.linalg.solve, torch.linalg.solve,
        lambda rng: well(3, 3)(rng) + [rng.standard_normal((3, 2))]),
    Row("solve-batched-vec", tg.linalg.solve, torch.linalg.solve,
        lambda rng: well(2, 2, 2)(rng) + [rng.standard_normal((2, 2))]),
    Row("solve-broadcast", tg.linalg.solve, torch.linalg.solve,
        lambda rng: well(2, 1, 2, 2)(rng) + [rng.standard_normal((3, 2, 1))]),
    Row("solve-right", lambda a, b: tg.linalg.solve(a, b, left=False),
        lambda a, b: torch.linalg.solve(a, b, left=False),
        lambda rng: well(3, 3)(rng) + [rng.standard_normal((2, 3))]),
    Row("linalg.norm", tg.linalg.norm, torch.linalg.norm, r((2, 3))),
    Row("linalg.norm-fro", lambda a: tg.linalg.norm(a, "fro"),
        lambda a: torch.linalg.norm(a, "fro"), r((2, 3))),
    Row("linalg.norm-mat-inf", lambda a: tg.linalg.norm(a, INF),
        lambda a: torch.linalg.norm(a, INF), r((3, 2))),
    Row("linalg.norm-vec-ord3", lambda a: tg.linalg.norm(a, 3), lambda a: torch.linalg.norm(a, 3),
        r((4,))),
    Row("linalg.norm-dim", lambda a: tg.linalg.norm(a, dim=1, keepdim=True),
        lambda a: torch.linalg.norm(a, dim=1, keepdim=True), r((2, 3))),
    Row("matrix_norm-fro", tg.linalg.matrix_norm, torch.linalg.matrix_norm, r((2, 2, 3))),
    Row("matrix_norm-1", lambda a: tg.linalg.matrix_norm(a, 1),
        lambda a: torch.linalg.matrix_norm(a, 1), r((2, 3, 3))),
    Row("matrix_norm-neg1", lambda a: tg.linalg.matrix_norm(a, -1),
        lambda a: torch.linalg.matrix_norm(a, -1), r((3, 2))),
    Row("matrix_norm-neginf-dims", lambda a: tg.linalg.matrix_norm(a, -INF, dim=(0, 2)),
        lambda a: torch.linalg.matrix_norm(a, -INF, dim=(0, 2)), r((3, 2, 2))),
]


@parametrize(ROWS)
def test_parity(row):
    check_row(row)


def _t(*shape):
    return tg.tensor(np.arange(float(np.prod(shape))).reshape(shape))


SINGULAR = tg.tensor([[1.0, 2.0], [2.0, 4.0]])
ERRORS = [
    (lambda: tg.matmul(_t(2, 3), _t(2, 3)), "2, 3"),
    (lambda: tg.mm(_t(3), _t(3, 2)), "mm"),
    (lambda: tg.bmm(_t(2, 3, 4), _t(3, 4, 5)), "bmm"),
    (lambda: tg.mv(_t(2, 3), _t(4)), "mv"),
    (lambda: tg.dot(_t(3), _t(4)), "dot"),
    (lambda: tg.outer(_t(2, 2), _t(3)), "outer"),
    (lambda: tg.einsum("ij,jk->ik", _t(2, 3), _t(2, 3)), "subscript j"),
    (lambda: tg.einsum("ij->ik", _t(2, 3)), "output subscript k"),
    (lambda: tg.einsum("ii->ii", _t(2, 2)), "only once"),
    (lambda: tg.einsum("ijk", _t(2, 3)), "operand 0"),
    (lambda: tg.einsum("ij,jk", _t(2, 3)), "operands"),
    (lambda: tg.tensordot(_t(2, 3), _t(2, 3), 1), "tensordot"),
    (lambda: tg.trace(_t(3)), "trace"),
    (lambda: tg.diag(_t(2, 2, 2)), "diag"),
    (lambda: tg.triu(_t(3)), "triu"),
    (lambda: tg.linalg.inv(SINGULAR), "singular"),
    (lambda: tg.linalg.inv(_t(2, 3)), "square"),
    (lambda: tg.linalg.det(_t(2, 3)), "[2, 3]"),
    (lambda: tg.linalg.solve(SINGULAR, _t(2)), "singular"),
    (lambda: tg.linalg.solve(tg.eye(2), _t(3)), "Incompatible shapes"),
    (lambda: tg.linalg.matrix_norm(_t(3)), "2 dimensions"),
    (lambda: tg.linalg.norm(_t(2, 2, 2), ord=2), "1D or 2D"),
]


@pytest.mark.parametrize("fn,fragment", ERRORS)
def test_errors(fn, fragment):
    """Shape mismatches and singular matrices raise RuntimeError (PyTorch's category; its
    LinAlgError subclasses RuntimeError) naming the op and the shapes."""
    with pytest.raises(RuntimeError) as info:
        fn()
    assert fragment in str(info.value)


def test_singular_inverse_is_runtime_error_in_torch_too():
    with pytest.raises(RuntimeError):
        torch.linalg.inv(torch.tensor([[1.0, 2.0], [2.0, 4.0]]))
