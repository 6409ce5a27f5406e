"""The main job end to end on a small budget: scikit-learn digits, CNN and MLP,
checkpoint written and reloadable, plot written, and bitwise determinism (case 58)."""
import os

import numpy as np
import pytest

import tapegrad as tg

pytest.importorskip("sklearn")
digits = pytest.importorskip("tapegrad.examples.digits")


def test_cnn_learns_saves_and_reloads(tmp_path):
    r = digits.train(epochs=2, seed=0, model="cnn", out=str(tmp_path), quiet=True,
                     plot=False)
    assert r["n_train"] == 1438 and r["n_test"] == 359
    assert r["test_acc"] > 0.8, r["history"]          # chance is 0.1
    assert r["history"]["train_loss"][1] < r["history"]["train_loss"][0]
    ck = tg.load(r["weights"])
    fresh = digits.make_model("cnn")
    fresh.load_state_dict(ck["model"])
    _, _, x_test, y_test = digits.load_data(0)
    loss, acc = digits.evaluate(fresh, x_test, y_test)
    assert acc == r["test_acc"] == ck["test_acc"]


def test_cli_mlp_with_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    r = digits.main(["--model", "mlp", "--epochs", "3", "--batch-size", "32", "--seed", "1",
                     "--out", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert "final test accuracy" in out and r["test_acc"] > 0.8
    assert os.path.exists(tmp_path / "digits_mlp.tg")
    with open(tmp_path / "digits_mlp_curves.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_case58_same_seed_same_numbers_bitwise():
    def run(seed):
        r = digits.train(epochs=2, seed=seed, model="cnn", quiet=True)
        return r["history"], [p.numpy().copy() for p in r["net"].parameters()]

    h1, p1 = run(3)
    h2, p2 = run(3)
    assert h1 == h2
    assert all(np.array_equal(a, b) for a, b in zip(p1, p2))


def test_plain_prints_without_tqdm(monkeypatch, capsys):
    import sys
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)     # import tqdm.auto -> ImportError
    r = digits.train(epochs=1, model="mlp", seed=0)
    out = capsys.readouterr().out
    assert "epoch  1/1: train loss" in out and f"acc {r['test_acc']:.4f}" in out


def test_device_flag_trains_on_a_gpu(tmp_path, capsys):
    """--device cuda on the test-only fake CUDA: the model and batches live there, it
    learns, and the checkpoint (host copies) loads on the CPU."""
    from tapegrad.backend.fake import fake_cuda
    with fake_cuda():
        r = digits.main(["--device", "cuda", "--epochs", "2", "--out", str(tmp_path),
                         "--quiet", "--no-plot"])
        assert all(p.device == tg.device("cuda:0") for p in r["net"].parameters())
    assert "epochs on cuda:0" in capsys.readouterr().out
    assert r["test_acc"] > 0.8, r["history"]
    ck = tg.load(r["weights"], map_location="cpu")
    fresh = digits.make_model("cnn")
    fresh.load_state_dict(ck["model"])
    _, _, x_test, y_test = digits.load_data(0)
    assert digits.evaluate(fresh, x_test, y_test)[1] == r["test_acc"]
