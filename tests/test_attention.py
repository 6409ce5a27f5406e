"""F.scaled_dot_product_attention against PyTorch 2.13 (float64 values, gradients, second
order and forward mode through tests/parity.py; float32 values to 1e-5): boolean, additive
and causal masks (causal with L != S aligned top-left as PyTorch), fully masked rows (zeros,
finite gradients), grouped-query heads, broadcast batch dims; dropout from tapegrad's
generator; vmap over the batch; strided inputs; errors by type and message."""
import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F
from parity import Row, check_row, parametrize

torch = pytest.importorskip("torch")
TF = torch.nn.functional
from torch.nn.attention import sdpa_kernel, SDPBackend  # noqa: E402


def t_sdpa(**kw):
    """PyTorch's SDPA on its math backend (the CPU flash kernel has no double backward)."""
    def f(q, k, v, *mask):
        with sdpa_kernel(SDPBackend.MATH):
            return TF.scaled_dot_product_attention(q, k, v, *mask, **kw)
    return f


def g_sdpa(**kw):
    return lambda q, k, v, *mask: F.scaled_dot_product_attention(q, k, v, *mask, **kw)


def rn(*shapes, mask=None):
    def make(rng):
        out = [rng.standard_normal(s) for s in shapes]
        return out + ([mask(rng)] if mask is not None else [])
    return make


def dead_row_bool(rng):
    m = rng.random((3, 5)) < 0.7
    m[1] = False           # query 1 sees no key
    m[:, 0] = m[:, 0] | (np.arange(3) != 1)
    return m


def dead_row_float(rng):
    m = rng.standard_normal((3, 5))
    m[2] = -np.inf
    m[0, 1] = -np.inf
    return m


def row(name, shapes, mask=None, **kw):
    return Row(name, g_sdpa(**kw), t_sdpa(**kw), rn(*shapes, mask=mask))


ROWS = [
    row("4d", [(2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 4)]),
    row("3d", [(2, 4, 3), (2, 5, 3), (2, 5, 2)]),
    row("2d", [(4, 3), (5, 3), (5, 2)]),
    row("scale", [(2, 4, 3), (2, 5, 3), (2, 5, 2)], scale=0.37),
    row("scale-negative", [(2, 4, 3), (2, 5, 3), (2, 5, 2)], scale=-1.5),
    row("bool-mask", [(2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 4)],
        mask=lambda rng: np.tril(np.ones((3, 5), bool), 1)),
    row("bool-mask-batched", [(2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 4)],
        mask=lambda rng: (rng.random((2, 1, 3, 5)) < 0.6) | np.eye(3, 5, dtype=bool)),
    row("bool-mask-dead-row", [(2, 3, 4), (2, 5, 4), (2, 5, 3)], mask=dead_row_bool),
    row("float-mask", [(2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 4)],
        mask=lambda rng: rng.standard_normal((3, 5))),
    row("float-mask-batched", [(2, 3, 4), (2, 5, 4), (2, 5, 3)],
        mask=lambda rng: rng.standard_normal((2, 3, 5))),
    row("float-mask-inf-dead-row", [(2, 3, 4), (2, 5, 4), (2, 5, 3)], mask=dead_row_float),
    row("causal-square", [(2, 2, 4, 3), (2, 2, 4, 3), (2, 2, 4, 3)], is_causal=True),
    row("causal-more-keys", [(2, 3, 3), (2, 6, 3), (2, 6, 2)], is_causal=True),
    row("causal-more-queries", [(2, 6, 3), (2, 3, 3), (2, 3, 2)], is_causal=True),
    row("gqa", [(2, 4, 3, 4), (2, 2, 5, 4), (2, 2, 5, 3)], enable_gqa=True),
    row("gqa-value-heads", [(1, 6, 3, 2), (1, 3, 4, 2), (1, 2, 4, 2)], enable_gqa=True),
    row("broadcast-batch", [(2, 2, 3, 4), (1, 5, 4), (2, 1, 5, 3)]),
    row("one-key", [(2, 3, 2), (2, 1, 2), (2, 1, 2)]),
]


@parametrize(ROWS)
def test_parity(row):
    check_row(row)


def test_causal_alignment_is_top_left_tril():
    """is_causal with L != S keeps tril(ones(L, S)) (PyTorch 2.13's alignment), not the
    bottom-right one."""
    rng = np.random.default_rng(0)
    for (L, S) in ((3, 6), (6, 3)):
        q, k, v = (tg.tensor(rng.standard_normal(s)) for s in ((2, L, 4), (2, S, 4), (2, S, 3)))
        got = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=tg.tensor(np.tri(L, S) > 0))
        np.testing.assert_array_equal(got.numpy(), ref.numpy())
        other = F.scaled_dot_product_attention(
            q, k, v, attn_mask=tg.tensor(np.tri(L, S, S - L) > 0))
        assert not np.allclose(got.numpy()[:, :min(L, S)], other.numpy()[:, :min(L, S)])


def test_fully_masked_rows_give_zeros_and_finite_gradients_to_second_order():
    rng = np.random.default_rng(1)
    q, k, v = (tg.tensor(rng.standard_normal(s), requires_grad=True)
               for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3)))
    mask = np.ones((3, 5), bool)
    mask[1] = False
    for m in (tg.tensor(mask), tg.tensor(np.where(mask, 0.0, -np.inf), requires_grad=True)):
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
        np.testing.assert_array_equal(out.numpy()[:, 1], 0.0)
        ins = [q, k, v] + ([m] if m.requires_grad else [])
        gs = tg.grad((out * out).sum(), ins, create_graph=True)
        assert all(np.isfinite(g.numpy()).all() for g in gs)
        np.testing.assert_array_equal(gs[0].numpy()[:, 1], 0.0)
        hs = tg.grad(sum((g * g).sum() for g in gs), ins, allow_unused=True)
        assert all(h is None or np.isfinite(h.numpy()).all() for h in hs)


def test_large_scores_do_not_overflow():
    rng = np.random.default_rng(2)
    arrs = [rng.standard_normal(s) * 300 for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3))]
    for dt in (np.float32, np.float64):
        got = F.scaled_dot_product_attention(*(tg.tensor(a.astype(dt)) for a in arrs))
        ref = TF.scaled_dot_product_attention(*(torch.tensor(a.astype(dt)) for a in arrs))
        assert np.isfinite(got.numpy()).all() and got.dtype == dt
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-4, atol=1e-4)


def test_empty_sizes():
    z = F.scaled_dot_product_attention(tg.ones(2, 3, 4), tg.ones(2, 0, 4), tg.ones(2, 0, 5))
    assert z.shape == (2, 3, 5) and not z.numpy().any()
    e = F.scaled_dot_product_attention(tg.ones(2, 0, 4), tg.ones(2, 3, 4), tg.ones(2, 3, 5))
    assert e.shape == (2, 0, 5)


def test_strided_inputs_equal_contiguous_ones():
    """Heads cut from a (N, L, H * D) tensor by transpose are copied to C order inside;
    values and gradients are those of the contiguous call."""
    rng = np.random.default_rng(3)
    x = tg.tensor(rng.standard_normal((2, 5, 3, 4)), requires_grad=True)
    xt = x.transpose(1, 2)                       # (2, 3, 5, 4), strided
    xc = tg.tensor(np.ascontiguousarray(xt.numpy()), requires_grad=True)
    a = F.scaled_dot_product_attention(xt, xt, xt, is_causal=True)
    b = F.scaled_dot_product_attention(xc, xc, xc, is_causal=True)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    u = tg.tensor(rng.standard_normal(a.shape))
    (ga,), (gb,) = tg.grad(a, [x], u), tg.grad(b, [xc], u)
    np.testing.assert_allclose(ga.transpose(1, 2).numpy(), gb.numpy(), rtol=1e-13, atol=1e-14)


def test_dropout_draws_from_tapegrads_generator():
    rng = np.random.default_rng(4)
    q, k, v = (tg.tensor(rng.standard_normal(s)) for s in ((2, 2, 6, 4), (2, 2, 7, 4),
                                                            (2, 2, 7, 3)))
    tg.manual_seed(5)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)
    tg.manual_seed(5)
    w = F.softmax(q @ k.transpose(-1, -2) / 2.0, -1)
    ref = F.dropout(w, 0.4) @ v
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-13, atol=1e-14)
    assert not np.allclose(out.numpy(), F.scaled_dot_product_attention(q, k, v).numpy())
    zero = F.scaled_dot_product_attention(q, k, v, dropout_p=1.0)
    assert not zero.numpy().any()


def test_dropout_keeps_the_expected_weights():
    """Each weight is kept with probability 1 - p and scaled by 1 / (1 - p)."""
    n = 64
    q = tg.zeros(4, n, 2)
    k = tg.zeros(4, n, 2)
    v = tg.tensor(np.eye(n, dtype=np.float32)[None].repeat(4, 0))   # out = the weights
    tg.manual_seed(0)
    w = F.scaled_dot_product_attention(q, k, v, dropout_p=0.25).numpy()
    kept = w != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(w[kept], 1 / n / 0.75)


def test_vmap_over_the_batch_equals_the_batched_call():
    rng = np.random.default_rng(6)
    q, k, v = (tg.tensor(rng.standard_normal(s)) for s in ((4, 2, 3, 5), (4, 2, 6, 5),
                                                            (4, 2, 6, 3)))
    m = tg.tensor(rng.random((4, 3, 6)) < 0.7)
    fm = tg.tensor(rng.standard_normal((4, 3, 6)))
    out = tg.func.vmap(lambda a, b, c, d: F.scaled_dot_product_attention(a, b, c, attn_mask=d))
    np.testing.assert_array_equal(
        out(q, k, v, m).numpy(),
        F.scaled_dot_product_attention(q, k, v, attn_mask=m.unsqueeze(1)).numpy())
    np.testing.assert_array_equal(
        out(q, k, v, fm).numpy(),
        F.scaled_dot_product_attention(q, k, v, attn_mask=fm.unsqueeze(1)).numpy())
    causal = tg.func.vmap(lambda a: F.scaled_dot_product_attention(a, k[0], v[0],
                                                                   is_causal=True))
    np.testing.assert_array_equal(
        causal(q).numpy(), F.scaled_dot_product_attention(q, k[0], v[0], is_causal=True).numpy())
    per_example = tg.func.vmap(tg.func.grad(
        lambda a, b, c: F.scaled_dot_product_attention(a, b, c).sum()))(q, k, v)
    qq = q.detach().requires_grad_()
    F.scaled_dot_product_attention(qq, k, v).sum().backward()
    np.testing.assert_allclose(per_example.numpy(), qq.grad.numpy(), rtol=1e-13, atol=1e-14)


def test_float32_stays_float32_and_a_float32_mask_joins_float64_inputs():
    rng = np.random.default_rng(7)
    arrs = [rng.standard_normal(s) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3))]
    out = F.scaled_dot_product_attention(*(tg.tensor(a.astype(np.float32)) for a in arrs))
    assert out.dtype == np.float32
    m = rng.standard_normal((3, 5)).astype(np.float32)
    got = F.scaled_dot_product_attention(*(tg.tensor(a) for a in arrs), attn_mask=tg.tensor(m))
    ref = TF.scaled_dot_product_attention(*(torch.tensor(a) for a in arrs),
                                          attn_mask=torch.tensor(m))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-12)


def _qkv(*shapes):
    return [tg.ones(*s) for s in shapes]


ERRORS = [
    (TypeError, "query must be a Tensor", lambda: F.scaled_dot_product_attention(
        np.ones((2, 3)), tg.ones(2, 3), tg.ones(2, 3))),
    (TypeError, "must be a floating-point tensor", lambda: F.scaled_dot_product_attention(
        tg.ones(2, 3, dtype=tg.int64), tg.ones(2, 3), tg.ones(2, 3))),
    (TypeError, "same dtype", lambda: F.scaled_dot_product_attention(
        tg.ones(2, 3, dtype=tg.float64), tg.ones(2, 3), tg.ones(2, 3))),
    (TypeError, "attn_mask must be a bool or floating-point tensor",
     lambda: F.scaled_dot_product_attention(*_qkv((2, 3), (4, 3), (4, 3)),
                                            attn_mask=tg.ones(2, 4, dtype=tg.int64))),
    (tg.ShapeError, "at least 2-dimensional", lambda: F.scaled_dot_product_attention(
        *_qkv((3,), (3,), (3,)))),
    (tg.ShapeError, "same embedding size", lambda: F.scaled_dot_product_attention(
        *_qkv((2, 3, 4), (2, 5, 3), (2, 5, 4)))),
    (tg.ShapeError, "same sequence length", lambda: F.scaled_dot_product_attention(
        *_qkv((2, 3, 4), (2, 5, 4), (2, 6, 4)))),
    (tg.ShapeError, "batch dims of query, key and value do not broadcast",
     lambda: F.scaled_dot_product_attention(*_qkv((2, 3, 4), (3, 5, 4), (3, 5, 4)))),
    (tg.ShapeError, "attn_mask of shape [3, 4] does not broadcast",
     lambda: F.scaled_dot_product_attention(*_qkv((2, 3, 4), (2, 5, 4), (2, 5, 4)),
                                            attn_mask=tg.ones(3, 4, dtype=tg.bool))),
    (tg.ShapeError, "attn_mask of shape [2, 3, 5] does not broadcast",
     lambda: F.scaled_dot_product_attention(*_qkv((3, 4), (5, 4), (5, 4)),
                                            attn_mask=tg.ones(2, 3, 5))),
    (tg.ShapeError, "number of heads in key (3) must divide",
     lambda: F.scaled_dot_product_attention(*_qkv((1, 4, 3, 2), (1, 3, 5, 2), (1, 3, 5, 2)),
                                            enable_gqa=True)),
    (RuntimeError, "should not be set when is_causal=True",
     lambda: F.scaled_dot_product_attention(*_qkv((2, 3, 4), (2, 5, 4), (2, 5, 4)),
                                            attn_mask=tg.ones(3, 5), is_causal=True)),
    (ValueError, "dropout probability has to be between 0 and 1, but got 1.5",
     lambda: F.scaled_dot_product_attention(*_qkv((2, 3, 4), (2, 5, 4), (2, 5, 4)),
                                            dropout_p=1.5)),
]


@pytest.mark.parametrize("err,msg,call", ERRORS, ids=[e[1] for e in ERRORS])
def test_errors_name_the_op_and_the_shapes(err, msg, call):
    with pytest.raises(err, match="scaled_dot_product_attention") as info:
        call()
    assert msg in str(info.value)
