"""W8 (an LSTM) and W9 (a Transformer encoder layer): one training step each, written as each
framework's user writes it, from the same initial weights (a PyTorch model made with a fixed
seed, its ``state_dict`` copied into the tapegrad model; tapegrad's own init when PyTorch is
missing).

- **W8**: ``nn.LSTM(256, 256, num_layers=2)`` on a (64, 32, 256) time-major input (sequence
  64, batch 32), ``mse_loss`` of the output against a fixed target, ``backward()``,
  ``SGD(lr=0.01).step()``.
- **W9**: ``nn.TransformerEncoderLayer(256, 4, dim_feedforward=1024, dropout=0.1,
  batch_first=True)`` on (32, 128, 256) (batch 32, sequence 128), in training mode (dropout
  on), the same loss and step.

Each builder returns a ``workloads.Impl`` (``unit()`` is one step, ``values()`` one step
returned as NumPy arrays for tests/test_benchmarks.py). ``compiled=True`` runs tapegrad's
step under ``tg.compile``.

``python -m benchmarks.sequence W8 --threads default`` times tapegrad eager, tapegrad under
tg.compile and PyTorch eager A B A B, each framework in its own worker process
(benchmarks/workers.py), and prints one JSON line; the harness (``python -m benchmarks
--only W8,W9``) times the same contenders in its workers, once per thread setting.
"""
import argparse
import json
import sys

from . import _env

#: the workloads' sizes: (default, quick)
SIZES = {
    "W8": (dict(input=256, hidden=256, layers=2, seq=64, batch=32),
           dict(input=16, hidden=16, layers=2, seq=8, batch=4)),
    "W9": (dict(d_model=256, nhead=4, ff=1024, seq=128, batch=32, dropout=0.1),
           dict(d_model=16, nhead=4, ff=32, seq=8, batch=4, dropout=0.1)),
}
LR = 0.01
SEED = 0
CONTENDERS = ("tapegrad eager", "tapegrad compiled", "torch eager")
WARM_CALLS = 4   # calls before timing (the harness's warm-up may stop after 2)


def describe(key, s):
    """The workload's short description for the results table."""
    if key == "W8":
        return (f"LSTM {s['layers']}×{s['hidden']} (input {s['input']}), seq {s['seq']}, "
                f"batch {s['batch']}")
    return (f"TransformerEncoderLayer {s['d_model']}, {s['nhead']} heads, ff {s['ff']}, "
            f"dropout {s['dropout']}, seq {s['seq']}, batch {s['batch']}")


def _data(shape, seed):
    import numpy as np
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape).astype(np.float32),
            rng.standard_normal(shape).astype(np.float32))


def _torch_model(key, s):
    import torch
    torch.manual_seed(SEED)
    if key == "W8":
        return torch.nn.LSTM(s["input"], s["hidden"], num_layers=s["layers"])
    return torch.nn.TransformerEncoderLayer(s["d_model"], s["nhead"], s["ff"], s["dropout"],
                                            batch_first=True)


def _tapegrad_model(key, s, state=None):
    import tapegrad as tg
    tg.manual_seed(SEED)
    if key == "W8":
        m = tg.nn.LSTM(s["input"], s["hidden"], num_layers=s["layers"])
    else:
        m = tg.nn.TransformerEncoderLayer(s["d_model"], s["nhead"], s["ff"], s["dropout"],
                                          batch_first=True)
    if state is not None:
        m.load_state_dict({k: tg.tensor(v) for k, v in state.items()})
    return m


def _initial_state(key, s):
    """The shared initial weights as NumPy arrays (PyTorch's init), or None without PyTorch."""
    from .workloads import have_torch
    if not have_torch():
        return None
    return {k: v.detach().numpy().copy() for k, v in _torch_model(key, s).state_dict().items()}


def _shape(key, s):
    if key == "W8":
        return (s["seq"], s["batch"], s["input"])
    return (s["batch"], s["seq"], s["d_model"])


def _values(step, model):
    from .workloads import _np
    loss = step()
    named = list(model.named_parameters())
    return {"loss": _np(loss), "names": [n for n, _ in named],
            "grads": [_np(p.grad) for _, p in named], "params": [_np(p) for _, p in named]}


def _output(key, out):
    return out[0] if key == "W8" else out   # LSTM: (output, (h_n, c_n))


def build(key, framework, sizes=None, compiled=False, dropout=None):
    """The training step of workload ``key`` ("W8" or "W9") for ``framework`` ("tapegrad" or
    "torch") as an Impl; ``sizes`` overrides SIZES' default, ``dropout`` W9's dropout."""
    from .workloads import Impl
    s = dict(sizes or SIZES[key][0])
    if dropout is not None:
        s["dropout"] = dropout
    x, target = _data(_shape(key, s), SEED + 1)
    state = _initial_state(key, s)
    if framework == "torch":
        import torch
        import torch.nn.functional as F
        model = _torch_model(key, s)
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=LR)
        xt, yt = torch.from_numpy(x), torch.from_numpy(target)

        def step():
            opt.zero_grad()
            loss = F.mse_loss(_output(key, model(xt)), yt)
            loss.backward()
            opt.step()
            return loss
        return Impl(step, lambda: _values(step, model))
    if framework != "tapegrad":
        raise ValueError(framework)
    import tapegrad as tg
    import tapegrad.nn.functional as TF
    model = _tapegrad_model(key, s, state)
    model.train()
    opt = tg.optim.SGD(model.parameters(), lr=LR)
    xt, yt = tg.tensor(x), tg.tensor(target)

    def train(inp, tgt):
        opt.zero_grad()
        loss = TF.mse_loss(_output(key, model(inp)), tgt)
        loss.backward()
        opt.step()
        return loss
    run = tg.compile(train) if compiled else train

    def step():
        return run(xt, yt)
    return Impl(step, lambda: _values(step, model))


def specs(key, sizes=None, has_torch=True):
    """The CONTENDERS as workers.Spec (without PyTorch when it is missing), each warmed up
    with WARM_CALLS steps in its worker: tg.compile traces, and numba compiles its kernels,
    in the first calls."""
    from .workers import Spec
    out = [Spec("tapegrad eager", build, key, "tapegrad", sizes, warm=WARM_CALLS),
           Spec("tapegrad compiled", build, key, "tapegrad", sizes, compiled=True,
                warm=WARM_CALLS)]
    if has_torch:
        out.append(Spec("torch eager", build, key, "torch", sizes, warm=WARM_CALLS))
    return out


#: targets: tapegrad's time over PyTorch eager's, eager and under tg.compile
TARGETS = {"eager": 1.3, "tg.compile": 1.0}

WORKLOADS_MD = """- **W8**: `nn.LSTM(256, 256, num_layers=2)` on a (64, 32, 256) time-major input (sequence
  64, batch 32), `mse_loss` against a fixed target, `backward()`, `SGD(lr=0.01).step()`.
- **W9**: `nn.TransformerEncoderLayer(256, 4, dim_feedforward=1024, dropout=0.1,
  batch_first=True)` in training mode on (32, 128, 256), the same loss and step.
- W8 and W9 start from one PyTorch model's weights (its `state_dict` copied into
  tapegrad's layer) and are timed like the others, tapegrad eager, tapegrad under
  `tg.compile` and PyTorch eager A B A B, each framework in its worker process (each
  contender warmed up with 4 steps first), in both runs (each library at its own default
  threads, and all at 1 thread). Each row pair is tapegrad (eager, or compiled) against the
  same PyTorch timings."""


def run(harness, key):
    """The harness's W8/W9: rows of eager and compiled tapegrad against PyTorch eager, at
    the harness's thread setting, each framework in its worker process."""
    sizes = SIZES[key][1 if harness.quick else 0]
    t = harness.time(specs(key, sizes, harness.has_torch))
    for mode, name in (("eager", "tapegrad eager"), ("tg.compile", "tapegrad compiled")):
        pair = {"tapegrad": t[name]}
        if "torch eager" in t:
            pair["torch"] = t["torch eager"]
        bound = TARGETS[mode]
        harness.add_times(key, f"{describe(key, sizes)}; {mode}", pair, 1e3, "ms/step",
                          {"torch": (bound, f"≤ {bound}×")})


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sequence")
    ap.add_argument("workload", choices=sorted(SIZES))
    ap.add_argument("--threads", default="default",
                    help="'default' (each library's own) or a count set before import")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    _env.configure(a.threads, "" if a.threads == "default" else _env.DEFAULT_WAIT_POLICY)
    from . import workers
    from .workloads import have_torch
    sizes = SIZES[a.workload][1 if a.quick else 0]
    with workers.Pool(a.threads) as pool:
        t = workers.interleaved(pool, specs(a.workload, sizes, have_torch()), a.repeats,
                                0.01 if a.quick else 0.2, 0.02 if a.quick else 0.3)
    print(json.dumps({"description": describe(a.workload, sizes),
                      "timings": {n: {"per_unit": v.per_unit, "units": v.units_per_repeat}
                                  for n, v in t.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
