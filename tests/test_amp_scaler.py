"""tg.amp.GradScaler against torch.amp.GradScaler over a scripted run of finite, inf and NaN
gradients (the same scales, skipped steps and parameters), its errors and state dicts, and
digits trained under bf16 autocast and under fp16 with the scaler."""
import math

import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad.examples import digits

INF, NAN = math.inf, math.nan
#: per iteration, the gradient of the (unscaled) loss for a 3-element parameter
SCRIPT = [[1.0, -2.0, 0.5]] * 4 + [[1.0, INF, 0.0]] + [[0.25, 0.5, -1.0]] * 3 + \
         [[NAN, 1.0, 1.0]] + [[-1.0, 1.0, 2.0]] * 2 + [[-INF, 0.0, 0.0]] + [[3.0, 1.0, 1.0]]
KW = dict(init_scale=2.0 ** 4, growth_factor=2.0, backoff_factor=0.5, growth_interval=3)


def _run(lib, unscale_first):
    """(scales after each update, parameter after each step) for the script."""
    if lib == "tg":
        p = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
        opt = tg.optim.SGD([p], lr=0.1)
        scaler = tg.amp.GradScaler("cpu", **KW)
        const = tg.tensor
    else:
        p = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.1)
        scaler = torch.amp.GradScaler("cpu", **KW)
        const = torch.tensor
    scales, params = [], []
    for g in SCRIPT:
        opt.zero_grad()
        loss = (p * const(g)).sum()
        scaler.scale(loss).backward()
        if unscale_first:
            scaler.unscale_(opt)
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
        params.append(np.array(p.detach().numpy() if lib == "torch" else p._data))
    return scales, params


@pytest.mark.parametrize("unscale_first", [False, True])
def test_same_scales_skips_and_parameters_as_torch(unscale_first):
    s_tg, p_tg = _run("tg", unscale_first)
    s_t, p_t = _run("torch", unscale_first)
    assert s_tg == s_t
    assert s_tg[:5] == [16.0, 16.0, 32.0, 32.0, 16.0]      # grew after 3 clean steps, then
    for a, b in zip(p_tg, p_t):                              # backed off on the inf
        np.testing.assert_array_equal(a, b)
    skipped = [i for i in range(1, len(SCRIPT)) if np.array_equal(p_tg[i], p_tg[i - 1])]
    assert skipped == [4, 8, 11]                             # the inf, NaN and -inf steps


def test_errors_match_torch():
    p = tg.tensor([1.0], requires_grad=True)
    opt = tg.optim.SGD([p], lr=0.1)
    scaler = tg.amp.GradScaler()
    scaler.scale((p * 2).sum()).backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match=r"unscale_\(\) has already been called on this "
                                           r"optimizer since the last update\(\)"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match=r"step\(\) has already been called"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match=r"unscale_\(\) is being called after step\(\)"):
        scaler.unscale_(opt)
    scaler.update()
    with pytest.raises(RuntimeError, match="No inf checks"):
        scaler.update()
    with pytest.raises(RuntimeError, match="Closure"):
        scaler.step(opt, closure=lambda: 0)
    h = tg.tensor([1.0], dtype=tg.float16, requires_grad=True)
    opt16 = tg.optim.SGD([h], lr=0.1)
    scaler.scale((h * 2).sum()).backward()
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
        scaler.unscale_(opt16)


def test_state_dict_round_trips_with_torch():
    ours = tg.amp.GradScaler(init_scale=8.0, growth_interval=5)
    theirs = torch.amp.GradScaler("cpu", init_scale=8.0, growth_interval=5)
    theirs.scale(torch.tensor(1.0))            # torch creates its scale lazily
    assert set(ours.state_dict()) == set(theirs.state_dict())
    assert ours.state_dict()["scale"] == theirs.state_dict()["scale"] == 8.0
    sd = dict(theirs.state_dict(), scale=2.0, _growth_tracker=3)
    ours.load_state_dict(sd)
    assert ours.get_scale() == 2.0 and ours.state_dict()["_growth_tracker"] == 3
    with pytest.raises(RuntimeError, match="empty"):
        ours.load_state_dict({})


def test_disabled_scaler_and_nested_outputs():
    off = tg.amp.GradScaler(enabled=False)
    x = tg.tensor(3.0)
    assert off.scale(x) is x and off.get_scale() == 1.0 and off.state_dict() == {}
    on = tg.amp.GradScaler(init_scale=4.0)
    a, (b, c) = on.scale([x, (x * 2, x.half())])
    assert float(a) == 12.0 and float(b) == 24.0 and float(c) == 12.0
    with pytest.raises(TypeError, match="tensor"):
        on.scale("loss")


def test_scaler_refuses_to_be_compiled():
    p = tg.tensor([1.0], requires_grad=True)
    opt = tg.optim.SGD([p], lr=0.1)
    scaler = tg.amp.GradScaler()

    @tg.compile
    def step(x):
        opt.zero_grad()
        scaler.scale((p * x).sum()).backward()
        scaler.step(opt)
        return p
    with pytest.raises(Exception, match="outside the compiled function"):
        step(tg.tensor([2.0]))


def test_digits_mixed_precision_accuracy():
    """A short run (2 epochs of the CNN, the same seed): bf16 autocast, and fp16 autocast
    with the scaler, end within 0.5 points of float32's test accuracy."""
    base = digits.train(epochs=2, seed=0, model="cnn", quiet=True, plot=False)["test_acc"]
    for amp in ("bf16", "fp16"):
        r = digits.train(epochs=2, seed=0, model="cnn", quiet=True, plot=False, amp=amp)
        assert r["amp"] == amp
        assert abs(r["test_acc"] - base) <= 0.005, (amp, r["test_acc"], base)
        assert r["net"][0].weight.dtype == tg.float32


def test_digits_cli_takes_amp(tmp_path, capsys):
    digits.main(["--epochs", "1", "--model", "mlp", "--amp", "bf16", "--no-plot", "--quiet",
                 "--out", str(tmp_path)])
    assert "with bf16 autocast" in capsys.readouterr().out
