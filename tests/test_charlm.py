"""The character-level language model main job (tapegrad.examples.charlm) on a small budget:
both models learn (validation loss well below the unigram entropy of the text), the
checkpoint reloads to the same validation loss, bf16 autocast trains alike, the CLI runs."""
import math
import pathlib

import pytest

import tapegrad as tg
from tapegrad.examples import charlm as C
from tapegrad.examples.charlm_model import (LSTMLM, TransformerLM, sample,
                                            sinusoidal_positions)

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: a few seconds per model on 2 cores: small models, short windows, a high learning rate
SMALL = {
    "transformer": dict(steps=250, batch_size=32, block=16, lr=1e-2, d_model=64, nhead=4,
                        layers=1, ff=128, dropout=0.0, tie=False),
    "lstm": dict(steps=250, batch_size=32, block=16, lr=1e-2, embed=32, hidden=96),
}


def small_run(kind, **kw):
    return C.train(kind, **{"quiet": True, "eval_windows": 32, "sample_chars": 60,
                            **SMALL[kind], **kw})


@pytest.fixture(scope="module", params=["transformer", "lstm"])
def run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    return small_run(request.param, out=str(out))


def test_loss_falls_well_below_the_unigram_entropy(run):
    assert 4.6 < run["unigram_bpc"] < 4.8          # 103 characters, far from uniform
    first = run["history"]["val_bpc"][0]
    assert run["val_bpc"] < run["unigram_bpc"] - 1.0, (run["model"], run["val_bpc"])
    assert run["val_bpc"] < first                   # still improving over the run
    assert run["history"]["step"] == list(range(25, 251, 25))
    assert math.isfinite(run["history"]["train_bpc"][-1])


def test_checkpoint_reloads_to_the_same_validation_loss(run):
    net, vocab = C.load(run["weights"])
    assert vocab.chars == run["vocab"].chars and not net.training
    assert C.validation_bpc(net, vocab, run["config"]["block"]) == pytest.approx(
        run["val_bpc"], rel=1e-6)
    for (n, p), (m, q) in zip(net.state_dict().items(), run["net"].state_dict().items()):
        assert n == m and tg.equal(p, q)


def test_outputs_plot_and_samples(run):
    assert pathlib.Path(run["plot"]).stat().st_size > 1000
    assert run["samples"].startswith("The ") and len(run["samples"]) == 4 + 60
    assert set(run["samples"]) <= set(run["vocab"].chars)
    assert run["n_val"] > 40_000 and run["n_train"] > 400_000


def test_same_seed_same_numbers():
    a = small_run("lstm", steps=8, sample_chars=10)
    b = small_run("lstm", steps=8, sample_chars=10)
    assert a["val_bpc"] == b["val_bpc"] and a["samples"] == b["samples"]
    assert a["history"] == b["history"]


def test_bf16_autocast_trains_like_float32(run):
    """bf16 autocast on the small budget: its final validation loss within 2% of float32's
    (the module's run) from the same seed (the full runs: docs/sequence-models.md, "The
    charlm job")."""
    bf16 = small_run(run["model"], sample_chars=0, amp="bf16")
    assert bf16["amp"] == "bf16" and run["amp"] is None
    assert abs(bf16["val_bpc"] - run["val_bpc"]) <= 0.02 * run["val_bpc"], \
        (run["val_bpc"], bf16["val_bpc"])


def test_amp_runs_products_in_the_low_dtype_and_keeps_float32_parameters():
    """The --amp mechanism: under the job's autocast the model's logits are bfloat16 /
    float16, its parameters and their gradients float32; fp16 runs through the GradScaler
    (scale 2**16 at the start) and still learns a few steps without a skipped step."""
    from tapegrad.examples.amp import Precision
    m = TransformerLM(12, 8, d_model=16, nhead=2, layers=1, ff=32, dropout=0.0)
    for amp, dtype in (("bf16", tg.bfloat16), ("fp16", tg.float16)):
        prec = Precision(amp)
        with prec.autocast():
            logits, _ = m(tg.zeros((2, 8), dtype=tg.int64))
        assert logits.dtype == dtype and prec.scaler.is_enabled() == (amp == "fp16")
        logits.float().sum().backward()
        assert all(p.dtype == tg.float32 and p.grad.dtype == tg.float32
                   for p in m.parameters())
    r = small_run("lstm", steps=12, eval_every=6, sample_chars=0, amp="fp16")
    assert r["amp"] == "fp16" and math.isfinite(r["val_bpc"])
    assert r["history"]["val_bpc"][-1] < r["history"]["val_bpc"][0]


def test_cli_prints_the_results(tmp_path, capsys):
    r = C.main(["--model", "lstm", "--steps", "3", "--block", "16", "--batch-size", "4",
                "--quiet", "--no-plot", "--out", str(tmp_path), "--sample-chars", "20",
                "--prompt", "def "])
    out = capsys.readouterr().out
    assert "bits per character" in out and "unigram entropy of the text: 4.6" in out
    assert "sampled at temperature 0.8:" in out and "  def " in out
    assert f"saved weights to {tmp_path / 'charlm_lstm.tg'}\n" in out
    assert (tmp_path / "charlm_lstm.tg").exists() and "plot" not in r
    script = 'tapegrad-charlm = "tapegrad.examples.charlm:cli"'
    assert script in (ROOT / "pyproject.toml").read_text()


def test_text_split_and_vocabulary():
    train, val = C.load_text()
    assert C.load_text() == (train, val)
    assert 0.08 < len(val) / (len(train) + len(val)) < 0.12
    v = C.Vocab(train + val)
    assert len(v) == len(set(train + val)) and v.decode(v.encode("for x in y:")) == "for x in y:"
    with pytest.raises(KeyError, match="not in the vocabulary"):
        v.encode("\x00")
    assert C.unigram_entropy("aabb") == 1.0 and C.unigram_entropy("aaaa") == 0.0


def test_windows_and_batches():
    ids = tg.arange(100)
    x, y = C.windows(ids, 10)
    assert x.shape == (9, 10) and tg.equal(y, x + 1)
    xs, _ = C.windows(ids, 10, limit=3)
    assert xs[:, 0].tolist() == [0, 30, 60]
    xb, yb = C.random_batch(ids, 10, 5, tg.Generator(0))
    assert xb.shape == yb.shape == (5, 10) and tg.equal(yb, xb + 1)
    assert int(yb.max()) <= 99


def test_models_shapes_tying_and_positions():
    m = TransformerLM(20, 8, d_model=16, nhead=2, layers=1, ff=32)
    logits, state = m(tg.zeros((3, 5), dtype=tg.int64))
    assert logits.shape == (3, 5, 20) and state is None
    assert m.head.weight is m.tok.weight
    assert len(list(m.parameters())) == len(m.state_dict()) - 1   # the tied matrix once
    with pytest.raises(ValueError, match="more than its block"):
        m(tg.zeros((1, 9), dtype=tg.int64))
    s = TransformerLM(20, 8, d_model=16, nhead=2, layers=1, ff=32, positions="sinusoidal",
                      tie=False)
    assert s.head.weight is not s.tok.weight and "pos_table" not in s.state_dict()
    table = sinusoidal_positions(8, 16)
    assert float(table[3, 4]) == pytest.approx(math.sin(3 / 10000 ** (4 / 16)), abs=1e-6)
    assert float(table[3, 5]) == pytest.approx(math.cos(3 / 10000 ** (4 / 16)), abs=1e-6)
    lstm = LSTMLM(20, embed=8, hidden=12)
    logits, (h, c) = lstm(tg.zeros((2, 4), dtype=tg.int64))
    assert logits.shape == (2, 4, 20) and h.shape == c.shape == (1, 2, 12)


def test_causal_model_ignores_the_future():
    """Changing the last character changes no earlier position's logits."""
    tg.manual_seed(0)
    m = TransformerLM(10, 6, d_model=8, nhead=2, layers=2, ff=16, dropout=0.0).eval()
    a = tg.tensor([[1, 2, 3, 4, 5, 6]])
    b = tg.tensor([[1, 2, 3, 4, 5, 0]])
    la, lb = m(a)[0], m(b)[0]
    assert tg.allclose(la[:, :5], lb[:, :5], atol=1e-6) and not tg.allclose(la[:, 5], lb[:, 5])


def test_sample_is_reproducible_and_checks_temperature():
    v = C.Vocab("abc ")
    m = LSTMLM(len(v), embed=4, hidden=8)
    one = sample(m, v.encode, v.decode, "ab", 12, 1.0, tg.Generator(1))
    assert one == sample(m, v.encode, v.decode, "ab", 12, 1.0, tg.Generator(1))
    assert len(one) == 14 and one.startswith("ab") and m.training
    with pytest.raises(ValueError, match="temperature"):
        sample(m, v.encode, v.decode, "a", 1, 0.0)
    with pytest.raises(ValueError, match="unknown model"):
        C.train("gru")
