"""Does having torch in the process slow NumPy down (or the other way round)?

Times a float32 GEMM of the W3 first layer's shape, (128, 784) @ (784, 256), in NumPy
(OpenBLAS) and in torch (MKL on OpenMP), with the thread and wait-policy settings applied
before either is imported, in fresh subprocesses:

- ``numpy``: NumPy alone, torch never imported;
- ``imported``: ``import torch`` first (torch runs nothing), then NumPy alone. Compared with
  ``numpy`` across processes, so the configurations run round-robin several times and the
  median over processes is reported (with its min-max: the noise of a shared machine);
- ``mixed``: torch imported and used; in one process, A B A B over four kinds of block:
  NumPy GEMMs back to back; each NumPy GEMM right after a torch GEMM (only the NumPy one
  timed); torch back to back; each torch GEMM right after a NumPy GEMM. The in-process
  ratios show what one library's idle-but-spinning workers cost the other's next call.

    python -m benchmarks.interference [--threads 1,2] [--rounds 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

from . import _env

MODES = ("numpy", "imported", "mixed")
POLICIES = ("", "PASSIVE")  # "" = OMP_WAIT_POLICY unset (libgomp spins ~300,000 rounds first)
BATCH = 128


def _child(mode, repeats, min_time):
    import time

    import numpy as np
    torch = None
    if mode != "numpy":
        import torch
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((BATCH, 784)).astype(np.float32)
    b = rng.standard_normal((784, 256)).astype(np.float32)

    def np_gemm():
        return a @ b
    blocks = {"numpy": [np_gemm]}   # name -> calls per round; the last one is timed
    if mode == "mixed":
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)

        def torch_gemm():
            return ta @ tb
        blocks = {"numpy": [np_gemm], "numpy after torch": [torch_gemm, np_gemm],
                  "torch": [torch_gemm], "torch after numpy": [np_gemm, torch_gemm]}
    counts = {}
    for name, calls in blocks.items():  # warm up, and calibrate rounds per block
        rounds, t0 = 0, time.perf_counter()
        while rounds < 3 or time.perf_counter() - t0 < min_time / 4:
            for f in calls:
                f()
            rounds += 1
        counts[name] = max(1, int(min_time / ((time.perf_counter() - t0) / rounds)))
    out = {name: [] for name in blocks}
    clock = time.perf_counter
    for _ in range(repeats):
        for name, calls in blocks.items():  # A B A B
            *before, timed = calls
            spent = 0.0
            for _ in range(counts[name]):
                for f in before:
                    f()
                t0 = clock()
                timed()
                spent += clock() - t0
            out[name].append(spent / counts[name])
    print(json.dumps({k: statistics.median(v) for k, v in out.items()}))


def measure(threads=(1, 2), repeats=5, min_time=0.1, rounds=3, policies=POLICIES):
    """{(threads, policy): {"numpy": [s per process], "imported": [...], "mixed": [{...}]}},
    measured in subprocesses run round-robin ``rounds`` times (policy "unset" or a value)."""
    configs = [(t, p, m) for t in threads for p in policies for m in MODES
               if not (m == "numpy" and p)]  # OpenBLAS alone ignores OMP_WAIT_POLICY
    results = {}
    for _ in range(rounds):
        for t, policy, mode in configs:
            env = _env.child_env()
            env.update({v: str(t) for v in _env.THREAD_VARS})
            env.pop("OMP_WAIT_POLICY", None)
            if policy:
                env["OMP_WAIT_POLICY"] = policy
            cmd = [sys.executable, "-m", "benchmarks.interference", "--child", mode,
                   "--repeats", str(repeats), "--min-time", str(min_time)]
            res = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if res.returncode:
                raise RuntimeError(f"interference child failed: {res.stderr[-2000:]}")
            r = json.loads(res.stdout.splitlines()[-1])
            key = (t, "unset" if mode == "numpy" else (policy or "unset"))
            results.setdefault(key, {}).setdefault(mode, []).append(r if mode == "mixed"
                                                                    else r["numpy"])
    return results


def _med(xs):
    return statistics.median(xs)


def table(results):
    lines = ["| threads | OMP_WAIT_POLICY | NumPy GEMM, torch never imported (µs) "
             "| NumPy GEMM, torch imported but unused (µs) | ratio "
             "| in one process with torch used: NumPy right after torch ÷ NumPy alone "
             "| torch right after NumPy ÷ torch alone | NumPy alone / torch alone (µs) |",
             "|---|---|---|---|---|---|---|---|"]
    for t in sorted({t for t, _ in results}):
        base = results.get((t, "unset"), {}).get("numpy", [])
        for policy in ("unset", "PASSIVE"):
            r = results.get((t, policy))
            if not r or "imported" not in r:
                continue
            cells = []
            if base:
                cells.append(f"{_med(base) * 1e6:.0f} ({min(base) * 1e6:.0f}–"
                             f"{max(base) * 1e6:.0f})")
            else:
                cells.append("")
            imp = r["imported"]
            cells.append(f"{_med(imp) * 1e6:.0f} ({min(imp) * 1e6:.0f}–{max(imp) * 1e6:.0f})")
            cells.append(f"{_med(imp) / _med(base):.2f}×" if base else "")
            mixed = r.get("mixed", [])
            if mixed:
                ratio = [m["numpy after torch"] / m["numpy"] for m in mixed]
                tratio = [m["torch after numpy"] / m["torch"] for m in mixed]
                cells.append(f"{_med(ratio):.2f}× ({min(ratio):.2f}–{max(ratio):.2f})")
                cells.append(f"{_med(tratio):.2f}× ({min(tratio):.2f}–{max(tratio):.2f})")
                cells.append(f"{_med([m['numpy'] for m in mixed]) * 1e6:.0f} / "
                             f"{_med([m['torch'] for m in mixed]) * 1e6:.0f}")
            else:
                cells += ["", "", ""]
            lines.append(f"| {t} | {policy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(results):
    """Sentences reading the table (computed, so they follow the numbers)."""
    out = []
    for t in sorted({t for t, _ in results}):
        base = results.get((t, "unset"), {}).get("numpy", [])
        parts = []
        for policy in ("unset", "PASSIVE"):
            r = results.get((t, policy), {})
            if base and r.get("imported"):
                parts.append(f"importing torch (policy {policy}): NumPy "
                             f"{_med(r['imported']) / _med(base):.2f}×")
            if r.get("mixed"):
                ratio = _med([m["numpy after torch"] / m["numpy"] for m in r["mixed"]])
                tratio = _med([m["torch after numpy"] / m["torch"] for m in r["mixed"]])
                parts.append(f"alternating call by call (policy {policy}): NumPy {ratio:.2f}×, "
                             f"torch {tratio:.2f}×")
        if parts:
            out.append(f"- {t} thread{'s' if t > 1 else ''}: " + "; ".join(parts) + ".")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.interference", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2", help="thread counts to try, comma-separated")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats in each subprocess")
    ap.add_argument("--min-time", type=float, default=0.1, help="seconds per repeat and block")
    ap.add_argument("--rounds", type=int, default=3, help="round-robin passes over the configs")
    ap.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.repeats, args.min_time)
        return 0
    threads = [int(t) for t in args.threads.split(",")]
    results = measure(threads, args.repeats, args.min_time, args.rounds)
    print(f"GEMM ({BATCH}, 784) @ (784, 256), float32; medians over {args.rounds} fresh "
          f"processes per configuration (min–max), each the median of {args.repeats} repeats\n")
    print(table(results))
    print()
    print(summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
