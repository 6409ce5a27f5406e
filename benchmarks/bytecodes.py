"""Python bytecodes executed per unit of work: a deterministic measure of the engine's Python
overhead, for comparing changes on a machine whose timings move by 10-20% run to run.

    python -m benchmarks.bytecodes              # W1, W2 (per op) and W3 batch 128 (per step)
    python -m benchmarks.bytecodes W1 --top 15  # and the functions that execute the most
    python -m benchmarks.bytecodes --write      # record the counts in bytecodes.json

tests/test_bytecodes.py fails when a count rises more than 5% over the one recorded in
bytecodes.json (for the running Python's minor version), so a change that slows the engine
fails CI without a timed test; a change that makes it faster records its new counts.

Counts come from ``sys.settrace`` opcode events over one unit after two warm-up units; NumPy's
C code, the BLAS and the collector are not counted (they are the same for any engine on
NumPy, or measured by the timing harness).
"""
import argparse
import collections
import contextlib
import json
import pathlib
import sys

from . import workloads as W

UNITS = {   # name: (make the unit, units of work in one call, what a unit of work is)
    "W1": (lambda: W.w1_tapegrad(1000).unit, 1000, "op"),
    "W2": (lambda: W.chain_tapegrad(999, (16,)).unit, 999, "op"),
    "W3": (lambda: W.w3("tapegrad", 128).unit, 1, "step"),
}


RECORD = pathlib.Path(__file__).resolve().parent / "bytecodes.json"
TOLERANCE = 1.05


def python_version():
    return f"{sys.version_info.major}.{sys.version_info.minor}"


@contextlib.contextmanager
def pinned():
    """The same Python path on every machine: one thread and NumPy's BLAS (the thread count
    and an installed mkl package would otherwise pick other code around the products)."""
    tg = W.tg
    threads, want = tg.get_num_threads(), tg.backend._blas["want"]
    tg.set_num_threads(1)
    tg.backend.set_blas("numpy")
    try:
        yield
    finally:
        tg.set_num_threads(threads)
        tg.backend.set_blas(want)


def per_unit(name):
    """Bytecodes per unit of workload ``name`` (one of UNITS), on the pinned path."""
    make, scale, _ = UNITS[name]
    with pinned():
        return sum(count(make()).values()) / scale


def recorded():
    """{workload: bytecodes per unit} recorded for the running Python (None: none are)."""
    if not RECORD.exists():
        return None
    return json.loads(RECORD.read_text()).get(python_version())


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
    ap.add_argument("--write", action="store_true",
                    help=f"record the counts in {RECORD.name} for this Python version")
    args = ap.parse_args(argv)
    unknown = [w for w in args.workloads if w not in UNITS]
    if unknown:
        ap.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(UNITS)}")
    found = {}
    for name in args.workloads or list(UNITS):
        make, scale, what = UNITS[name]
        with pinned():
            counts = count(make())
        found[name] = round(sum(counts.values()) / scale)
        print(f"{name}: {found[name]:,} bytecodes per {what}")
        for (file, fn, line), n in counts.most_common(args.top):
            print(f"  {n / scale:9,.1f}  {fn} ({file}:{line})")
    if args.write:
        table = json.loads(RECORD.read_text()) if RECORD.exists() else {}
        table.setdefault(python_version(), {}).update(found)
        RECORD.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
        print(f"wrote {RECORD}")


if __name__ == "__main__":
    main()
