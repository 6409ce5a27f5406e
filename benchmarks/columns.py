"""``python -m benchmarks`` without ``--threads``: the run at each framework's defaults (the
primary column; targets are judged on it; no thread variable and no OMP_WAIT_POLICY set,
as users run them) and the run with both at 1 thread (the second view, with
OMP_WAIT_POLICY=PASSIVE), each in a fresh process because a library sizes its thread pool
when it loads, then one RESULTS.md: the defaults run's report with its table widened by the
1-thread columns."""
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import time

from . import _env

HERE = pathlib.Path(__file__).resolve().parent
SETTINGS = ("default", "1")
#: measured once, in the defaults run (thread-independent, or about thread interference)
DEFAULTS_ONLY = ("I", "M1")


def child(args, threads, tmp):
    """Run the harness at ``threads`` in a fresh process; its report and rows."""
    md, rows = tmp / f"{threads}.md", tmp / f"{threads}.json"
    keys = [k for k in args.selected if threads == "default" or k not in DEFAULTS_ONLY]
    if not keys:
        return None, {"rows": [], "skipped": []}
    given = _strip(args.argv, ("--only", "--output", "--threads"))
    cmd = [sys.executable, "-m", "benchmarks", *given, "--only", ",".join(keys),
           "--threads", threads, "--output", str(md), "--rows-json", str(rows)]
    if threads == "default" and not any(a.startswith("--omp-wait-policy") for a in given):
        cmd += ["--omp-wait-policy", "unset"]   # as users run them: OpenMP's own policy
    if args.write_results:
        cmd.append("--write")
    print(f"== {' '.join(cmd[1:])}", flush=True)
    res = subprocess.run(cmd, env=_env.child_env(), cwd=HERE.parent)
    if res.returncode or not rows.exists():
        raise SystemExit(f"benchmarks: the run at threads={threads} failed "
                         f"(exit {res.returncode})")
    return (md.read_text() if md.exists() else None), json.loads(rows.read_text())


def _strip(argv, options):
    """``argv`` without ``options`` (``--name value`` or ``--name=value``)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in options:
            skip = True
        elif a.split("=", 1)[0] not in options:
            out.append(a)
    return out


def _key(r):
    return r["workload"], r["what"], r["framework"]


def table(primary, second):
    """The defaults run's rows, each with the 1-thread run's median, ratio and verdict."""
    from .harness import Row, fmt
    other = {_key(r): r for r in second}
    lines = ["| workload | measure | framework | median (defaults) | unit | tapegrad / this "
             "(defaults) | paired ratio | target | met? | median (1 thread) | tapegrad / this "
             "(1 thread) | met at 1 thread? |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for d in primary:
        r, o = Row(**d), other.get(_key(d))
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else ""
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        paired = ""
        if r.paired:
            p = sorted(r.paired)
            paired = f"{p[len(p) // 2]:.2f}× ({p[0]:.2f}–{p[-1]:.2f})"
        o_val = o_ratio = o_met = ""
        if o is not None:
            o_val = fmt(o["value"], o["unit"])
            o_ratio = f"{o['ratio']:.2f}×" if o["ratio"] is not None else ""
            o_met = "" if o["met"] is None else ("yes" if o["met"] else "no")
        lines.append(f"| {r.workload} | {r.what} | {r.framework} | {fmt(r.value, r.unit)} "
                     f"| {r.unit} | {ratio} | {paired} | {r.target or ''} | {met} | {o_val} "
                     f"| {o_ratio} | {o_met} |")
    return "\n".join(lines)


def main(args):
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        md, primary = child(args, "default", tmp)
        _, second = child(args, "1", tmp)
    combined = table(primary["rows"], second["rows"])
    print()
    print(combined)
    if not args.write_results or md is None:
        return 0
    # the defaults run's report, its results table widened, its command the one given
    md = re.sub(r"^\| workload \| measure \|.*?(?=\n\n|\Z)", lambda m: combined, md,
                count=1, flags=re.M | re.S)
    cmd = "python -m benchmarks" + ("" if not args.argv else " " + " ".join(args.argv))
    md = re.sub(r"^`[^`\n]*python -m benchmarks[^`]*` — ([^,]*), [0-9.]+ minutes",
                lambda m: f"`{cmd}` — {m.group(1)}, {(time.perf_counter() - start) / 60:.1f} "
                          f"minutes (both runs)", md, count=1, flags=re.M)
    md = md.replace("## Results\n", "## Results\n\nTwo runs, each in a fresh process: at each "
                    "framework's defaults (the primary columns; targets are judged on them) and "
                    "both at 1 thread (the last three columns; I and M1 are measured in the "
                    "first run only).\n", 1)
    skipped = [s for s in second["skipped"] if s[0] not in DEFAULTS_ONLY]
    if skipped:
        md += "\nSkipped in the 1-thread run:\n" + "\n".join(f"- {w}: {y}" for w, y in skipped)
    path = pathlib.Path(args.output) if args.output else HERE / "RESULTS.md"
    path.write_text(md)
    print(f"wrote {path}")
    return 0
