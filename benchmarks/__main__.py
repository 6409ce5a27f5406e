"""``python -m benchmarks``: tapegrad against PyTorch (and micrograd, and hand-written NumPy)
on the workloads of benchmarks/workloads.py; prints a table and writes benchmarks/RESULTS.md.

The thread settings go into os.environ here, before anything imports NumPy or torch.
"""
import argparse
import sys

from . import _env

KEYS = ("I", "W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "M1")


def parser():
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark tapegrad against PyTorch, micrograd and a NumPy floor. "
                    "Workloads: W1 scalar graph, W2 small tensors, W3 MLP train step, W4 CNN "
                    "train step, W5 deep chain (time, peak RSS), W6 Hessian-vector product, "
                    "W7 recording overhead, W8 LSTM train step, W9 Transformer encoder layer train "
                    "step (both at default threads and at 1 thread), M1 training memory, I "
                    "thread interference check.")
    ap.add_argument("--only", default=None,
                    help="comma-separated workloads to run, e.g. W1,W3 (default: all)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed repeats per contender (default 7; at least 7 unless --quick)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes and 2 short repeats (a smoke test; numbers mean nothing); "
                         "skips I unless --only names it; writes RESULTS.md only with --write")
    ap.add_argument("--threads", default=None,
                    help="'default' (each framework at its own defaults, as users run them) or "
                         "a count for NumPy's BLAS, OpenMP, MKL, torch and tapegrad, all equal; "
                         "by default both runs, one after the other, reported side by side "
                         "(targets are judged at the defaults)")
    ap.add_argument("--rows-json", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--omp-wait-policy", default=_env.DEFAULT_WAIT_POLICY,
                    help="OMP_WAIT_POLICY for the run (default PASSIVE; 'unset' leaves it unset)")
    ap.add_argument("--blas", choices=("auto", "mkl", "numpy"), default=None,
                    help="who computes tapegrad's large matrix products (TAPEGRAD_BLAS; default "
                         "auto: MKL when the mkl package is installed, else NumPy's BLAS)")
    ap.add_argument("--device", default="cpu",
                    help="cpu (default: the workloads above), or cuda: W3 at batch 4096 and W4 "
                         "at batch 512 on the GPU against PyTorch CUDA, written to "
                         "benchmarks/RESULTS-cuda.md (needs CuPy and a CUDA build of torch)")
    ap.add_argument("--no-write", action="store_true", help="do not write benchmarks/RESULTS.md")
    ap.add_argument("--write", action="store_true", help="write RESULTS.md even with --quick")
    ap.add_argument("--output", default=None, help="where to write the results (default "
                                                   "benchmarks/RESULTS.md)")
    return ap


def parse(argv=None):
    ap = parser()
    args = ap.parse_args(argv)
    if args.only:
        keys = [k.strip().upper() for k in args.only.split(",") if k.strip()]
        bad = [k for k in keys if k not in KEYS]
        if bad:
            ap.error(f"unknown workload(s) {', '.join(bad)}; choose from {', '.join(KEYS)}")
        args.selected = [k for k in KEYS if k in keys]
    else:
        args.selected = [k for k in KEYS if not (args.quick and k == "I")]
    if args.repeats is None:
        args.repeats = 2 if args.quick else 7
    if args.repeats < (1 if args.quick else 7):
        ap.error("--repeats must be at least 7 (or at least 1 with --quick)")
    if args.threads not in (None, "default") and not (args.threads.isdigit()
                                                      and int(args.threads) >= 1):
        ap.error("--threads must be 'default' or a count of at least 1")
    args.write_results = (not args.no_write) and (args.write or not args.quick)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv=None):
    args = parse(argv)
    policy = "" if args.omp_wait_policy.lower() in ("", "unset", "none") else args.omp_wait_policy
    if args.threads is None:
        if args.device == "cpu":
            from . import columns   # two runs in fresh processes, then one report
            return columns.main(args)
        args.threads = "default"
    args.env_settings = _env.configure(args.threads, policy, args.blas)
    _env.configure_torch(args.threads)
    if args.device != "cpu":
        from . import cuda
        return cuda.main(args)
    from . import harness  # imports NumPy: only now that the environment is set
    return harness.main(args)


if __name__ == "__main__":
    sys.exit(main())
