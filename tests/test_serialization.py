"""tg.save / tg.load: round trips, refusal of pickles and damaged files (case 53),
strict state_dict loading (case 54), atomic writes (case 56), resumed training."""
import os
import pickle
import zipfile

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import serialization


def _model(seed=0):
    tg.manual_seed(seed)
    return tg.nn.Sequential(tg.nn.Linear(4, 8), tg.nn.ReLU(), tg.nn.Linear(8, 3))


def test_round_trip_of_nested_objects(tmp_path):
    obj = {"w": tg.tensor([[1.0, 2.0]], requires_grad=True), "i": tg.tensor([1, 2]),
           "arr": np.arange(3, dtype=np.int16), "n": 3, "big": 2 ** 70, "f": 0.5,
           "nan": float("nan"), "inf": -float("inf"), "s": "text", "none": None, "b": True,
           "nested": {"list": [1, (2.0, "x"), []], 7: {"deep": tg.zeros(2, dtype=tg.float64)}},
           "np_scalar": np.float32(1.5), "zero_d": tg.tensor(3), "strided": np.eye(3)[:, 1]}
    p = tmp_path / "obj.tg"
    tg.save(obj, p)
    out = tg.load(p)
    assert list(out) == list(obj)
    assert isinstance(out["w"], tg.Tensor) and out["w"].requires_grad
    np.testing.assert_array_equal(out["w"].numpy(), [[1.0, 2.0]])
    assert out["i"].dtype == np.int64 and out["arr"].dtype == np.int16
    assert isinstance(out["arr"], np.ndarray)
    assert out["n"] == 3 and out["big"] == 2 ** 70 and out["f"] == 0.5
    assert np.isnan(out["nan"]) and out["inf"] == -float("inf")
    assert out["s"] == "text" and out["none"] is None and out["b"] is True
    assert out["nested"]["list"] == [1, (2.0, "x"), []]
    assert out["nested"][7]["deep"].dtype == np.float64
    assert out["np_scalar"] == np.float32(1.5) and out["np_scalar"].dtype == np.float32
    assert out["zero_d"].shape == () and int(out["zero_d"]) == 3
    np.testing.assert_array_equal(out["strided"], [0.0, 1.0, 0.0])


def test_unsupported_objects_are_rejected_before_writing(tmp_path):
    p = tmp_path / "x.tg"
    with pytest.raises(TypeError, match="only bool, integer and floating point"):
        tg.save({"names": np.array(["a", "b"])}, p)
    with pytest.raises(TypeError, match="only bool, integer and floating point"):
        tg.save({"model": _model(), "names": np.array(["a", "b"])}, p)   # pickled too
    with pytest.raises((pickle.PicklingError, AttributeError), match="lambda"):
        tg.save({"model": _model(), "fn": lambda x: x}, p)
    assert not p.exists() and os.listdir(tmp_path) == []


def test_objects_the_index_cannot_describe_are_pickled(tmp_path):
    """A whole module or a non-string key no longer fails: the object is pickled (format
    version 2); a state dict keeps the pickle-free version 1."""
    tg.save({(1, 2): 3, "model": _model()}, tmp_path / "x.tg")
    tg.save(_model().state_dict(), tmp_path / "sd.tg")
    with np.load(tmp_path / "x.tg") as z:
        assert "pickle" in z.files and b'"version": 2' in z["__tapegrad_index__"].tobytes()
    with np.load(tmp_path / "sd.tg") as z:
        assert "pickle" not in z.files and b'"version": 1' in z["__tapegrad_index__"].tobytes()
    out = tg.load(tmp_path / "x.tg")
    assert out[(1, 2)] == 3 and isinstance(out["model"], tg.nn.Sequential)


def test_model_and_optimizer_round_trip(tmp_path):
    model = _model()
    opt = tg.optim.Adam(model.parameters(), lr=0.01)
    x, y = tg.randn(5, 4), tg.randn(5, 3)
    ((model(x) - y) ** 2).mean().backward()
    opt.step()
    tg.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": 3}, tmp_path / "c")
    ck = tg.load(tmp_path / "c")
    model2 = _model(seed=1)
    model2.load_state_dict(ck["model"])
    for (n, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=n)
    opt2 = tg.optim.Adam(model2.parameters(), lr=0.5)
    opt2.load_state_dict(ck["opt"])
    assert opt2.param_groups[0]["lr"] == 0.01 and ck["epoch"] == 3
    np.testing.assert_array_equal(opt2.state[model2[0].weight]["exp_avg"],
                                  opt.state[model[0].weight]["exp_avg"])


def test_resumed_training_gives_the_same_losses(tmp_path):
    """Train 6 steps straight vs 3 steps, checkpoint (model, optimizer, rng), reload into
    fresh objects, 3 more steps: the losses agree bitwise (dropout included)."""
    def build():
        tg.manual_seed(0)
        m = tg.nn.Sequential(tg.nn.Linear(4, 16), tg.nn.ReLU(), tg.nn.Dropout(0.3)
                             if hasattr(tg.nn.functional, "dropout") else tg.nn.Identity(),
                             tg.nn.Linear(16, 3))
        return m, tg.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)

    rng = np.random.default_rng(1)
    data = [(tg.tensor(rng.standard_normal((8, 4)).astype(np.float32)),
             tg.tensor(rng.standard_normal((8, 3)).astype(np.float32))) for _ in range(6)]

    def run(m, o, batches):
        out = []
        for x, y in batches:
            o.zero_grad()
            loss = ((m(x) - y) ** 2).mean()
            loss.backward()
            o.step()
            out.append(float(loss))
        return out

    m, o = build()
    straight = run(m, o, data)
    m, o = build()
    first = run(m, o, data[:3])
    tg.save({"model": m.state_dict(), "opt": o.state_dict(), "rng": tg.get_rng_state()},
            tmp_path / "ck.tg")
    m2, o2 = build()
    tg.manual_seed(123)   # disturb the stream: the checkpoint restores it
    ck = tg.load(tmp_path / "ck.tg")
    m2.load_state_dict(ck["model"])
    o2.load_state_dict(ck["opt"])
    tg.set_rng_state(ck["rng"])
    assert first + run(m2, o2, data[3:]) == straight


# -- case 53: foreign pickles are never loaded --------------------------------------------------
class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/tapegrad_pwned",))


def test_case53_pickle_file_is_refused(tmp_path):
    p = tmp_path / "evil.pt"
    with open(p, "wb") as f:
        pickle.dump({"w": _Evil()}, f)
    with pytest.raises(ValueError, match="pickle"):
        tg.load(p)
    assert not os.path.exists("/tmp/tapegrad_pwned")


def test_case53_torch_checkpoint_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    p = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, p)
    with pytest.raises(ValueError, match=r"model\.pt.*pickle"):
        tg.load(p)


def test_case53_npz_with_object_array_is_refused(tmp_path):
    p = tmp_path / "obj.npz"
    np.savez(p, __tapegrad_index__=np.frombuffer(b'{"format": "tapegrad.checkpoint", '
                                                  b'"version": 1, "obj": {"array": "a0", '
                                                  b'"shape": [1], "dtype": "object"}}',
                                                  dtype=np.uint8),
             a0=np.array([_Evil()], dtype=object))
    with pytest.raises(ValueError, match="obj.npz"):
        tg.load(p)
    assert not os.path.exists("/tmp/tapegrad_pwned")


def test_case53_truncated_and_tampered_files(tmp_path):
    p = tmp_path / "m.tg"
    tg.save(_model().state_dict(), p)
    data = p.read_bytes()
    (tmp_path / "trunc.tg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="trunc.tg"):
        tg.load(tmp_path / "trunc.tg")
    (tmp_path / "empty.tg").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.tg"):
        tg.load(tmp_path / "empty.tg")
    # flip a byte inside the first array's data
    with zipfile.ZipFile(p) as z:
        info = z.getinfo("a0.npy")
    flipped = bytearray(data)
    pos = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    flipped[pos] ^= 0xFF
    (tmp_path / "flip.tg").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="flip.tg"):
        tg.load(tmp_path / "flip.tg")
    # a consistent archive whose index lies about a shape
    with zipfile.ZipFile(p) as z:
        members = {n: z.read(n) for n in z.namelist()}
    idx = np.load(p)["__tapegrad_index__"].tobytes().replace(b'"shape": [8, 4]',
                                                             b'"shape": [4, 8]')
    members.pop("__tapegrad_index__.npy")
    arrays = {n[:-4]: np.load(p)[n[:-4]] for n in members}
    np.savez(tmp_path / "lie.npz", __tapegrad_index__=np.frombuffer(idx, np.uint8), **arrays)
    with pytest.raises(ValueError, match="tampered"):
        tg.load(tmp_path / "lie.npz")
    # a plain npz from elsewhere
    np.savez(tmp_path / "plain.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="no tapegrad index"):
        tg.load(tmp_path / "plain.npz")


def test_weights_only_false_reads_state_dicts_the_same(tmp_path):
    tg.save({"a": 1, "w": tg.ones(2)}, tmp_path / "a")
    out = tg.load(tmp_path / "a", weights_only=False)
    assert out["a"] == 1 and out["w"].numpy().tolist() == [1.0, 1.0]


# -- case 56: atomic writes -------------------------------------------------------------------
def test_case56_failed_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    p = tmp_path / "ck.tg"
    tg.save({"v": tg.tensor([1.0, 2.0])}, p)
    before = p.read_bytes()

    def dying_write(f, arrays):
        f.write(b"PK\x03\x04 partial garbage")   # some bytes reach the disk ...
        raise KeyboardInterrupt                  # ... then the user hits Ctrl-C

    monkeypatch.setattr(serialization, "_write_archive", dying_write)
    with pytest.raises(KeyboardInterrupt):
        tg.save({"v": tg.tensor([3.0, 4.0])}, p)
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["ck.tg"]     # no temporary file left behind
    np.testing.assert_array_equal(tg.load(p)["v"].numpy(), [1.0, 2.0])

    def disk_full(f, arrays):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(serialization, "_write_archive", disk_full)
    with pytest.raises(OSError):
        tg.save({"v": tg.tensor([5.0])}, p)
    assert p.read_bytes() == before


def test_save_writes_exactly_the_given_path_with_normal_permissions(tmp_path):
    tg.save({"a": 1}, str(tmp_path / "no_suffix"))
    assert os.listdir(tmp_path) == ["no_suffix"]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "no_suffix").st_mode & 0o777 == 0o666 & ~umask


# -- case 53: sizes the file declares but does not hold ---------------------------------------
def _zip(tmp_path, members, compression=zipfile.ZIP_STORED):
    path = tmp_path / "x.tg"
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, raw in members.items():
            z.writestr(name, raw)
    return path


def test_case53_declared_sizes_are_checked_before_allocating(tmp_path):
    """A .npy header that declares a huge array, or a compressed member that expands a
    thousandfold (a decompression bomb), is refused by name before NumPy allocates it."""
    good = tmp_path / "good.tg"
    tg.save({"w": tg.zeros(1000, 100)}, good)
    with zipfile.ZipFile(good) as z:
        members = {n: z.read(n) for n in z.namelist()}
    raw = members["a0.npy"]
    header = raw[:raw.index(b"\n") + 1]
    lying = header.replace(b"(1000, 100)", b"(100000000000, 100)")
    with pytest.raises(ValueError, match=r"x\.tg.*member 'a0\.npy' declares a "
                                         r"float32\[100000000000, 100\] array "
                                         r"\(40000000000000 bytes\) but holds \d+ bytes"):
        tg.load(_zip(tmp_path, {**members, "a0.npy": lying + raw[len(header):]}))
    with pytest.raises(ValueError, match=r"member 'a0\.npy' is compressed, which tg\.save "
                                         r"never does \(it expands from \d+ to 400128"):
        tg.load(_zip(tmp_path, members, zipfile.ZIP_DEFLATED))


def test_case53_every_truncation_of_a_pickled_checkpoint_is_a_clear_error(tmp_path):
    buf = __import__("io").BytesIO()
    tg.save({"model": _model(), "opt": tg.optim.SGD(_model().parameters(), lr=0.1)}, buf)
    data = buf.getvalue()
    for n in range(0, len(data), max(1, len(data) // 40)):
        (tmp_path / "t.tg").write_bytes(data[:n])
        with pytest.raises(ValueError, match=r"t\.tg"):
            tg.load(tmp_path / "t.tg")
