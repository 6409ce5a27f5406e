"""The rnn_scan op's own derivatives (gradcheck to second order and forward mode, every
mode, packed, reverse, projection), the cells against PyTorch 2.13 (RNNCell, LSTMCell,
GRUCell, tg.lstm_cell to second order), the recurrent layers on a second device and under
tg.compile, and the errors (type and message)."""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.autograd import gradcheck, gradgradcheck
from tapegrad.nn.utils.rnn import pack_sequence
from tapegrad.ops.rnn_scan import rnn_scan

from helpers import cuda_for_tests
from test_rnn import pair, both, close, loss_of, I, H, B

torch = pytest.importorskip("torch")


# -- the rnn_scan op itself -------------------------------------------------------------------
SCAN_CASES = [("RNN_TANH", False, None, False), ("RNN_RELU", True, None, False),
              ("LSTM", False, (3, 2, 1), False), ("LSTM", True, None, True),
              ("LSTM", True, (3, 3, 1), True), ("GRU", False, None, False),
              ("GRU", True, (3, 2, 2), False)]


def _scan_args(mode, proj, rng, batch=3, steps=3, n=3, p=2, i=2):
    gates = {"LSTM": 4, "GRU": 3}.get(mode, 1)
    p = p if proj else n
    arrays = [rng.standard_normal((steps, batch, gates * n)), rng.standard_normal((batch, p))]
    arrays.append(rng.standard_normal((batch, n)) if mode == "LSTM" else None)
    arrays.append(rng.standard_normal((gates * n, p)) * 0.7)
    arrays.append(rng.standard_normal(gates * n) if mode == "GRU" else None)
    arrays.append(rng.standard_normal((p, n)) if proj else None)
    return [None if a is None else tg.tensor(a, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("mode,reverse,sizes,proj", SCAN_CASES, ids=lambda v: str(v))
def test_rnn_scan_gradcheck_to_second_order(mode, reverse, sizes, proj):
    args = _scan_args(mode, proj, np.random.default_rng(9))
    live = [k for k, a in enumerate(args) if a is not None]

    def f(*xs):
        full = list(args)
        for k, x in zip(live, xs):
            full[k] = x
        return rnn_scan(*full, mode, reverse=reverse, batch_sizes=sizes)
    xs = [args[k] for k in live]
    assert gradcheck(f, xs)
    assert gradgradcheck(f, xs)
    # forward mode against the VJP: <u, J t> == <J^T u, t>
    rng = np.random.default_rng(10)
    ts = [tg.tensor(rng.standard_normal(x.shape)) for x in xs]
    out, jt = tg.func.jvp(f, [x.detach() for x in xs], ts)
    u = tg.tensor(rng.standard_normal(out.shape))
    vj = tg.grad(f(*xs), xs, u)
    lhs = float((u * jt).sum())
    rhs = sum(float((g * t).sum()) for g, t in zip(vj, ts))
    assert lhs == pytest.approx(rhs, rel=1e-10)


# -- cells ----------------------------------------------------------------------------------
CELLS = [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}),
         ("GRUCell", {}), ("GRUCell", {"bias": False})]


@pytest.mark.parametrize("name,extra", CELLS, ids=lambda v: str(v))
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zeros", "hx"])
def test_cell_matches_torch(name, extra, batched, with_state):
    tm, m = pair(name, I, H, **extra)
    rng = np.random.default_rng(11)
    lead = (B,) if batched else ()
    x, tx = both(rng.standard_normal(lead + (I,)))
    states = [both(rng.standard_normal(lead + (H,))) for _ in range(2 if name == "LSTMCell"
                                                                     else 1)]
    args = ((tuple(s[0] for s in states) if name == "LSTMCell" else states[0][0]),) \
        if with_state else ()
    targs = ((tuple(s[1] for s in states) if name == "LSTMCell" else states[0][1]),) \
        if with_state else ()
    out, tout = m(x, *args), tm(tx, *targs)
    outs = list(out) if isinstance(out, tuple) else [out]
    touts = list(tout) if isinstance(tout, tuple) else [tout]
    total = sum(((o + k) ** 3).sum() for k, o in enumerate(outs))
    ttotal = sum(((o + k) ** 3).sum() for k, o in enumerate(touts))
    for o, to in zip(outs, touts):
        assert o.shape == tuple(to.shape)
        close(o, to)
    total.backward()
    ttotal.backward()
    close(x.grad, tx.grad)
    if with_state:
        for s, ts in states:
            close(s.grad, ts.grad)
    for p, tp in zip(m.parameters(), tm.parameters()):
        close(p.grad, tp.grad)


def test_lstm_cell_function_matches_torch_to_second_order():
    rng = np.random.default_rng(12)
    arrays = [rng.standard_normal(s) for s in ((2, 3), (2, 4), (2, 4), (16, 3), (16, 4),
                                               (16,), (16,))]
    xs = [tg.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    h, c = tg.lstm_cell(xs[0], (xs[1], xs[2]), *xs[3:])
    th, tc = torch.lstm_cell(ts[0], (ts[1], ts[2]), *ts[3:])
    close(h, th)
    close(c, tc)
    g = tg.grad((h * c).sum(), xs, create_graph=True)
    tgr = torch.autograd.grad((th * tc).sum(), ts, create_graph=True)
    hv = tg.grad(sum((a ** 2).sum() for a in g), xs)
    thv = torch.autograd.grad(sum((a ** 2).sum() for a in tgr), ts)
    for a, b in zip(g + hv, tgr + thv):
        close(a, b)


# -- devices and tg.compile -------------------------------------------------------------------
@pytest.mark.parametrize("name,extra", [("LSTM", {"proj_size": 2}), ("GRU", {}), ("RNN", {})],
                         ids=["LSTM-proj", "GRU", "RNN"])
def test_second_device_equals_cpu(name, extra):
    _, m = pair(name, 3, 4, num_layers=2, bidirectional=True, **extra)
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4, 3, 3))
    seqs = [rng.standard_normal((n, 3)) for n in (2, 4, 1)]

    def run(dev):
        xx = tg.tensor(x, requires_grad=True).to(dev).detach().requires_grad_()
        packed = pack_sequence([tg.tensor(s).to(dev) for s in seqs], enforce_sorted=False)
        m.to(dev)
        for p in m.parameters():
            p.grad = None
        a = loss_of(m(xx), tg)
        b = loss_of(m(packed), tg)
        (a + b).backward()
        return [a, b, xx.grad] + [p.grad for p in m.parameters()]
    ref = [t.detach().numpy() for t in run("cpu")]
    with cuda_for_tests():
        got = run("cuda")
        assert all(t.device.type == "cuda" for t in got)
        got = [t.detach().cpu().numpy() for t in got]
        m.to("cpu")
    for a, b in zip(ref, got):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_compiled_training_step_equals_eager():
    def make():
        tg.manual_seed(0)
        m = nn.LSTM(3, 4, 2, bidirectional=True)
        return m, tg.optim.SGD(m.parameters(), lr=0.1)

    def step(m, opt):
        def f(x):
            opt.zero_grad()
            out, (h, c) = m(x)
            loss = (out ** 2).mean() + (c ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        return f
    (m1, o1), (m2, o2) = make(), make()
    eager, compiled = step(m1, o1), tg.compile(step(m2, o2))
    for s in range(4):
        x = tg.tensor(np.random.default_rng(s).standard_normal((5, 2, 3)).astype(np.float32))
        assert np.array_equal(eager(x).numpy(), compiled(x).numpy())
    assert compiled.cache[compiled._last].run is not None   # it replayed
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p.numpy(), q.numpy())


# -- errors -----------------------------------------------------------------------------------
def test_constructor_errors():
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        nn.GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="proj_size should be a positive integer or zero"):
        nn.LSTM(3, 4, proj_size=-1)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        nn.RNNCell(3, 4, nonlinearity="gelu")
    with pytest.raises(TypeError, match="LSTM: hidden_size should be of type int, got: float"):
        nn.LSTM(3, 4.0)
    with pytest.raises(ValueError, match="GRU: input_size must be greater than zero"):
        nn.GRU(0, 4)
    with pytest.raises(ValueError, match="RNN: num_layers must be greater than zero"):
        nn.RNN(3, 4, num_layers=0)
    with pytest.raises(TypeError, match="LSTM: batch_first should be of type bool"):
        nn.LSTM(3, 4, batch_first=1)


def test_forward_errors():
    m = nn.LSTM(3, 4, num_layers=2)
    x = tg.zeros((5, 2, 3))
    with pytest.raises(tg.ShapeError, match=r"LSTM: Expected input to be 2D or 3D, got 4D"):
        m(tg.zeros((5, 2, 3, 1)))
    with pytest.raises(tg.ShapeError, match=r"input.size\(-1\) must be equal to input_size. "
                                            r"Expected 3, got 2"):
        m(tg.zeros((5, 2, 2)))
    with pytest.raises(TypeError, match=r"LSTM: input dtype \(float64\) does not match weight "
                                        r"dtype \(float32\)"):
        m(tg.zeros((5, 2, 3), dtype="float64"))
    with pytest.raises(tg.ShapeError, match=r"Expected hx\[0\] size \(2, 2, 4\), got \[1, 2, 4\]"):
        m(x, (tg.zeros((1, 2, 4)), tg.zeros((2, 2, 4))))
    with pytest.raises(tg.ShapeError, match=r"Expected hx\[1\] size \(2, 2, 4\), got \[2, 3, 4\]"):
        m(x, (tg.zeros((2, 2, 4)), tg.zeros((2, 3, 4))))
    with pytest.raises(tg.ShapeError, match="for batched 3-D input, hx should also be 3-D but "
                                            "got 2-D"):
        nn.GRU(3, 4)(x, tg.zeros((2, 4)))
    with pytest.raises(tg.ShapeError, match="for unbatched 2-D input, hx should also be 2-D"):
        nn.GRU(3, 4)(tg.zeros((5, 3)), tg.zeros((1, 1, 4)))
    with pytest.raises(TypeError, match="LSTM: hx must be a pair"):
        m(x, tg.zeros((2, 2, 4)))
    with pytest.raises(TypeError, match="RNN: input must be a tg.Tensor or a PackedSequence"):
        nn.RNN(3, 4)(np.zeros((5, 2, 3), dtype=np.float32))
    with pytest.raises(tg.ShapeError, match="RNN: the input holds no time steps"):
        nn.RNN(3, 4)(tg.zeros((0, 2, 3)))
    assert isinstance(tg.ShapeError("x"), RuntimeError) and isinstance(tg.ShapeError("x"),
                                                                        ValueError)


def test_cell_errors():
    cell = nn.LSTMCell(3, 4)
    with pytest.raises(tg.ShapeError, match="LSTMCell: Expected input to be 1D or 2D, got 3D"):
        cell(tg.zeros((1, 2, 3)))
    with pytest.raises(tg.ShapeError, match="lstm_cell: input has inconsistent input_size: "
                                            "got 2, expected 3"):
        cell(tg.zeros((2, 2)))
    with pytest.raises(tg.ShapeError, match="gru_cell: input batch size 2 doesn't match "
                                            "hidden0 batch size"):
        nn.GRUCell(3, 4)(tg.zeros((2, 3)), tg.zeros((3, 4)))
    with pytest.raises(tg.ShapeError, match="rnn_tanh_cell: hidden0 has inconsistent "
                                            "hidden_size: got 5, expected 4"):
        nn.RNNCell(3, 4)(tg.zeros((2, 3)), tg.zeros((2, 5)))
    with pytest.raises(TypeError, match="LSTMCell: hx must be a pair"):
        cell(tg.zeros((2, 3)), tg.zeros((2, 4)))
    with pytest.raises(TypeError, match="GRUCell: input dtype"):
        nn.GRUCell(3, 4)(tg.zeros((2, 3), dtype="float64"))
    with pytest.raises(ValueError, match="rnn_scan: unknown mode 'LSTMX'"):
        rnn_scan(tg.zeros((1, 1, 4)), tg.zeros((1, 1)), None, tg.zeros((4, 1)), None, None,
                 "LSTMX")
