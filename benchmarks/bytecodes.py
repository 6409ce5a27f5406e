"""Python bytecodes executed per unit of work: a deterministic measure of the engine's Python
overhead, for comparing changes on a machine whose timings move by 10-20% run to run.

    python -m benchmarks.bytecodes              # W1, W2 (per op) and W3 batch 128 (per step)
    python -m benchmarks.bytecodes W1 --top 15  # and the functions that execute the most

Counts come from ``sys.settrace`` opcode events over one unit after two warm-up units; NumPy's
C code, the BLAS and the collector are not counted (they are the same for any engine on
NumPy, or measured by the timing harness).
"""
import argparse
import collections
import sys

from . import workloads as W

UNITS = {   # name: (make the unit, units of work in one call, what a unit of work is)
    "W1": (lambda: W.w1_tapegrad(1000).unit, 1000, "op"),
    "W2": (lambda: W.chain_tapegrad(999, (16,)).unit, 999, "op"),
    "W3": (lambda: W.w3("tapegrad", 128).unit, 1, "step"),
}


def count(unit):
    """{(file, function, first line): bytecodes} executed by one call of ``unit``."""
    counts = collections.Counter()

    def tracer(frame, event, arg):
        frame.f_trace_opcodes = True
        if event == "opcode":
            code = frame.f_code
            counts[(code.co_filename.rsplit("/", 1)[-1], code.co_name, code.co_firstlineno)] += 1
        return tracer
    unit()
    unit()
    sys.settrace(tracer)
    try:
        unit()
    finally:
        sys.settrace(None)
    return counts


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bytecodes", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workloads", nargs="*", help=f"any of {', '.join(UNITS)} (default: all)")
    ap.add_argument("--top", type=int, default=0, help="also list the N costliest functions")
    args = ap.parse_args(argv)
    unknown = [w for w in args.workloads if w not in UNITS]
    if unknown:
        ap.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(UNITS)}")
    for name in args.workloads or list(UNITS):
        make, scale, what = UNITS[name]
        counts = count(make())
        print(f"{name}: {sum(counts.values()) / scale:,.0f} bytecodes per {what}")
        for (file, fn, line), n in counts.most_common(args.top):
            print(f"  {n / scale:9,.1f}  {fn} ({file}:{line})")


if __name__ == "__main__":
    main()
