"""Peak memory of a 32-layer MLP's training step with activation checkpointing every 4 layers
versus without (issue: checkpointing). Memory is NumPy's allocations as tracemalloc sees them
(parameters included); the activation share is the peak minus what is held before forward.

    python -m benchmarks.checkpoint_memory          # prints a table, writes CHECKPOINT.md
"""
import datetime
import gc
import os
import pathlib
import platform
import time
import tracemalloc

import numpy as np

import tapegrad as tg
import tapegrad.nn as nn
from tapegrad.utils.checkpoint import checkpoint

LAYERS, EVERY, WIDTH, BATCH = 32, 4, 256, 2048


def model():
    tg.manual_seed(0)
    return [nn.Linear(WIDTH, WIDTH) for _ in range(LAYERS)]


def step(layers, x, use_checkpoint):
    def segment(a, b):
        def run(h):
            for layer in layers[a:b]:
                h = layer(h).relu()
            return h
        return run
    for layer in layers:
        layer.zero_grad()
    h = x
    for a in range(0, LAYERS, EVERY):
        run = segment(a, a + EVERY)
        h = checkpoint(run, h) if use_checkpoint else run(h)
    held, _ = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (0, 0)
    loss = (h * h).mean()
    loss.backward()
    return held


def measure(use_checkpoint, repeats=3):
    layers = model()
    x = tg.randn(BATCH, WIDTH)
    step(layers, x, use_checkpoint)  # warm up, allocate .grad
    peaks, helds, times = [], [], []
    for _ in range(repeats):
        for layer in layers:
            layer.zero_grad()
        gc.collect()
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        t0 = time.perf_counter()
        held = step(layers, x, use_checkpoint)
        times.append(time.perf_counter() - t0)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peaks.append(peak - base)
        helds.append(held - base)
    return min(helds), min(peaks), float(np.median(times))


def main():
    plain_held, plain_peak, plain_t = measure(False)
    ckpt_held, ckpt_peak, ckpt_t = measure(True)
    act = BATCH * WIDTH * 4  # one layer's float32 activation
    rows = [("without checkpointing", plain_held, plain_peak, plain_t),
            (f"checkpoint every {EVERY} layers", ckpt_held, ckpt_peak, ckpt_t)]
    lines = ["| run | held for backward after forward (MiB) | (in layer activations) "
             "| peak of the whole step (MiB) | step time (s) |", "|---|---|---|---|---|"]
    for name, held, peak, t in rows:
        lines.append(f"| {name} | {held / 2**20:.1f} | {held / act:.1f} | {peak / 2**20:.1f} "
                     f"| {t:.3f} |")
    lines.append(f"\nratio (checkpointed / plain): activation memory held "
                 f"{ckpt_held / plain_held:.2f}, peak {ckpt_peak / plain_peak:.2f}, "
                 f"time {ckpt_t / plain_t:.2f}")
    table = "\n".join(lines)
    print(table)
    header = (f"# Checkpointing benchmark\n\n`python -m benchmarks.checkpoint_memory` on "
              f"{datetime.date.today()}, {platform.machine()} with {os.cpu_count()} cores, "
              f"NumPy {np.__version__}, Python {platform.python_version()}. A {LAYERS}-layer "
              f"ReLU MLP, width {WIDTH}, batch {BATCH}, float32; memory is the peak of NumPy "
              f"allocations (tracemalloc) above what was held before the step (the parameters); "
              f"gradients are reset to None before each step, as a training loop does.\n\n")
    pathlib.Path(__file__).with_name("CHECKPOINT.md").write_text(header + table + "\n")


if __name__ == "__main__":
    main()
