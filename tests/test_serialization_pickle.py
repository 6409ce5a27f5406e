"""tg.save / tg.load of whole objects (issue 17): modules, optimizers and schedulers pickled
beside their tensors and rebuilt by the weights-only unpickler; file objects; protocols;
map_location for pickled tensors; user classes through tg.serialization's allow-list;
weights_only=False for trusted files. The hostile pickles are in test_serialization_hostile.py.
"""
import collections
import copy
import enum
import io
import os
import pickle

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from helpers import cuda_for_tests


def _round_trip(obj, protocol=2, **load_kw):
    buf = io.BytesIO()
    tg.save(obj, buf, pickle_protocol=protocol)
    buf.seek(0)
    return tg.load(buf, **load_kw)


def _same(a, b):
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


@pytest.fixture(autouse=True)
def _no_user_globals():
    tg.serialization.clear_safe_globals()
    yield
    tg.serialization.clear_safe_globals()


# -- whole models -------------------------------------------------------------------------
def _mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def _cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 2))


def _train(model, opt, x, y, steps=3):
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        loss = ((out - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return losses


MODELS = [
    ("mlp", _mlp, (5, 4), (5, 3)),
    ("cnn-batchnorm", _cnn, (6, 1, 6, 6), (6, 2)),
    ("lstm", lambda: nn.LSTM(3, 5, num_layers=2, batch_first=True), (2, 4, 3), (2, 4, 5)),
    ("transformer", lambda: nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1,
                                           num_decoder_layers=1, dim_feedforward=16,
                                           dropout=0.0, batch_first=True), None, None),
    ("encoder-layer", lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0,
                                                         batch_first=True), (2, 5, 8),
     (2, 5, 8)),
]


@pytest.mark.parametrize("name,make,xshape,yshape", MODELS, ids=[m[0] for m in MODELS])
def test_whole_model_round_trip_gives_the_same_outputs(name, make, xshape, yshape):
    tg.manual_seed(0)
    model = make()
    if xshape is None:                                     # nn.Transformer(src, tgt)
        args = (tg.randn(2, 5, 8), tg.randn(2, 3, 8))
    else:
        args = (tg.randn(*xshape),)
        opt = tg.optim.SGD(model.parameters(), lr=0.05)
        _train(model, opt, args[0], tg.randn(*yshape))     # running stats, moved weights
    model.eval()
    back = _round_trip(model)
    assert type(back) is type(model) and not back.training
    out, out2 = model(*args), back(*args)
    for a, b in zip(out if isinstance(out, tuple) else [out],
                    out2 if isinstance(out2, tuple) else [out2]):
        if isinstance(a, tuple):
            a, b = a[0], b[0]
        _same(a, b)
    assert list(dict(back.state_dict())) == list(dict(model.state_dict()))
    for (k, v), (_, w) in zip(model.state_dict().items(), back.state_dict().items()):
        _same(v, w)
    for p, q in zip(model.parameters(), back.parameters()):
        assert type(q) is nn.Parameter and q.requires_grad == p.requires_grad


def test_every_tested_layer_round_trips():
    """Every layer of the nn test tables (built as those tests build them), saved whole and
    loaded with weights_only=True, gives the same output."""
    pytest.importorskip("torch")
    import test_nn
    import test_nn_round2_modules as r2
    cases = [c[:3] for c in test_nn.LAYERS + r2.LAYERS]
    cases += [(n, (lambda n, a: lambda m: getattr(m, n)(*a))(n, a), [("f", (3, 4))])
              for n, a, _ in test_nn.ACTS]
    cases += [(c[0], (lambda n, kw: lambda m: getattr(m, n)(**kw))(c[0], c[1]), c[2])
              for c in test_nn.LOSSES + r2.LOSSES]
    rng = np.random.default_rng(0)
    for name, make, specs in cases:
        m = make(nn).eval()
        xs = [test_nn._inputs(s, rng) for s in specs]
        xs = [tg.tensor(a.astype(np.float32) if a.dtype.kind == "f" else a) for a in xs]
        out, back = m(*xs), _round_trip(m)
        assert type(back) is type(m), name
        out2 = back(*xs)
        _same(out[0] if isinstance(out, tuple) else out,
              out2[0] if isinstance(out2, tuple) else out2)


def test_model_optimizer_and_scheduler_resume_identically():
    """Save model + Adam (with state) + scheduler as objects; the loaded trio continues
    with the same losses and learning rates as the original, and shares parameters."""
    tg.manual_seed(0)
    model = _mlp()
    opt = tg.optim.Adam(model.parameters(), lr=0.02)
    sched = tg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    x, y = tg.randn(5, 4), tg.randn(5, 3)
    _train(model, opt, x, y)
    sched.step(), sched.step(), sched.step()
    ck = _round_trip({"model": model, "opt": opt, "sched": sched, "epoch": 3})
    m2, o2, s2 = ck["model"], ck["opt"], ck["sched"]
    assert s2.optimizer is o2 and ck["epoch"] == 3
    assert [id(p) for p in o2.param_groups[0]["params"]] == [id(p) for p in m2.parameters()]
    assert o2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
    for p, q in zip(model.parameters(), m2.parameters()):
        for k in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_array_equal(opt.state[p][k], o2.state[q][k])
    straight, resumed = [], []
    for m, o, s, out in ((model, opt, sched, straight), (m2, o2, s2, resumed)):
        for _ in range(3):
            out.extend(_train(m, o, x, y, steps=1))
            s.step()
            out.append(s.get_last_lr()[0])
    assert straight == resumed


@pytest.mark.parametrize("make", [
    lambda ps: tg.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: tg.optim.AdamW([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.001}]),
    lambda ps: tg.optim.RMSprop(ps, lr=0.01, centered=True),
    lambda ps: tg.optim.LBFGS(ps, lr=0.5, history_size=3),
], ids=["sgd", "adamw-groups", "rmsprop", "lbfgs"])
def test_optimizers_round_trip_with_their_state(make):
    tg.manual_seed(1)
    model = _mlp()
    ps = list(model.parameters())
    opt = make(ps)
    x, y = tg.randn(5, 4), tg.randn(5, 3)

    def closure(m, o):
        def f():
            o.zero_grad()
            loss = ((m(x) - y) ** 2).mean()
            loss.backward()
            return loss
        return f
    opt.step(closure(model, opt))
    m2, o2 = _round_trip((model, opt))
    assert type(o2) is type(opt)
    assert o2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
    a = [float(opt.step(closure(model, opt))) for _ in range(2)]
    b = [float(o2.step(closure(m2, o2))) for _ in range(2)]
    assert a == b


def test_schedulers_round_trip():
    opt = tg.optim.SGD(_mlp().parameters(), lr=0.1)
    for sched in (tg.optim.lr_scheduler.OneCycleLR(opt, 0.5, total_steps=20),
                  tg.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3),
                  tg.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)):
        sched.step(1.0) if isinstance(sched, tg.optim.lr_scheduler.ReduceLROnPlateau) \
            else sched.step()
        s2 = _round_trip(sched)
        for s in (sched, s2):
            for i in range(4):
                s.step(2.0 + i) if isinstance(s, tg.optim.lr_scheduler.ReduceLROnPlateau) \
                    else s.step()
        assert s2.optimizer.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_deepcopy_of_an_optimizer_keeps_its_parameter_names():
    model = _mlp()
    opt = tg.optim.Adam(model.named_parameters())
    twin = copy.deepcopy((model, opt))[1]
    assert twin.state_dict()["param_groups"][0]["params"] == ["0.weight", "0.bias",
                                                              "2.weight", "2.bias"]


def test_tied_weights_and_shared_objects_stay_shared():
    enc = nn.Embedding(10, 4)
    dec = nn.Linear(4, 10, bias=False)
    dec.weight = enc.weight
    model = nn.Sequential(enc, dec)
    back = _round_trip({"model": model, "again": model, "w": enc.weight})
    assert back["model"] is back["again"]
    assert back["model"][0].weight is back["model"][1].weight is back["w"]
    assert len(list(back["model"].parameters())) == 1


# -- the format and the API -----------------------------------------------------------------
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_pickle_protocol_loads_weights_only(protocol):
    class_free = {"s": {1, 2}, "fs": frozenset([3]), "c": 1 + 2j, "sl": slice(1, None, 2),
                  "r": range(3), "b": b"ab\x00", "ba": bytearray(b"z"), "t": (1, "x"),
                  "od": collections.OrderedDict(a=1), "n": None, "big": 2 ** 70,
                  "dtype": tg.float64, "dev": tg.device("cpu"), "f": tg.nn.functional.gelu,
                  "np": np.float32(2.5), "arr": np.arange(3, dtype=np.int16)}
    model = _mlp()
    back = _round_trip({"model": model, **class_free}, protocol=protocol)
    for k, v in class_free.items():
        if k != "arr":
            assert back[k] == v and type(back[k]) is type(v), k
    assert back["f"] is tg.nn.functional.gelu and back["dtype"] is tg.float64
    np.testing.assert_array_equal(back["arr"], class_free["arr"])
    x = tg.randn(2, 4)
    _same(model(x), back["model"](x))


def test_file_objects_paths_and_text_mode(tmp_path):
    model = _mlp()
    path = tmp_path / "model.pt"
    with open(path, "wb") as f:                           # torch.save(model, open(p, "wb"))
        tg.save(model, f)
    with open(path, "rb") as f:
        m2 = tg.load(f)
    m3 = tg.load(str(path))
    x = tg.randn(3, 4)
    _same(m2(x), model(x)), _same(m3(x), model(x))
    with open(tmp_path / "t.txt", "w") as f:
        with pytest.raises(TypeError, match="binary mode"):
            tg.save(model, f)
    (tmp_path / "sd.txt").write_bytes(b"")
    with open(tmp_path / "sd.txt", "r") as f:
        with pytest.raises(TypeError, match="binary mode"):
            tg.load(f)
    with pytest.raises(ValueError, match="pickle_protocol"):
        tg.save(model, io.BytesIO(), pickle_protocol=9)


def test_pytorch_spellings_work_with_tapegrad_as_torch(tmp_path):
    torch = tg                                              # import tapegrad as torch
    import tapegrad.serialization as serialization
    assert torch.serialization is serialization
    for name in ("add_safe_globals", "get_safe_globals", "clear_safe_globals",
                 "safe_globals", "get_unsafe_globals_in_checkpoint"):
        assert callable(getattr(serialization, name)) and getattr(serialization, name).__doc__
    model = _mlp()
    torch.save(model, tmp_path / "m.pt", pickle_protocol=2,
               _use_new_zipfile_serialization=True)
    back = torch.load(tmp_path / "m.pt", map_location="cpu", weights_only=True,
                      encoding="latin1")
    _same(back(tg.ones(1, 4)), model(tg.ones(1, 4)))
    with pytest.raises(RuntimeError, match="pickle_module"):
        torch.load(tmp_path / "m.pt", pickle_module=pickle)
    assert type(torch.load(tmp_path / "m.pt", pickle_module=pickle,
                           weights_only=False)) is nn.Sequential
    with pytest.raises(TypeError, match="unexpected keyword argument 'fix_imports'"):
        torch.load(tmp_path / "m.pt", fix_imports=True)


def test_map_location_applies_to_pickled_tensors(tmp_path):
    with cuda_for_tests():
        model = _mlp().cuda()
        opt = tg.optim.Adam(model.parameters())
        model(tg.ones(2, 4, device="cuda")).sum().backward()
        opt.step()
        tg.save({"model": model, "opt": opt, "dev": tg.device("cuda:0")}, tmp_path / "c.pt")
        same = tg.load(tmp_path / "c.pt")
        assert all(p.device == tg.device("cuda:0") for p in same["model"].parameters())
        seen = []
        via_fn = tg.load(tmp_path / "c.pt",
                         map_location=lambda t, loc: seen.append(loc) or t)
        assert set(seen) == {"cuda:0"}
        assert all(p.device == tg.device("cpu") for p in via_fn["model"].parameters())
    cpu = tg.load(tmp_path / "c.pt", map_location="cpu")
    assert all(p.device == tg.device("cpu") for p in cpu["model"].parameters())
    assert cpu["dev"] == tg.device("cuda:0")        # a device value is kept as saved
    p0 = next(cpu["model"].parameters())
    assert cpu["opt"].param_groups[0]["params"][0] is p0
    x = tg.ones(2, 4)
    with cuda_for_tests():
        np.testing.assert_allclose(cpu["model"](x).numpy(),
                                   same["model"](x.cuda()).cpu().numpy(), rtol=1e-6)


# -- user classes and the allow-list -----------------------------------------------------
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.note = "mine"

    def forward(self, x):
        return self.fc(x)


class Color(enum.Enum):
    RED = 1
    BLUE = 2


Point = collections.namedtuple("Point", "x y")


def test_user_classes_need_safe_globals(tmp_path):
    net = Net()
    tg.save({"net": net, "c": Color.BLUE, "p": Point(1, tg.ones(2))}, tmp_path / "n.pt")
    with pytest.raises(pickle.UnpicklingError,
                       match=r"Unsupported global: GLOBAL test_serialization_pickle\.Net was "
                             r"not an allowed global by default.*add_safe_globals"):
        tg.load(tmp_path / "n.pt")
    assert tg.serialization.get_unsafe_globals_in_checkpoint(tmp_path / "n.pt") == [
        "test_serialization_pickle.Color", "test_serialization_pickle.Net",
        "test_serialization_pickle.Point"]
    with tg.serialization.safe_globals([Net, Color, Point]):
        assert set(tg.serialization.get_safe_globals()) == {Net, Color, Point}
        back = tg.load(tmp_path / "n.pt")
    assert tg.serialization.get_safe_globals() == []
    assert type(back["net"]) is Net and back["net"].note == "mine"
    assert back["c"] is Color.BLUE and type(back["p"]) is Point
    _same(back["net"](tg.ones(1, 3)), net(tg.ones(1, 3)))
    tg.serialization.add_safe_globals([Net, Color, Point])
    assert type(tg.load(tmp_path / "n.pt")["net"]) is Net
    tg.serialization.clear_safe_globals()
    assert type(tg.load(tmp_path / "n.pt", weights_only=False)["net"]) is Net   # trusted
    assert tg.serialization.get_unsafe_globals_in_checkpoint(
        _saved(tmp_path, _mlp().state_dict())) == []


def _saved(tmp_path, obj):
    tg.save(obj, tmp_path / "x.pt")
    return tmp_path / "x.pt"


def test_safe_globals_context_keeps_what_was_allowed_before():
    tg.serialization.add_safe_globals([Net])
    with tg.serialization.safe_globals([Net, (Color, "elsewhere.Color")]):
        assert len(tg.serialization.get_safe_globals()) == 2
    assert tg.serialization.get_safe_globals() == [Net]
    with pytest.raises(TypeError, match="list of classes"):
        tg.serialization.add_safe_globals(Net)
    with pytest.raises(TypeError, match="module.name"):
        tg.serialization.add_safe_globals([(Net, 3)])


def test_renamed_safe_global_is_found_under_its_name(tmp_path):
    tg.save(Net(), tmp_path / "n.pt")
    data = (tmp_path / "n.pt").read_bytes()
    assert b"test_serialization_pickle" in data
    with tg.serialization.safe_globals([(Net, "test_serialization_pickle.Net")]):
        assert type(tg.load(tmp_path / "n.pt")) is Net


def test_tensor_subclasses_are_refused_when_saving():
    class Mine(tg.Tensor):
        pass
    t = Mine(np.ones(2))
    with pytest.raises(TypeError, match="subclass"):
        tg.save({"t": t, "m": _mlp()}, io.BytesIO())


def test_load_docstring_and_refusal_say_weights_only_false_runs_code(tmp_path):
    assert "RUNS CODE FROM THE FILE" in tg.load.__doc__
    tg.save(Net(), tmp_path / "n.pt")
    with pytest.raises(pickle.UnpicklingError, match="runs code from the file"):
        tg.load(tmp_path / "n.pt")
    assert os.path.exists(tmp_path / "n.pt")
