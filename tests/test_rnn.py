"""Recurrent layers (issue 16) against PyTorch 2.13 with the same state_dict: RNN (tanh,
relu), LSTM (with and without proj_size), GRU; one and two layers, bidirectional,
batch_first, initial states, unbatched inputs, packed batches (enforce_sorted False) against
padded ones; outputs, h_n, c_n, gradients of the input, the states and every parameter in
float64, a Hessian-vector product, forward mode, float32 to 1e-5; parameter names, init and
reprs. (The cells, the rnn_scan op, devices, tg.compile and errors: test_rnn_scan.py.)"""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn.utils.rnn import (pack_padded_sequence, pad_packed_sequence, pack_sequence,
                                   PackedSequence)

torch = pytest.importorskip("torch")
tnn = torch.nn
TR = torch.nn.utils.rnn

T, B, I, H = 5, 3, 4, 5


def pair(name, *args, dtype="float64", **kwargs):
    """A torch layer and a tapegrad layer holding the same weights."""
    torch.manual_seed(0)
    tm = getattr(tnn, name)(*args, **kwargs).to(getattr(torch, dtype))
    m = getattr(nn, name)(*args, dtype=dtype, **kwargs)
    m.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return tm, m


def both(a, requires_grad=True):
    return (tg.tensor(a, requires_grad=requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


def close(a, b, rtol=1e-9, atol=1e-11, what=""):
    a = a.detach().numpy() if hasattr(a, "detach") else a
    np.testing.assert_allclose(np.asarray(a), b.detach().numpy(), rtol=rtol, atol=atol,
                               err_msg=what)


def flat_out(out):
    """(output tensor, [state tensors]) of a layer's result."""
    o, h = out
    if isinstance(o, (PackedSequence, TR.PackedSequence)):
        o = o.data
    return o, list(h) if isinstance(h, tuple) else [h]


def loss_of(out, lib):
    """A loss that reads the output and every state nonlinearly (so each gradient path
    counts, the final states' included)."""
    o, hs = flat_out(out)
    total = (o ** 2).sum()
    for k, h in enumerate(hs):
        total = total + ((h + 0.5 * k) ** 3).sum()
    return total


LAYERS = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}),
          ("LSTM", {"proj_size": 3}), ("GRU", {})]
CONFIGS = [dict(num_layers=1), dict(num_layers=2, bidirectional=True),
           dict(num_layers=2, batch_first=True), dict(num_layers=1, bidirectional=True,
                                                      batch_first=True, bias=False)]


def _states(name, kw, rng):
    d = 2 if kw.get("bidirectional") else 1
    n = kw.get("num_layers", 1) * d
    p = kw.get("proj_size") or H
    if name == "LSTM":
        return [rng.standard_normal((n, B, p)), rng.standard_normal((n, B, H))]
    return [rng.standard_normal((n, B, H))]


def _hx(name, states):
    return tuple(states) if name == "LSTM" else states[0]


@pytest.mark.parametrize("name,extra", LAYERS, ids=lambda v: str(v))
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("with_state", [False, True], ids=["zeros", "hx"])
def test_layer_matches_torch(name, extra, cfg, with_state):
    kw = dict(extra, **cfg)
    tm, m = pair(name, I, H, **kw)
    rng = np.random.default_rng(1)
    shape = (B, T, I) if kw.get("batch_first") else (T, B, I)
    x, tx = both(rng.standard_normal(shape))
    states = [both(s) for s in _states(name, kw, rng)] if with_state else []
    args = (_hx(name, [s[0] for s in states]),) if states else ()
    targs = (_hx(name, [s[1] for s in states]),) if states else ()
    out, tout = m(x, *args), tm(tx, *targs)
    (o, hs), (to, ths) = flat_out(out), flat_out(tout)
    close(o, to, what="output")
    for h, th in zip(hs, ths):
        close(h, th, what="state")
    loss_of(out, tg).backward()
    loss_of(tout, torch).backward()
    close(x.grad, tx.grad, what="input gradient")
    for (s, ts) in states:
        close(s.grad, ts.grad, what="initial state gradient")
    for (k, p), tp in zip(m.named_parameters(), tm.parameters()):
        close(p.grad, tp.grad, what=k)


@pytest.mark.parametrize("name,extra", LAYERS, ids=lambda v: str(v))
def test_unbatched_input(name, extra):
    tm, m = pair(name, I, H, num_layers=2, bidirectional=True, **extra)
    rng = np.random.default_rng(2)
    x, tx = both(rng.standard_normal((T, I)))
    states = [both(s[:, 0]) for s in _states(name, dict(extra, num_layers=2,
                                                        bidirectional=True), rng)]
    out = m(x, _hx(name, [s[0] for s in states]))
    tout = tm(tx, _hx(name, [s[1] for s in states]))
    (o, hs), (to, ths) = flat_out(out), flat_out(tout)
    assert o.shape == tuple(to.shape)
    close(o, to)
    for h, th in zip(hs, ths):
        assert h.shape == tuple(th.shape)
        close(h, th)
    loss_of(out, tg).backward()
    loss_of(tout, torch).backward()
    close(x.grad, tx.grad)
    for s, ts in states:
        close(s.grad, ts.grad)


LENGTHS = [3, 5, 1, 4]   # unsorted, so enforce_sorted=False sorts and keeps the permutation


@pytest.mark.parametrize("name,extra", LAYERS, ids=lambda v: str(v))
@pytest.mark.parametrize("cfg", [dict(num_layers=2, bidirectional=True),
                                 dict(num_layers=1, batch_first=True)],
                         ids=["2-layers-bidir", "batch-first"])
def test_packed_matches_torch(name, extra, cfg):
    """Packed batches of different lengths: the packed output, each sequence's final state
    at its own last step, the gradients of the padded input, the states and the weights."""
    kw = dict(extra, **cfg)
    tm, m = pair(name, I, H, **kw)
    rng = np.random.default_rng(3)
    bf = kw.get("batch_first", False)
    n = len(LENGTHS)
    x, tx = both(rng.standard_normal((n, T, I) if bf else (T, n, I)))
    sts = [both(s) for s in _states(name, kw, rng)]
    sts = [both(np.concatenate([s[0].detach().numpy(), s[0].detach().numpy()[:, :1]], 1))
           for s in sts]   # batch of 4
    pk = pack_padded_sequence(x, LENGTHS, batch_first=bf, enforce_sorted=False)
    tpk = TR.pack_padded_sequence(tx, LENGTHS, batch_first=bf, enforce_sorted=False)
    assert pk.sorted_indices.tolist() == tpk.sorted_indices.tolist()
    out = m(pk, _hx(name, [s[0] for s in sts]))
    tout = tm(tpk, _hx(name, [s[1] for s in sts]))
    assert isinstance(out[0], PackedSequence)
    assert out[0].batch_sizes.tolist() == tout[0].batch_sizes.tolist()
    (o, hs), (to, ths) = flat_out(out), flat_out(tout)
    close(o, to)
    for h, th in zip(hs, ths):
        close(h, th)
    padded, lengths = pad_packed_sequence(out[0], batch_first=bf, total_length=T)
    tpadded, tlengths = TR.pad_packed_sequence(tout[0], batch_first=bf, total_length=T)
    close(padded, tpadded)
    assert lengths.tolist() == tlengths.tolist() == LENGTHS
    loss_of((padded, out[1]), tg).backward()
    loss_of((tpadded, tout[1]), torch).backward()
    close(x.grad, tx.grad)
    for s, ts in sts:
        close(s.grad, ts.grad)
    for p, tp in zip(m.parameters(), tm.parameters()):
        close(p.grad, tp.grad)


@pytest.mark.parametrize("name,extra", [("LSTM", {}), ("GRU", {})], ids=["LSTM", "GRU"])
def test_packed_equals_each_sequence_alone(name, extra):
    """A packed batch gives each sequence what running it alone gives (both directions)."""
    _, m = pair(name, I, H, num_layers=2, bidirectional=True, **extra)
    rng = np.random.default_rng(4)
    seqs = [tg.tensor(rng.standard_normal((n, I))) for n in LENGTHS]
    out, h = m(pack_sequence(seqs, enforce_sorted=False))
    padded, _ = pad_packed_sequence(out, batch_first=True)
    for b, s in enumerate(seqs):
        alone, h1 = m(s.unsqueeze(1))
        np.testing.assert_allclose(padded[b, :s.shape[0]].numpy(), alone[:, 0].numpy(),
                                   rtol=1e-12, atol=1e-13)
        for a, a1 in zip(h if isinstance(h, tuple) else (h,),
                         h1 if isinstance(h1, tuple) else (h1,)):
            np.testing.assert_allclose(a[:, b].numpy(), a1[:, 0].numpy(), rtol=1e-12,
                                       atol=1e-13)


def test_dropout_is_identity_in_eval_and_acts_between_layers_in_training():
    tm, m = pair("LSTM", I, H, num_layers=2, dropout=0.5)
    tm.eval()
    m.eval()
    x, tx = both(np.random.default_rng(5).standard_normal((T, B, I)), False)
    close(m(x)[0], tm(tx)[0])
    m.train()
    tg.manual_seed(0)
    a = m(x)[0]
    b = m(x)[0]
    assert not np.allclose(a.numpy(), b.numpy())   # fresh masks each call
    m.dropout = 1.0   # the second layer sees zeros: its output is the zero-input response
    _, one = pair("LSTM", H, H)
    for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(one, k + "_l0").data = getattr(m, k + "_l1").data
    np.testing.assert_allclose(m(x)[0].numpy(), one(tg.zeros((T, B, H), dtype="float64"))[0]
                               .numpy(), rtol=1e-12)


def test_dropout_warning_and_range():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.GRU(2, 3, dropout=0.2)
    with pytest.raises(ValueError, match=r"dropout should be a number in range \[0, 1\]"):
        nn.LSTM(2, 3, num_layers=2, dropout=1.5)


@pytest.mark.parametrize("name,extra", LAYERS, ids=lambda v: str(v))
def test_float32_outputs(name, extra):
    tm, m = pair(name, I, H, num_layers=2, bidirectional=True, dtype="float32", **extra)
    x, tx = both(np.random.default_rng(6).standard_normal((T, B, I)).astype(np.float32), False)
    (o, hs), (to, ths) = flat_out(m(x)), flat_out(tm(tx))
    assert o.dtype == np.float32
    close(o, to, rtol=1e-5, atol=1e-6)
    for h, th in zip(hs, ths):
        close(h, th, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,extra", [("LSTM", {}), ("LSTM", {"proj_size": 2}), ("GRU", {}),
                                        ("RNN", {})], ids=lambda v: str(v))
def test_hessian_vector_product(name, extra):
    """Second order: the gradient of <grad, v> over the input and every parameter."""
    tm, m = pair(name, 3, 4, num_layers=2, bidirectional=True, **extra)
    rng = np.random.default_rng(7)
    x, tx = both(rng.standard_normal((4, 2, 3)))
    ps, tps = [x] + list(m.parameters()), [tx] + list(tm.parameters())
    vs = [rng.standard_normal(p.shape) for p in ps]
    g = tg.grad(loss_of(m(x), tg), ps, create_graph=True)
    hv = tg.grad(sum((gi * tg.tensor(v)).sum() for gi, v in zip(g, vs)), ps)
    tgr = torch.autograd.grad(loss_of(tm(tx), torch), tps, create_graph=True)
    thv = torch.autograd.grad(sum((gi * torch.tensor(v)).sum() for gi, v in zip(tgr, vs)), tps)
    for a, b in zip(g, tgr):
        close(a, b)
    for a, b in zip(hv, thv):
        close(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name,extra", [("LSTM", {}), ("GRU", {})], ids=["LSTM", "GRU"])
def test_forward_mode_matches_torch(name, extra):
    import torch.func
    tm, m = pair(name, 3, 4, num_layers=2, bidirectional=True, **extra)
    rng = np.random.default_rng(8)
    x, t = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 2, 3))
    _, jt = tg.func.jvp(lambda a: m(a)[0], (tg.tensor(x),), (tg.tensor(t),))
    with torch.no_grad():
        _, tjt = torch.func.jvp(lambda a: tm(a)[0], (torch.tensor(x),), (torch.tensor(t),))
    close(jt, tjt)


# -- modules: parameters, state_dict, init, repr ---------------------------------------------
@pytest.mark.parametrize("name,kw", [("LSTM", dict(num_layers=2, bidirectional=True,
                                                   proj_size=2)),
                                     ("GRU", dict(num_layers=3, bias=False)),
                                     ("RNN", dict(nonlinearity="relu", batch_first=True,
                                                  dropout=0.1, num_layers=2)),
                                     ("LSTMCell", {}), ("GRUCell", dict(bias=False)),
                                     ("RNNCell", dict(nonlinearity="relu"))])
def test_parameters_names_init_and_repr_match_torch(name, kw):
    tm = getattr(tnn, name)(3, 4, **kw)
    m = getattr(nn, name)(3, 4, **kw)
    tsd, sd = tm.state_dict(), m.state_dict()
    assert list(sd) == list(tsd)
    assert [tuple(v.shape) for v in sd.values()] == [tuple(v.shape) for v in tsd.values()]
    assert all(v.dtype == np.float32 for v in sd.values())
    values = np.concatenate([v.numpy().ravel() for v in sd.values()])
    bound = 1 / np.sqrt(4)   # every parameter from U(-1/sqrt(hidden), 1/sqrt(hidden))
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound
    assert abs(values.mean()) < 0.1
    assert repr(m) == repr(tm)
    m.load_state_dict({k: tg.tensor(v.numpy()) for k, v in tsd.items()})   # strict
    if hasattr(m, "flatten_parameters"):
        assert m.flatten_parameters() is None
        assert [[tuple(p.shape) for p in w] for w in m.all_weights] == \
            [[tuple(p.shape) for p in w] for w in tm.all_weights]


def test_positional_nonlinearity_and_device_dtype():
    m = nn.RNN(3, 4, 2, "relu", dtype="float64")
    assert m.nonlinearity == "relu" and m.num_layers == 2
    assert m.weight_ih_l1.dtype == np.float64
