"""nn.MultiheadAttention and the Transformer layers against PyTorch 2.13 with the same
state_dict: outputs, gradients of inputs and parameters and a Hessian-vector product in
float64, outputs in float32 to 1e-5; every projection layout, bias_k/bias_v, zero attention,
boolean/additive/3-d attention masks, key padding masks, is_causal, need_weights and the
returned weights, unbatched and batch_first inputs; dropout (the identity in eval, fresh
draws in training, on the returned weights); forward mode; a second device; tg.compile of
a training step equal to eager bit for bit; errors."""
import warnings

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn as nn
import tapegrad.nn.functional as F

torch = pytest.importorskip("torch")
from torch.nn.attention import sdpa_kernel, SDPBackend  # noqa: E402

E, H = 8, 2


def _copy(tmod, gmod):
    gmod.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in
                          tmod.state_dict().items()})


def _grads(outs, ins, us, lib):
    if lib == "torch":
        return torch.autograd.grad(outs, ins, us, create_graph=True, allow_unused=True)
    return tg.grad(outs, ins, us, create_graph=True, allow_unused=True)


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.numpy()


def _same(a, b, rtol, atol, what):
    a, b = _np(a), _np(b)
    assert a.shape == b.shape, what
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def _outputs(out):
    return [o for o in (out if isinstance(out, tuple) else (out,)) if o is not None]


def check_module(make, inputs, call=lambda m, a: m(*a), seed=0):
    """``make(lib)`` builds the torch (lib=torch.nn) and tapegrad (lib=tg.nn) modules; the
    torch one's state_dict is loaded into the tapegrad one. Float inputs take gradients."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    tmod = make(torch.nn).double()
    gmod = make(nn).to(tg.float64)
    assert list(tmod.state_dict()) == list(gmod.state_dict())
    _copy(tmod, gmod)
    floats = [isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in inputs]
    tin = [torch.tensor(a, requires_grad=f) if isinstance(a, np.ndarray) else a
           for a, f in zip(inputs, floats)]
    gin = [tg.tensor(a, requires_grad=f) if isinstance(a, np.ndarray) else a
           for a, f in zip(inputs, floats)]
    with sdpa_kernel(SDPBackend.MATH):   # (the CPU flash kernel has no double backward)
        tout = _outputs(call(tmod, tin))
    gout = _outputs(call(gmod, gin))
    for i, (a, b) in enumerate(zip(gout, tout)):
        _same(a, b, 1e-10, 1e-12, f"output {i}")
    tx = [t for t, f in zip(tin, floats) if f] + list(tmod.parameters())
    gx = [t for t, f in zip(gin, floats) if f] + list(gmod.parameters())
    us = [rng.standard_normal(tuple(o.shape)) for o in tout]
    tg1 = _grads(tout, tx, [torch.tensor(u) for u in us], "torch")
    gg1 = _grads(gout, gx, [tg.tensor(u) for u in us], "tg")
    live = []
    for i, (a, b) in enumerate(zip(gg1, tg1)):
        if b is None:
            assert a is None or not np.any(_np(a)), f"gradient {i} should be zero"
            continue
        _same(a, b, 1e-9, 1e-11, f"gradient {i}")
        live.append((a, b))
    vs = [rng.standard_normal(tuple(b.shape)) for _, b in live]
    s_t = sum((b * torch.tensor(v)).sum() for (_, b), v in zip(live, vs))
    s_g = sum((a * tg.tensor(v)).sum() for (a, _), v in zip(live, vs))
    h_t = torch.autograd.grad(s_t, tx, allow_unused=True)
    h_g = tg.grad(s_g, gx, allow_unused=True)
    for i, (a, b) in enumerate(zip(h_g, h_t)):
        if b is None:
            assert a is None or not np.any(_np(a)), f"Hessian-vector product {i} should be 0"
        else:
            _same(a, b, 1e-8, 1e-10, f"Hessian-vector product {i}")
    # float32 outputs to 1e-5
    tmod, gmod = tmod.float(), gmod.to(tg.float32)
    cast = [a.astype(np.float32) if f else a for a, f in zip(inputs, floats)]
    with torch.no_grad():
        t32 = _outputs(call(tmod, [torch.tensor(a) if isinstance(a, np.ndarray) else a
                                   for a in cast]))
    g32 = _outputs(call(gmod, [tg.tensor(a) if isinstance(a, np.ndarray) else a
                               for a in cast]))
    for i, (a, b) in enumerate(zip(g32, t32)):
        assert a.dtype == np.float32
        _same(a, b, 1e-5, 1e-5, f"float32 output {i}")


def _x(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


X, Y, Z = _x(5, 3, E), _x(4, 3, E, seed=2), _x(4, 3, E, seed=3)
KPM = np.zeros((3, 5), bool)
KPM[0, 1] = KPM[1, 3:] = True
CAUSAL = np.triu(np.full((5, 5), -np.inf), 1)

MHA_CASES = [
    ("self", {}, [X], lambda m, a: m(a[0], a[0], a[0])),
    ("self-no-bias", {"bias": False}, [X], lambda m, a: m(a[0], a[0], a[0])),
    ("kv-shared", {}, [X, Y], lambda m, a: m(a[0], a[1], a[1])),
    ("cross", {}, [X, Y, Z], lambda m, a: m(*a)),
    ("kdim-vdim", {"kdim": 5, "vdim": 6}, [X, _x(4, 3, 5), _x(4, 3, 6)], lambda m, a: m(*a)),
    ("bias-kv", {"add_bias_kv": True}, [X, KPM, CAUSAL],
     lambda m, a: m(a[0], a[0], a[0], key_padding_mask=a[1], attn_mask=a[2])),
    ("zero-attn", {"add_zero_attn": True}, [X, KPM],
     lambda m, a: m(a[0], a[0], a[0], key_padding_mask=a[1], need_weights=False)),
    ("bias-kv-zero-attn", {"add_bias_kv": True, "add_zero_attn": True}, [X, Y],
     lambda m, a: m(a[0], a[1], a[1], average_attn_weights=False)),
    ("batch-first", {"batch_first": True}, [X, _x(5, 7, E)],
     lambda m, a: m(a[0], a[1], a[1])),
    ("per-head-weights", {}, [X], lambda m, a: m(a[0], a[0], a[0], average_attn_weights=False)),
    ("no-weights", {}, [X], lambda m, a: m(a[0], a[0], a[0], need_weights=False)),
    ("unbatched", {}, [X[:, 0], KPM[1]], lambda m, a: m(a[0], a[0], a[0], key_padding_mask=a[1])),
    ("bool-attn-mask", {}, [X, np.triu(np.ones((5, 5), bool), 1)],
     lambda m, a: m(a[0], a[0], a[0], attn_mask=a[1], need_weights=False)),
    ("float-attn-mask", {}, [X, _x(5, 5)], lambda m, a: m(a[0], a[0], a[0], attn_mask=a[1])),
    ("3d-attn-mask", {}, [X, _x(6, 5, 5)],
     lambda m, a: m(a[0], a[0], a[0], attn_mask=a[1], need_weights=False)),
    ("kpm-and-bool-mask", {}, [X, KPM, np.triu(np.ones((5, 5), bool), 1)],
     lambda m, a: m(a[0], a[0], a[0], key_padding_mask=a[1], attn_mask=a[2])),
    ("float-kpm-and-mask", {}, [X, np.where(KPM, -np.inf, 0.0), _x(5, 5)],
     lambda m, a: m(a[0], a[0], a[0], key_padding_mask=a[1], attn_mask=a[2],
                    need_weights=False)),
    ("is-causal", {}, [X, CAUSAL],
     lambda m, a: m(a[0], a[0], a[0], attn_mask=a[1], is_causal=True, need_weights=False)),
]


@pytest.mark.parametrize("kw,inputs,call", [c[1:] for c in MHA_CASES],
                         ids=[c[0] for c in MHA_CASES])
def test_multihead_attention_matches_torch(kw, inputs, call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch: mismatched mask types are deprecated
        check_module(lambda lib: lib.MultiheadAttention(E, H, **kw), inputs, call)


def test_a_fully_padded_sequence_gives_what_torch_gives():
    """need_weights=False (SDPA): zeros for a query that sees no key; need_weights=True
    (PyTorch's softmax path): NaN, weights included."""
    kpm = KPM.copy()
    kpm[2] = True
    torch.manual_seed(0)
    tm, gm = torch.nn.MultiheadAttention(E, H).double(), nn.MultiheadAttention(E, H)
    _copy(tm, gm.to(tg.float64))
    x = tg.tensor(X, requires_grad=True)
    for nw in (False, True):
        with sdpa_kernel(SDPBackend.MATH):
            t_out, t_w = tm(*(torch.tensor(X),) * 3, key_padding_mask=torch.tensor(kpm),
                            need_weights=nw)
        out, w = gm(x, x, x, key_padding_mask=tg.tensor(kpm), need_weights=nw)
        np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-12,
                                   atol=1e-14)
        if nw:
            assert np.isnan(out.numpy()[:, 2]).all()
            np.testing.assert_allclose(w.numpy(), t_w.detach().numpy(), rtol=1e-12)
        else:
            (g,) = tg.grad(out.sum(), [x])
            assert np.isfinite(g.numpy()).all()


ACTS = [("relu", "relu", "relu"), ("gelu", "gelu", "gelu"),
        ("callable", torch.nn.functional.silu, F.silu)]


def _layer_kw(lib, kw, act):
    return dict(kw, activation=act[1] if lib is torch.nn else act[2])


LAYER_CASES = [("post-norm", {}), ("norm-first", {"norm_first": True}),
               ("no-bias", {"bias": False}), ("eps", {"layer_norm_eps": 1e-3})]


@pytest.mark.parametrize("act", ACTS, ids=[a[0] for a in ACTS])
@pytest.mark.parametrize("kw", [c[1] for c in LAYER_CASES], ids=[c[0] for c in LAYER_CASES])
def test_encoder_layer_matches_torch(kw, act):
    check_module(lambda lib: lib.TransformerEncoderLayer(E, H, 12, dropout=0.0,
                                                         **_layer_kw(lib, kw, act)),
                 [X, CAUSAL, KPM],
                 lambda m, a: m(a[0], src_mask=a[1], src_key_padding_mask=a[2]))


@pytest.mark.parametrize("kw", [c[1] for c in LAYER_CASES], ids=[c[0] for c in LAYER_CASES])
def test_decoder_layer_matches_torch(kw):
    tmask = np.triu(np.ones((4, 4), bool), 1)
    check_module(lambda lib: lib.TransformerDecoderLayer(E, H, 12, dropout=0.0, **kw),
                 [Y, X, tmask, KPM, _x(4, 5)],
                 lambda m, a: m(a[0], a[1], tgt_mask=a[2], memory_key_padding_mask=a[3],
                                memory_mask=a[4]))


def test_layers_batch_first_unbatched_and_causal():
    xb = _x(3, 5, E)
    check_module(lambda lib: lib.TransformerEncoderLayer(E, H, 12, 0.0, batch_first=True),
                 [xb, CAUSAL], lambda m, a: m(a[0], src_mask=a[1], is_causal=True))
    check_module(lambda lib: lib.TransformerEncoderLayer(E, H, 12, 0.0), [X[:, 1]])
    check_module(lambda lib: lib.TransformerDecoderLayer(E, H, 12, 0.0, batch_first=True),
                 [_x(3, 4, E), xb, np.triu(np.full((4, 4), -np.inf), 1)],
                 lambda m, a: m(a[0], a[1], tgt_mask=a[2], tgt_is_causal=True))


def test_stacks_and_the_transformer_match_torch():
    check_module(lambda lib: lib.TransformerEncoder(
        lib.TransformerEncoderLayer(E, H, 12, 0.0), 2, lib.LayerNorm(E),
        enable_nested_tensor=False), [X, KPM],
        lambda m, a: m(a[0], src_key_padding_mask=a[1]))
    check_module(lambda lib: lib.TransformerDecoder(
        lib.TransformerDecoderLayer(E, H, 12, 0.0, norm_first=True), 2), [Y, X],
        lambda m, a: m(a[0], a[1]))
    # tgt_is_causal=False: PyTorch would otherwise find the mask causal by its values and
    # drop it (no gradient for it); here it is always applied, so it gets its gradient
    tmask = np.triu(np.full((4, 4), -np.inf), 1)
    check_module(lambda lib: lib.Transformer(E, H, 2, 1, 12, 0.0), [X, Y, tmask, KPM],
                 lambda m, a: m(a[0], a[1], tgt_mask=a[2], src_key_padding_mask=a[3],
                                memory_key_padding_mask=a[3], tgt_is_causal=False))
    check_module(lambda lib: lib.Transformer(E, H, 1, 1, 12, 0.0, batch_first=True),
                 [_x(3, 5, E), _x(3, 4, E), np.triu(np.ones((4, 4), bool), 1)],
                 lambda m, a: m(a[0], a[1], tgt_mask=a[2]))


def test_dropout_is_the_identity_in_eval_and_draws_in_training():
    torch.manual_seed(0)
    tm = torch.nn.TransformerEncoderLayer(E, H, 12, dropout=0.5).double()
    gm = nn.TransformerEncoderLayer(E, H, 12, dropout=0.5).to(tg.float64)
    _copy(tm, gm)
    tm.eval()
    gm.eval()
    x = tg.tensor(X)
    with sdpa_kernel(SDPBackend.MATH):
        ref = tm(torch.tensor(X, requires_grad=True))   # (grad on: PyTorch's slow path)
    np.testing.assert_allclose(gm(x).numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-13)
    gm.train()
    a, b = gm(x).numpy(), gm(x).numpy()
    assert not np.allclose(a, b)
    tg.manual_seed(3)
    a = gm(x).numpy()
    tg.manual_seed(3)
    np.testing.assert_array_equal(a, gm(x).numpy())


def test_attention_dropout_applies_to_the_returned_weights():
    m = nn.MultiheadAttention(E, H, dropout=0.5)
    x = tg.tensor(_x(6, 2, E).astype(np.float32))
    _, w = m(x, x, x, average_attn_weights=False)
    kept = w.numpy() != 0
    assert 0.3 < kept.mean() < 0.7
    m.eval()
    _, w = m(x, x, x, average_attn_weights=False)
    np.testing.assert_allclose(w.numpy().sum(-1), 1.0, rtol=1e-6)


def test_compiled_training_step_equals_eager_bit_for_bit():
    def make():
        tg.manual_seed(0)
        return nn.Transformer(16, 4, 1, 1, 32, dropout=0.1)
    m1, m2 = make(), make()
    o1 = tg.optim.Adam(m1.parameters(), lr=1e-3)
    o2 = tg.optim.Adam(m2.parameters(), lr=1e-3)
    tmask = nn.Transformer.generate_square_subsequent_mask(5)

    def step(m, o, src, tgt, y, kpm):
        o.zero_grad()
        out = m(src, tgt, tgt_mask=tmask, src_key_padding_mask=kpm, tgt_is_causal=True)
        loss = F.mse_loss(out, y)
        loss.backward()
        o.step()
        return loss
    compiled = tg.compile(lambda *a: step(m1, o1, *a))
    rng = np.random.default_rng(0)
    for k in range(4):
        src = tg.tensor(rng.standard_normal((6, 3, 16)).astype(np.float32))
        tgt = tg.tensor(rng.standard_normal((5, 3, 16)).astype(np.float32))
        y = tg.tensor(rng.standard_normal((5, 3, 16)).astype(np.float32))
        kpm = tg.tensor(rng.random((3, 6)) < 0.3)
        tg.manual_seed(10 + k)
        a = compiled(src, tgt, y, kpm)
        tg.manual_seed(10 + k)
        b = step(m2, o2, src, tgt, y, kpm)
        assert np.array_equal(a.numpy(), b.numpy())
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p.numpy(), q.numpy())
    assert compiled.cache[next(iter(compiled.cache))].run is not None   # it replayed


def test_parameters_init_and_layout():
    m = nn.MultiheadAttention(16, 4, add_bias_kv=True)
    assert list(m.state_dict()) == ["in_proj_weight", "in_proj_bias", "bias_k", "bias_v",
                                    "out_proj.weight", "out_proj.bias"]
    assert m.in_proj_weight.shape == (48, 16) and m.bias_k.shape == (1, 1, 16)
    assert not m.in_proj_bias.numpy().any() and not m.out_proj.bias.numpy().any()
    bound = np.sqrt(6 / (16 + 48))                  # xavier_uniform_ of (3E, E)
    w = m.in_proj_weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    sep = nn.MultiheadAttention(16, 4, kdim=3, vdim=5, bias=False)
    assert list(sep.state_dict()) == ["q_proj_weight", "k_proj_weight", "v_proj_weight",
                                      "out_proj.weight"]
    assert sep.in_proj_weight is None and sep.in_proj_bias is None and sep.bias_k is None
    t = nn.Transformer(16, 4, 2, 2, 32, dtype=tg.float64)
    torch_keys = list(torch.nn.Transformer(16, 4, 2, 2, 32).state_dict())
    assert list(t.state_dict()) == torch_keys
    assert all(p.dtype == np.float64 for p in t.parameters())
    enc = t.encoder.layers
    assert enc[0].linear1.weight is not enc[1].linear1.weight   # deep copies


def test_reprs_are_torchs():
    for make in (lambda lib: lib.TransformerEncoderLayer(E, H, 12),
                 lambda lib: lib.TransformerDecoderLayer(E, H, 12, norm_first=True)):
        assert repr(make(nn)) == repr(make(torch.nn))   # out_proj: NonDynamicallyQuantizableLinear


def test_generate_square_subsequent_mask_is_torchs():
    m = nn.Transformer.generate_square_subsequent_mask(4)
    ref = torch.nn.Transformer.generate_square_subsequent_mask(4)
    assert m.dtype == np.float32
    np.testing.assert_array_equal(m.numpy(), ref.numpy())
    assert nn.Transformer.generate_square_subsequent_mask(2, dtype=tg.float64).dtype == \
        np.float64


def _mha(**kw):
    return nn.MultiheadAttention(E, H, **kw)


def _ones(*s, dtype=None):
    return tg.ones(*s, dtype=dtype)


ERRORS = [
    (ValueError, "must be divisible by num_heads", lambda: nn.MultiheadAttention(10, 3)),
    (ValueError, "must be greater than 0", lambda: nn.MultiheadAttention(0, 1)),
    (RuntimeError, "need attn_mask if specifying the is_causal hint",
     lambda: _mha()(_ones(5, 3, E), _ones(5, 3, E), _ones(5, 3, E), is_causal=True)),
    (tg.ShapeError, "query should be unbatched 2-D or batched 3-D",
     lambda: _mha()(_ones(E), _ones(E), _ones(E))),
    (tg.ShapeError, "expected key and value to be 3-D",
     lambda: _mha()(_ones(5, 3, E), _ones(5, E), _ones(5, E))),
    (tg.ShapeError, "the shape of the 2-D attn_mask is [5, 4], but should be [5, 5]",
     lambda: _mha()(_ones(5, 3, E), _ones(5, 3, E), _ones(5, 3, E),
                    attn_mask=_ones(5, 4))),
    (tg.ShapeError, "the shape of the 3-D attn_mask is [2, 5, 5], but should be [6, 5, 5]",
     lambda: _mha()(_ones(5, 3, E), _ones(5, 3, E), _ones(5, 3, E),
                    attn_mask=_ones(2, 5, 5))),
    (tg.ShapeError, "expected key_padding_mask of shape [3, 5], got [3, 4]",
     lambda: _mha()(_ones(5, 3, E), _ones(5, 3, E), _ones(5, 3, E),
                    key_padding_mask=_ones(3, 4, dtype=tg.bool))),
    (tg.ShapeError, "expected query's embedding size 8",
     lambda: _mha()(_ones(5, 3, 4), _ones(5, 3, 4), _ones(5, 3, 4))),
    (tg.ShapeError, "do not fit query",
     lambda: _mha()(_ones(5, 3, E), _ones(5, 2, E), _ones(5, 2, E))),
    (TypeError, "only bool and floating types of key_padding_mask",
     lambda: _mha()(_ones(5, 3, E), _ones(5, 3, E), _ones(5, 3, E),
                    key_padding_mask=_ones(3, 5, dtype=tg.int64))),
    (TypeError, "query must be a Tensor", lambda: _mha()(np.ones((5, 3, E)), None, None)),
]


@pytest.mark.parametrize("err,msg,call", ERRORS, ids=[e[1] for e in ERRORS])
def test_multihead_attention_errors(err, msg, call):
    with pytest.raises(err, match="MultiheadAttention") as info:
        call()
    assert msg in str(info.value)


def test_transformer_errors():
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(E, H, activation="tanh")
    t = nn.Transformer(E, H, 1, 1, 12)
    with pytest.raises(tg.ShapeError, match="batch number of src and tgt must be equal"):
        t(_ones(5, 3, E), _ones(4, 2, E))
    with pytest.raises(tg.ShapeError, match="feature number of src and tgt must be equal to"):
        t(_ones(5, 3, E), _ones(4, 3, 6))


def test_on_a_second_device_equals_the_cpu():
    """The layers on the (fake or real) CUDA device: the CPU's values and gradients, with
    parameters, outputs and gradients kept on the device."""
    from helpers import cuda_for_tests
    rng = np.random.default_rng(0)
    src, tgt = (rng.standard_normal(s).astype(np.float32) for s in ((5, 3, E), (4, 3, E)))
    kpm = rng.random((3, 5)) < 0.3
    with cuda_for_tests():
        tg.manual_seed(0)
        cpu = nn.Transformer(E, H, 1, 1, 12, dropout=0.1)
        dev = nn.Transformer(E, H, 1, 1, 12, dropout=0.1, device="cuda")
        dev.load_state_dict(cpu.state_dict())
        outs = []
        for m, d in ((cpu, "cpu"), (dev, "cuda")):
            m.eval()
            mask = nn.Transformer.generate_square_subsequent_mask(4, device=d)
            out = m(tg.tensor(src).to(d), tg.tensor(tgt).to(d), tgt_mask=mask,
                    src_key_padding_mask=tg.tensor(kpm).to(d))
            out.sum().backward()
            outs.append(out)
        assert outs[1].device.type == "cuda"
        np.testing.assert_allclose(outs[1].cpu().numpy(), outs[0].numpy(), rtol=1e-5,
                                   atol=1e-6)
        for p, q in zip(dev.parameters(), cpu.parameters()):
            assert p.grad.device.type == "cuda"
            np.testing.assert_allclose(p.grad.cpu().numpy(), q.grad.numpy(), rtol=1e-4,
                                       atol=1e-5)


def test_forward_mode_through_a_layer_matches_finite_differences():
    tg.manual_seed(0)
    m = nn.TransformerDecoderLayer(E, H, 12, dropout=0.0, norm_first=True).to(tg.float64)
    rng = np.random.default_rng(0)
    x, mem, t = (tg.tensor(rng.standard_normal(s)) for s in ((4, 3, E), (5, 3, E), (4, 3, E)))
    mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=tg.float64)

    def f(x):
        return m(x, mem, tgt_mask=mask, memory_key_padding_mask=tg.tensor(KPM))
    _, tangent = tg.func.jvp(f, (x,), (t,))
    eps = 1e-6
    fd = (f(x + eps * t).numpy() - f(x - eps * t).numpy()) / (2 * eps)
    np.testing.assert_allclose(tangent.numpy(), fd, rtol=1e-6, atol=1e-8)
