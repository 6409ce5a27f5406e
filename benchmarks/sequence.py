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
tg.compile and PyTorch eager in this (fresh) process, A B A B, and prints one JSON line:
the harness (``python -m benchmarks --only W8,W9``) runs it once with every library at its
default thread count (no thread variable set) and once with all at 1 thread, because a
library's thread pool is sized when it loads.
"""
import argparse
import json
import os
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


def contenders(key, sizes=None, has_torch=True):
    """[(name, unit)] of CONTENDERS (without PyTorch when it is missing)."""
    out = [("tapegrad eager", build(key, "tapegrad", sizes).unit),
           ("tapegrad compiled", build(key, "tapegrad", sizes, compiled=True).unit)]
    if has_torch:
        out.append(("torch eager", build(key, "torch", sizes).unit))
    return out


def child_env(threads):
    """The environment of a timing process: ours with every thread variable set to
    ``threads``, or none set for "default" (each library's own default)."""
    env = _env.child_env()
    for name in _env.THREAD_VARS:
        env.pop(name, None)
    if threads != "default":
        env.update({name: str(threads) for name in _env.THREAD_VARS})
    return env


def measure(key, threads, repeats, quick=False):
    """Run this module in a fresh process at ``threads`` ("default" or a count); its JSON."""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = [sys.executable, "-m", "benchmarks.sequence", key, "--threads", str(threads),
           "--repeats", str(repeats)] + (["--quick"] if quick else [])
    res = subprocess.run(cmd, env=child_env(threads), cwd=root, capture_output=True, text=True)
    if res.returncode:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["?"]
        return {"error": tail[0]}
    return json.loads(res.stdout.strip().splitlines()[-1])


#: targets: tapegrad's time over PyTorch eager's, eager and under tg.compile
TARGETS = {"eager": 1.3, "tg.compile": 1.0}

WORKLOADS_MD = """- **W8**: `nn.LSTM(256, 256, num_layers=2)` on a (64, 32, 256) time-major input (sequence
  64, batch 32), `mse_loss` against a fixed target, `backward()`, `SGD(lr=0.01).step()`.
- **W9**: `nn.TransformerEncoderLayer(256, 4, dim_feedforward=1024, dropout=0.1,
  batch_first=True)` in training mode on (32, 128, 256), the same loss and step.
- W8 and W9 start from one PyTorch model's weights (its `state_dict` copied into
  tapegrad's layer) and are timed by `python -m benchmarks.sequence` in a fresh process per
  thread setting, tapegrad eager, tapegrad under `tg.compile` and PyTorch eager A B A B
  (each warmed up with 4 steps first): once with no thread variable set (each library at its
  own default: OpenBLAS, MKL and torch size their pools by the cores), once with all at 1
  thread. Each row pair is tapegrad (eager, or compiled) against the same PyTorch timings."""


def run(harness, key):
    """The harness's W8/W9: rows of eager and compiled tapegrad against PyTorch eager, at
    the harness's thread setting, in a fresh process."""
    from .timing import Timing
    threads = harness.args.threads
    harness.log(f"  {key}: threads {threads}, fresh subprocess")
    res = measure(key, threads, harness.args.repeats, harness.quick)
    if "error" in res:
        harness.skipped.append((key, f"failed: {res['error']}"))
        return
    t = {n: Timing(n, v["per_unit"], v["units"]) for n, v in res["timings"].items()}
    desc = res["info"]["description"]
    for mode, name in (("eager", "tapegrad eager"), ("tg.compile", "tapegrad compiled")):
        pair = {"tapegrad": t[name]}
        if "torch eager" in t:
            pair["torch"] = t["torch eager"]
        bound = TARGETS[mode]
        harness.add_times(key, f"{desc}; {mode}", pair, 1e3, "ms/step",
                          {"torch": (bound, f"≤ {bound}×")})
    harness.notes[f"{key} {threads}"] = res["info"]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sequence")
    ap.add_argument("workload", choices=sorted(SIZES))
    ap.add_argument("--threads", default="default",
                    help="'default' (each library's own) or a count set before import")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    if a.threads != "default":
        _env.configure(int(a.threads))
    torch = _env.configure_torch(a.threads) if a.threads != "default" else None
    from . import timing
    from .workloads import have_torch
    has_torch = have_torch()
    if has_torch and torch is None:
        import torch
    sizes = SIZES[a.workload][1 if a.quick else 0]
    cs = contenders(a.workload, sizes, has_torch)
    for _, unit in cs:   # tg.compile traces, and numba compiles its kernels, in the first calls
        for _ in range(1 if a.quick else WARM_CALLS):
            unit()
    t = timing.interleaved(cs, a.repeats,
                           0.01 if a.quick else 0.2, 0.02 if a.quick else 0.3)
    info = {"torch threads": torch.get_num_threads() if has_torch else None,
            "thread pools": _env.thread_pools(), "description": describe(a.workload, sizes)}
    print(json.dumps({"info": info, "timings": {n: {"per_unit": v.per_unit,
                                                    "units": v.units_per_repeat}
                                                for n, v in t.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
