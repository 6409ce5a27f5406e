"""``python -m benchmarks --device cuda``: tapegrad on CuPy against PyTorch CUDA eager on the
same GPU, in one process; writes benchmarks/RESULTS-cuda.md.

Workloads: W3 (the MLP training step of workloads.py) at batch 4096 and W4 (the CNN step) at
batch 512, as each framework's user writes them, from the same initial weights. tapegrad
runs eager and under ``tg.compile``. Every timed repeat ends with a device synchronise, so
the times are of finished work. Targets: eager <= 1.5x PyTorch eager, compiled <= 1.0x.
"""
import datetime
import os
import platform

import numpy as np

import tapegrad as tg

from . import timing
from . import workloads as W

CASES = (("W3", 4096), ("W4", 512))
TARGETS = {"eager": 1.5, "compiled": 1.0}


def _unavailable():
    """Why this run can't happen (None when it can)."""
    if not tg.cuda.is_available():
        try:
            tg.zeros(1, device="cuda")
        except RuntimeError as e:
            return f"tapegrad: {e}"
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed (pip install torch, a CUDA build)"
    if not torch.cuda.is_available():
        return "PyTorch sees no CUDA device (a CPU-only build?)"
    return None


def _models(key, batch):
    if key == "W3":
        weights = W.mlp_weights()
        X, y = W.batch(batch, (W.MLP_SIZES[0],), W.MLP_SIZES[-1])
        return W.tapegrad_mlp(weights), W.torch_mlp(weights), X, y
    weights = W.cnn_weights()
    X, y = W.batch(batch, W.CNN_INPUT)
    return W.tapegrad_cnn(weights), W.torch_cnn(weights), X, y


def _tapegrad_step(model, X, y, compiled):
    step = W.train_tapegrad(model, X, y, device="cuda", compiled=compiled).unit

    def unit():
        step()
        tg.cuda.synchronize()
    return unit, lambda: float(step())


def _torch_step(model, X, y, device):
    import torch
    step = W.train_torch(model, X, y, device=device).unit
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def unit():
        step()
        sync()
    return unit, lambda: float(step())


def run(repeats=7, log=print, cases=CASES, torch_device="cuda"):
    """[(workload, batch, {contender: median seconds per step})]; ``cases`` and
    ``torch_device`` change only for the tests (which run on the fake CUDA)."""
    rows = []
    for key, batch in cases:
        tg_model, torch_model, X, y = _models(key, batch)
        eager, eager_loss = _tapegrad_step(tg_model, X, y, compiled=False)
        tg_model2, _, _, _ = _models(key, batch)
        comp, comp_loss = _tapegrad_step(tg_model2, X, y, compiled=True)
        ref, ref_loss = _torch_step(torch_model, X, y, torch_device)
        losses = (eager_loss(), comp_loss(), ref_loss())   # same first loss: same work
        if not np.allclose(losses, losses[2], rtol=1e-3):
            raise RuntimeError(f"{key}: the frameworks' first losses differ: {losses}")
        times = timing.interleaved([("eager", eager), ("compiled", comp), ("torch", ref)],
                                   repeats, min_time=0.01 if cases is not CASES else 0.2)
        t = {k: v.median for k, v in times.items()}
        rows.append((key, batch, t))
        log(f"{key} batch {batch}: tapegrad eager {t['eager'] * 1e3:.2f} ms, compiled "
            f"{t['compiled'] * 1e3:.2f} ms, PyTorch {t['torch'] * 1e3:.2f} ms")
    return rows


def results_md(rows, gpu):
    lines = ["# tapegrad on CUDA (CuPy) against PyTorch CUDA eager", "",
             f"Written by `python -m benchmarks --device cuda` on "
             f"{datetime.date.today().isoformat()}: {gpu}, {platform.python_version()}, "
             f"tapegrad {tg.__version__}.", "",
             "Median time per training step (SGD, cross-entropy) over interleaved repeats, "
             "each ending with a device synchronise; ratio = tapegrad / PyTorch.", "",
             "| workload | batch | tapegrad eager | compiled | PyTorch eager | eager ratio "
             "(target <= 1.5x) | compiled ratio (target <= 1.0x) |",
             "|---|---|---|---|---|---|---|"]
    for key, batch, t in rows:
        e, c = t["eager"] / t["torch"], t["compiled"] / t["torch"]
        lines.append(f"| {key} | {batch} | {t['eager'] * 1e3:.2f} ms | "
                     f"{t['compiled'] * 1e3:.2f} ms | {t['torch'] * 1e3:.2f} ms | "
                     f"{e:.2f}x {'met' if e <= TARGETS['eager'] else 'missed'} | "
                     f"{c:.2f}x {'met' if c <= TARGETS['compiled'] else 'missed'} |")
    return "\n".join(lines) + "\n"


def main(args):
    why = _unavailable()
    if why is not None:
        raise SystemExit(f"python -m benchmarks --device cuda needs an NVIDIA GPU that both "
                         f"tapegrad (CuPy) and PyTorch can use: {why}")
    import cupy
    gpu = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    rows = run(repeats=args.repeats)
    if args.write_results:
        path = args.output or os.path.join(os.path.dirname(__file__), "RESULTS-cuda.md")
        with open(path, "w") as f:
            f.write(results_md(rows, gpu))
        print(f"wrote {path}")
    return 0
