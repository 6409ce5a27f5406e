"""PyTorch parity for the reductions (one row per op and notable variant: values in float64
and float32, first- and second-order gradients), plus error categories for bad input."""
import numpy as np
import pytest
import torch

import tapegrad as tg
from parity import Row, check_row, parametrize, const, uniform as r, arange as _t

INF = float("inf")


def with_zeros(shape, idx):
    """Random values away from 0 with exact zeros at the flat positions ``idx``."""
    def make(rng):
        x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
        x.reshape(-1)[list(idx)] = 0.0
        return [x]
    return make


ROWS = [
    # prod: plain, dims, and zeros (gradients of prod with zeros are the hard case)
    Row("prod", tg.prod, torch.prod, r(2, 3)),
    Row("prod-dim", lambda a: a.prod(1), lambda a: a.prod(1), r(2, 3)),
    Row("prod-dim-keepdim", lambda a: a.prod(dim=0, keepdim=True),
        lambda a: a.prod(dim=0, keepdim=True), r(3, 2)),
    Row("prod-axis-alias", lambda a: tg.prod(a, axis=-1), lambda a: torch.prod(a, -1), r(2, 3)),
    Row("prod-one-zero", tg.prod, torch.prod, with_zeros((2, 3), [4])),
    Row("prod-two-zeros", tg.prod, torch.prod, with_zeros((2, 3), [1, 4])),
    Row("prod-three-zeros", tg.prod, torch.prod, with_zeros((5,), [0, 2, 3])),
    Row("prod-dim-zeros", lambda a: a.prod(1), lambda a: a.prod(1),
        const([[0.0, 1.5, -2.0], [0.0, 0.0, 1.2], [0.7, 1.1, 0.9]])),
    Row("prod-0d", tg.prod, torch.prod, r()),
    Row("prod-empty", lambda a: a.prod(0), lambda a: a.prod(0),
        lambda rng: [np.zeros((0, 3))]),
    # cumulative
    Row("cumsum", lambda a: a.cumsum(1), lambda a: a.cumsum(1), r(2, 3)),
    Row("cumsum-dim0", lambda a: tg.cumsum(a, dim=0), lambda a: torch.cumsum(a, dim=0), r(3, 2)),
    Row("cumprod", lambda a: a.cumprod(1), lambda a: a.cumprod(1), r(2, 4)),
    Row("cumprod-one-zero", lambda a: a.cumprod(0), lambda a: a.cumprod(0),
        with_zeros((5,), [2])),
    Row("cumprod-zeros", lambda a: a.cumprod(1), lambda a: a.cumprod(1),
        const([[0.0, 1.5, 0.0, -1.2], [0.8, 0.0, 1.1, 0.0], [1.3, 0.9, 0.0, 0.7]])),
    # statistics
    Row("var", tg.var, torch.var, r(2, 3)),
    Row("var-dim", lambda a: a.var(1), lambda a: a.var(1), r(2, 3)),
    Row("var-unbiased-false", lambda a: a.var(0, unbiased=False, keepdim=True),
        lambda a: a.var(0, unbiased=False, keepdim=True), r(3, 2)),
    Row("var-correction", lambda a: tg.var(a, dim=(0, 2), correction=2),
        lambda a: torch.var(a, dim=(0, 2), correction=2), r(2, 2, 3)),
    Row("std", tg.std, torch.std, r(2, 3)),
    Row("std-dim-keepdim", lambda a: a.std(dim=1, keepdim=True),
        lambda a: a.std(dim=1, keepdim=True), r(2, 3)),
    Row("std-correction0", lambda a: a.std(correction=0), lambda a: a.std(correction=0), r(4)),
    Row("var_mean", lambda a: tg.var_mean(a, 1), lambda a: torch.var_mean(a, 1), r(2, 3)),
    Row("std_mean", lambda a: tg.std_mean(a, 0), lambda a: torch.std_mean(a, 0), r(3, 2)),
    Row("logsumexp", lambda a: a.logsumexp(1), lambda a: a.logsumexp(1), r(2, 3)),
    Row("logsumexp-dims-keepdim", lambda a: tg.logsumexp(a, (0, 2), keepdim=True),
        lambda a: torch.logsumexp(a, (0, 2), keepdim=True), r(2, 2, 3)),
    Row("logsumexp-large", lambda a: a.logsumexp(0), lambda a: a.logsumexp(0),
        r(4, low=-1000.0, high=1000.0)),
    # max-type reductions away from ties (ties: tests/test_reductions.py)
    Row("amax-dims", lambda a: a.amax(dim=(0, 2)), lambda a: a.amax(dim=(0, 2)), r(2, 3, 2)),
    Row("amin-keepdim", lambda a: a.amin(1, keepdim=True), lambda a: a.amin(1, keepdim=True),
        r(2, 3)),
    Row("min-dim", lambda a: a.min(dim=0), lambda a: tuple(a.min(dim=0)), r(3, 2)),
    # norms
    Row("norm", tg.norm, torch.norm, r(2, 3)),
    Row("norm-fro-dims", lambda a: a.norm("fro", dim=(1, 2)),
        lambda a: a.norm("fro", dim=(1, 2)), r(2, 2, 3)),
    Row("norm-p1-dim", lambda a: a.norm(1, dim=1), lambda a: a.norm(1, dim=1), r(2, 3)),
    Row("norm-p3-keepdim", lambda a: a.norm(3, dim=0, keepdim=True),
        lambda a: a.norm(3, dim=0, keepdim=True), r(3, 2)),
    Row("vector_norm", tg.linalg.vector_norm, torch.linalg.vector_norm, r(2, 3)),
    Row("vector_norm-dim", lambda a: tg.linalg.vector_norm(a, dim=-1),
        lambda a: torch.linalg.vector_norm(a, dim=-1), r(2, 3)),
    Row("vector_norm-inf", lambda a: tg.linalg.vector_norm(a, INF, 1),
        lambda a: torch.linalg.vector_norm(a, INF, 1), r(2, 3)),
    Row("vector_norm-neginf", lambda a: tg.linalg.vector_norm(a, -INF),
        lambda a: torch.linalg.vector_norm(a, -INF), r(2, 3)),
    Row("vector_norm-half", lambda a: tg.linalg.vector_norm(a, 0.5),
        lambda a: torch.linalg.vector_norm(a, 0.5), r(4, low=0.5, high=2.0)),
    Row("vector_norm-neg2", lambda a: tg.linalg.vector_norm(a, -2, 0),
        lambda a: torch.linalg.vector_norm(a, -2, 0), r(3, 2, low=0.5, high=2.0)),
    Row("vector_norm-ord0", lambda a: tg.linalg.vector_norm(a, 0),
        lambda a: torch.linalg.vector_norm(a, 0), const([1.0, 0.0, -2.0])),
    Row("vector_norm-zero-row", lambda a: tg.linalg.vector_norm(a, dim=1),
        lambda a: torch.linalg.vector_norm(a, dim=1), const([[0.0, 0.0], [0.6, -0.8]]),
        grad2=False),  # first order matches (0 at the zero row); 2nd order: test_reductions
    # logical (no gradient)
    Row("all", lambda a: (a > 0).all(1), lambda a: (a > 0).all(1), r(3, 4), grad=False),
    Row("any", lambda a: tg.any(a > 1, dim=0, keepdim=True),
        lambda a: torch.any(a > 1, dim=0, keepdim=True), r(3, 4), grad=False),
    Row("all-full", lambda a: tg.all(a), lambda a: torch.all(a), r(3), grad=False),
    Row("count_nonzero", lambda a: tg.count_nonzero(a, dim=1),
        lambda a: torch.count_nonzero(a, dim=1), const([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0]]),
        grad=False),
]


@parametrize(ROWS)
def test_parity(row):
    check_row(row)


ERRORS = [
    (lambda: _t(2, 3).sum(dim=2), IndexError, "out of range"),
    (lambda: _t(2, 3).prod(dim=-3), IndexError, "out of range"),
    (lambda: _t(0, 3).amax(dim=0), IndexError, "non-zero size"),
    (lambda: _t(0, 3).max(), RuntimeError, "numel() == 0"),
    (lambda: _t(0, 3).argmax(dim=0), IndexError, "non-zero size"),
    (lambda: tg.tensor([1, 2]).var(), RuntimeError, "floating point"),
    (lambda: tg.linalg.vector_norm(tg.tensor([1, 2])), RuntimeError, "floating point"),
    (lambda: _t(3).cumsum(), TypeError, "dim"),
    (lambda: _t(2, 3).norm(p="bad"), ValueError, "norm: p='bad' is not a norm"),
]


@pytest.mark.parametrize("fn,err,fragment", ERRORS)
def test_errors(fn, err, fragment):
    with pytest.raises(err, match=None) as info:
        fn()
    assert fragment in str(info.value)
