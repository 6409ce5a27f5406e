"""Does having torch in the process slow NumPy down (or the other way round)?

Each configuration runs in a fresh subprocess with its environment set before NumPy/torch are
imported, and times a float32 GEMM of the W3 first layer's shape, (B, 784) @ (784, 256), in
NumPy (OpenBLAS) and/or torch (MKL, OpenMP). Modes:

- ``numpy``: NumPy alone, torch never imported;
- ``numpy, torch imported``: ``import torch`` first, then NumPy alone;
- ``alternating``: torch and NumPy GEMMs alternate call by call (each timed on its own): the
  worst case of the harness's A B A B, where one library's idle workers may still be spinning
  when the other's call starts;
- ``torch``: torch alone.

    python -m benchmarks.interference [--threads 1,2] [--batch 128]
"""
import argparse
import json
import os
import subprocess
import sys

from . import _env

MODES = ("numpy", "numpy, torch imported", "alternating", "torch")
POLICIES = ("", "PASSIVE")  # "" = OMP_WAIT_POLICY unset (libgomp spins ~300,000 rounds first)


def _child(mode, batch, repeats, min_time):
    import statistics
    import time

    import numpy as np
    torch = None
    if mode != "numpy":
        import torch
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((batch, 784)).astype(np.float32)
    b = rng.standard_normal((784, 256)).astype(np.float32)
    calls = []
    if mode in ("numpy", "numpy, torch imported", "alternating"):
        calls.append(("numpy", lambda: a @ b))
    if mode in ("torch", "alternating"):
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        calls.append(("torch", lambda: ta @ tb))
    t0 = time.perf_counter()
    for _ in range(50):  # warm up and calibrate
        for _, f in calls:
            f()
    per_round = (time.perf_counter() - t0) / 50
    n = max(1, int(min_time / max(per_round, 1e-7)))
    out = {name: [] for name, _ in calls}
    for _ in range(repeats):
        spent = {name: 0.0 for name, _ in calls}
        for _ in range(n):  # call by call: A B A B
            for name, f in calls:
                t0 = time.perf_counter()
                f()
                spent[name] += time.perf_counter() - t0
        for name in spent:
            out[name].append(spent[name] / n)
    print(json.dumps({k: statistics.median(v) for k, v in out.items()}))


def measure(threads=(1, 2), batch=128, repeats=5, min_time=0.1, rounds=3, policies=POLICIES,
            modes=MODES):
    """Returns rows (threads, policy, mode, {"numpy": s, "torch": s}) measured in subprocesses.

    The configurations are run round-robin ``rounds`` times (A B C ... A B C ...) and each
    result is the median over rounds, so that load from other processes drifting over the
    run hits every configuration alike."""
    configs = [(t, policy, mode) for t in threads for policy in policies for mode in modes
               if not (mode == "numpy" and policy)]  # OpenBLAS ignores OMP_WAIT_POLICY
    results = {c: [] for c in configs}
    for _ in range(rounds):
        for t, policy, mode in configs:
            env = _env.child_env()
            env.update({v: str(t) for v in _env.THREAD_VARS})
            env.pop("OMP_WAIT_POLICY", None)
            if policy:
                env["OMP_WAIT_POLICY"] = policy
            cmd = [sys.executable, "-m", "benchmarks.interference", "--child", mode,
                   "--batch", str(batch), "--repeats", str(repeats), "--min-time", str(min_time)]
            res = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if res.returncode:
                raise RuntimeError(f"interference child failed: {res.stderr[-2000:]}")
            results[(t, policy, mode)].append(json.loads(res.stdout.splitlines()[-1]))
    import statistics
    rows = []
    for (t, policy, mode), runs in results.items():
        med = {lib: statistics.median(r[lib] for r in runs) for lib in runs[0]}
        rows.append((t, policy or "unset", mode, med))
    return rows


def table(rows, batch):
    base = {}
    for t, policy, mode, r in rows:
        if mode == "numpy":
            base[(t, "numpy")] = r["numpy"]
        if mode == "torch" and policy == "unset":
            base[(t, "torch")] = r["torch"]
    lines = [f"| threads | OMP_WAIT_POLICY | mode | NumPy GEMM (µs) | vs NumPy alone "
             f"| torch GEMM (µs) | vs torch alone, policy unset |",
             "|---|---|---|---|---|---|---|"]
    for t, policy, mode, r in rows:
        cells = []
        for lib in ("numpy", "torch"):
            if lib in r:
                ref = base.get((t, lib))
                cells += [f"{r[lib] * 1e6:.1f}", f"{r[lib] / ref:.2f}×" if ref else ""]
            else:
                cells += ["", ""]
        lines.append(f"| {t} | {policy} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.interference", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2", help="thread counts to try, comma-separated")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats in each subprocess")
    ap.add_argument("--min-time", type=float, default=0.1, help="seconds per repeat")
    ap.add_argument("--rounds", type=int, default=3, help="round-robin passes over the configs")
    ap.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.batch, args.repeats, args.min_time)
        return 0
    threads = [int(t) for t in args.threads.split(",")]
    rows = measure(threads, args.batch, args.repeats, args.min_time, args.rounds)
    print(f"GEMM ({args.batch}, 784) @ (784, 256), float32; per configuration the median of "
          f"{args.rounds} fresh subprocesses, each the median of {args.repeats} repeats\n")
    print(table(rows, args.batch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
