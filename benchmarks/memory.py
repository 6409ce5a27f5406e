"""Peak RSS of one workload in this (fresh) process, for one framework; prints one JSON line.

A peak RSS is a high-water mark of the whole process, so the harness runs this module once
per framework and measurement:

    python -m benchmarks.memory chain --framework tapegrad --ops 100000       # W5
    python -m benchmarks.memory train --framework torch --steps 100 --batch 1024   # M1

"baseline" is the RSS after imports and setup (model, data, optimizer) and before the first
unit of work; "peak" is the process's peak RSS at the end (VmHWM, see rss_peak); in MiB.
"""
import argparse
import json
import sys

from . import _env


def _status(field):
    """A field of /proc/self/status in MiB, or None (not Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_now():
    """Resident set size now, MiB."""
    now = _status("VmRSS")
    return now if now is not None else rss_peak()


def rss_peak():
    """Peak resident set size of this program, MiB.

    VmHWM, the high-water mark of this process's address space, which starts afresh at
    exec. ru_maxrss is not usable here: Linux carries it across fork and execve, so a child
    of the (large) harness process would report the harness's RSS at fork time as its peak."""
    peak = _status("VmHWM")
    if peak is not None:
        return peak
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20  # kB on Linux, B on macOS


def _import(framework):
    """Import the framework first, as a user's script does: tapegrad's allocator settings
    (set at its import, see tapegrad.backend) then apply to the setup's arrays too, and the post-setup
    baseline does not depend on when the workloads module first touches tapegrad."""
    if framework in ("tapegrad", "torch"):
        __import__(framework)


def run_chain(framework, ops, repeats, shape=(4,)):
    import time
    _import(framework)
    from . import workloads as W
    impl = (W.chain_tapegrad if framework == "tapegrad" else W.chain_torch)(ops, shape)
    baseline = rss_now()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        impl.unit()
        times.append(time.perf_counter() - t0)
    return {"baseline": baseline, "peak": rss_peak(), "times": times, "ops": ops}


def run_train(framework, steps, batch_size, marks=(10,)):
    import time
    _import(framework)
    from . import workloads as W
    impl = W.w3(framework, batch_size)
    baseline = rss_now()
    rss = {}
    t0 = time.perf_counter()
    for i in range(1, steps + 1):
        impl.unit()
        if i in marks or i == steps:
            rss[i] = rss_now()
    elapsed = time.perf_counter() - t0
    return {"baseline": baseline, "peak": rss_peak(), "rss": rss, "steps": steps,
            "seconds_per_step": elapsed / steps}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", choices=["chain", "train"])
    ap.add_argument("--framework", choices=["tapegrad", "torch"], required=True)
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for BLAS/OpenMP/torch (default: as the environment says, else 1)")
    ap.add_argument("--ops", type=int, default=100_000, help="chain length (chain)")
    ap.add_argument("--repeats", type=int, default=1, help="chain runs (chain)")
    ap.add_argument("--steps", type=int, default=100, help="training steps (train)")
    ap.add_argument("--mark", type=int, default=10, help="also record RSS after this step")
    ap.add_argument("--batch", type=int, default=1024, help="batch size (train)")
    args = ap.parse_args(argv)
    import os
    threads = args.threads or int(os.environ.get("OMP_NUM_THREADS", 1))
    if args.threads or "OMP_NUM_THREADS" not in os.environ:
        _env.configure(threads, os.environ.get("OMP_WAIT_POLICY", _env.DEFAULT_WAIT_POLICY))
    if args.framework == "torch":
        if _env.configure_torch(threads) is None:
            print(json.dumps({"error": "torch not installed"}))
            return 2
    if args.case == "chain":
        out = run_chain(args.framework, args.ops, args.repeats)
    else:
        out = run_train(args.framework, args.steps, args.batch, marks=(args.mark,))
    out["framework"] = args.framework
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
