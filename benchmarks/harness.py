"""The benchmark run behind ``python -m benchmarks`` (start it that way: __main__ sets the
thread environment before this module imports NumPy)."""
import datetime
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time
import traceback

from . import _env, workers
from . import workloads as W
from .workers import Spec

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent

# sizes: (default, quick)
SIZES = {
    "W1_ops": (10_000, 200),
    "W2_ops": (1_000, 90),
    "W3_batches": ((128, 1024), (8, 32)),
    "W4_batch": (64, 4),
    "W5_ops": ((100_000, 1_000_000), (1_000, 10_000)),
    "W6_batch": (128, 8),
    "W7_batch": (128, 8),
    "M1": ((100, 10, 1024), (10, 2, 32)),  # steps, early mark, batch
}

LINEAR_TOLERANCE = 1.25   # W5: per-op time at the longer chain at most this times the shorter's
GROWTH_TOLERANCE_MIB = 2  # M1: RSS after the last step at most this above the early mark


class Row:
    """One line of the results table."""

    def __init__(self, workload, what, framework, value, unit, lo=None, hi=None, n="",
                 ratio=None, target=None, met=None, paired=None):
        self.__dict__.update(locals())
        del self.__dict__["self"]


def fmt(v, unit=""):
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    a = abs(v)
    digits = 3 if a < 10 else (1 if a < 1000 else 0)
    if unit == "%":
        digits = 1
    return f"{v:,.{digits}f}" if a >= 1000 else f"{v:.{digits}f}"


def table(rows):
    lines = ["| workload | measure | framework | median | min–max | unit | repeats × units "
             "| tapegrad / this | paired ratio (min–max) | target | met? |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        span = f"{fmt(r.lo, r.unit)}–{fmt(r.hi, r.unit)}" if r.lo is not None else ""
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else ""
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        paired = ""
        if r.paired:
            paired = f"{statistics.median(r.paired):.2f}× ({min(r.paired):.2f}–{max(r.paired):.2f})"
        lines.append(f"| {r.workload} | {r.what} | {r.framework} | {fmt(r.value, r.unit)} "
                     f"| {span} | {r.unit} | {r.n} | {ratio} | {paired} | {r.target or ''} "
                     f"| {met} |")
    return "\n".join(lines)


class Run:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.rows = []
        self.skipped = []    # (what, why)
        self.notes = {}      # workload -> text for RESULTS.md
        self.has_torch = W.have_torch()
        self.has_micrograd = W.have_micrograd()
        self.min_time = 0.01 if self.quick else 0.2
        self.warmup_time = 0.02 if self.quick else 0.3
        self.pool = workers.Pool(args.threads)

    def size(self, key):
        return SIZES[key][1 if self.quick else 0]

    def log(self, msg):
        print(msg, flush=True)

    # -- helpers ---------------------------------------------------------------------------
    def time(self, specs):
        """Time ``specs`` (workers.Spec), each framework in its own worker process."""
        return workers.interleaved(self.pool, specs, self.args.repeats, self.min_time,
                                   self.warmup_time)

    def add_times(self, workload, what, timings, scale, unit, targets=None):
        """Rows for {framework: Timing}, tapegrad first; ratio tapegrad/other on the others.
        ``targets``: {framework: (max ratio, text)}."""
        targets = targets or {}
        tg_med = timings["tapegrad"].median if "tapegrad" in timings else None
        for name, t in timings.items():
            ratio = target = met = paired = None
            if name != "tapegrad" and tg_med is not None:
                ratio = tg_med / t.median
                paired = [a / b for a, b in zip(timings["tapegrad"].per_unit, t.per_unit)]
                if name in targets:
                    bound, target = targets[name]
                    met = ratio <= bound
            self.rows.append(Row(workload, what, name, t.median * scale, unit, t.min * scale,
                                 t.max * scale, f"{len(t.per_unit)} × {t.units_per_repeat}",
                                 ratio, target, met, paired))

    def subprocess(self, *args):
        cmd = [sys.executable, "-m", "benchmarks.memory", *map(str, args)]
        res = subprocess.run(cmd, env=_env.child_env(), cwd=ROOT, capture_output=True, text=True)
        if res.returncode:
            tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["?"]
            return {"error": tail[0]}
        return json.loads(res.stdout.strip().splitlines()[-1])

    def frameworks(self, workload, extra=()):
        out = ["tapegrad"]
        if self.has_torch:
            out.append("torch")
        else:
            self.skipped.append((f"{workload} torch", "torch is not installed"))
        return out + list(extra)

    # -- workloads ---------------------------------------------------------------------------
    def run_W1(self):
        ops = self.size("W1_ops")
        builders = {"tapegrad": W.w1_tapegrad, "torch": W.w1_torch}
        names = self.frameworks("W1")
        if self.has_micrograd:
            names.append("micrograd")
            builders["micrograd"] = W.w1_micrograd
        else:
            self.skipped.append(("W1 micrograd", "micrograd is not installed"))
        timings = self.time([Spec(n, builders[n], ops) for n in names])
        self.add_times("W1", f"scalar graph, {ops:,} ops, fwd+bwd", timings, 1e6 / ops, "µs/op",
                       {"torch": (1.0, "≤ 1.0×"), "micrograd": (1.0, "≤ 1.0×")})

    def run_W2(self):
        ops = self.size("W2_ops")
        builders = {"tapegrad": W.chain_tapegrad, "torch": W.chain_torch}
        timings = self.time([Spec(n, builders[n], ops, (16,)) for n in self.frameworks("W2")])
        self.add_times("W2", f"(16,) float32 chain, {ops:,} ops, fwd+bwd", timings, 1e6 / ops,
                       "µs/op", {"torch": (0.8, "≤ 0.8×")})

    def run_W3(self):
        for b in self.size("W3_batches"):
            # the floor's target is on the floor with tapegrad's GEMM (with NumPy's own BLAS
            # the two are one row): the engine's cost, not the BLAS's, is what it measures
            same = W.tg.backend.blas() == "numpy"
            names = self.frameworks("W3") + ["numpy"] + ([] if same else ["numpy-same-gemm"])
            timings = self.time([Spec(n, W.w3, n, b) for n in names])
            self.add_times("W3", f"MLP train step, batch {b}", timings, 1e3, "ms/step",
                           {"torch": (1.0, "≤ 1.0×"),
                            "numpy" if same else "numpy-same-gemm": (1.05, "≤ 1.05×")})

    def run_W4(self):
        b = self.size("W4_batch")
        timings = self.time([Spec(n, W.w4, n, b) for n in self.frameworks("W4")])
        # issue 19's two targets: with the mkl extra installed (whichever BLAS "auto" then
        # picks at this thread count), and with NumPy's BLAS alone
        from tapegrad.backend import _mkl
        mkl = _mkl.library_path() is not None and W.tg.backend._blas["want"] != "numpy"
        bound = 1.0 if mkl else 1.2
        self.add_times("W4", f"CNN train step, batch {b}", timings, 1e3, "ms/step",
                       {"torch": (bound, f"≤ {bound}×")})

    def run_W5(self):
        short, long_ = self.size("W5_ops")
        names = self.frameworks("W5")
        builders = {"tapegrad": W.chain_tapegrad, "torch": W.chain_torch}
        timings = self.time([Spec(n, builders[n], short, (4,)) for n in names])
        self.add_times("W5", f"(4,) chain, {short:,} ops, fwd+bwd (timed repeats)", timings,
                       1e6 / short, "µs/op")
        # fresh subprocess per framework and length: time of one run, and peak RSS
        sub = {}
        for ops in (short, long_):
            for n in names:
                self.log(f"  W5 subprocess: {n}, {ops:,} ops")
                sub[(n, ops)] = self.subprocess("chain", "--framework", n, "--ops", ops)
        for ops in (short, long_):
            per_op = {n: sub[(n, ops)] for n in names}
            self._memory_rows("W5", f"{ops:,} ops, one run in a fresh process", per_op, ops)
        for n in names:
            a, b = sub[(n, short)], sub[(n, long_)]
            if "error" in a or "error" in b:
                continue
            growth = (b["times"][0] / long_) / (a["times"][0] / short)
            self.rows.append(Row("W5", f"µs/op at {long_:,} ÷ µs/op at {short:,}", n, growth,
                                 "×", target=f"≤ {LINEAR_TOLERANCE} (linear)" if n == "tapegrad"
                                 else None, met=growth <= LINEAR_TOLERANCE if n == "tapegrad"
                                 else None))
        self.notes["W5"] = sub

    def _memory_rows(self, workload, what, results, ops):
        tg = results.get("tapegrad", {})
        for n, r in results.items():
            if "error" in r:
                self.rows.append(Row(workload, what, n, f"failed: {r['error']}", ""))
                continue
            t = r["times"][0] * 1e6 / ops
            ratio = None
            if n != "tapegrad" and "times" in tg:
                ratio = tg["times"][0] / r["times"][0]
            self.rows.append(Row(workload, f"{what}: time", n, t, "µs/op", ratio=ratio))
        for key, label in (("peak", "peak RSS"), ("above", "peak RSS above baseline")):
            for n, r in results.items():
                if "error" in r:
                    continue
                v = r["peak"] - (r["baseline"] if key == "above" else 0)
                ratio = None
                if n != "tapegrad" and "peak" in tg:
                    ratio = (tg["peak"] - (tg["baseline"] if key == "above" else 0)) / v
                self.rows.append(Row(workload, f"{what}: {label}", n, v, "MiB", ratio=ratio))

    def run_W6(self):
        b = self.size("W6_batch")
        timings = self.time([Spec(n, W.w6, n, b) for n in self.frameworks("W6")])
        self.add_times("W6", f"Hessian-vector product, MLP batch {b}", timings, 1e3, "ms",
                       {"torch": (1.0, "≤ 1.0×")})

    def run_W7(self):
        b = self.size("W7_batch")
        timings = self.time([Spec(f"{n} {k}", W.w7, n, b, pick=i) for n in self.frameworks("W7")
                             for i, k in enumerate(("recording", "no_grad"))])
        names = [n for n in ("tapegrad", "torch") if f"{n} recording" in timings]
        for n in names:
            pair = {k: timings[f"{n} {k}"] for k in ("recording", "no_grad")}
            for k, t in pair.items():
                self.rows.append(Row("W7", f"MLP forward + loss, batch {b}, {k}", n,
                                     t.median * 1e3, "ms", t.min * 1e3, t.max * 1e3,
                                     f"{len(t.per_unit)} × {t.units_per_repeat}"))
            # paired: each recorded repeat against the no_grad repeat timed right after it
            overs = [(a / b - 1) * 100 for a, b in zip(pair["recording"].per_unit,
                                                       pair["no_grad"].per_unit)]
            over = statistics.median(overs)
            is_tg = n == "tapegrad"
            self.rows.append(Row("W7", "recording overhead, paired repeats", n, over, "%",
                                 min(overs), max(overs), target="≤ 5%" if is_tg else None,
                                 met=(over <= 5) if is_tg else None))

    def run_W8(self):
        from . import sequence
        sequence.run(self, "W8")

    def run_W9(self):
        from . import sequence
        sequence.run(self, "W9")

    def run_M1(self):
        steps, mark, b = self.size("M1")
        names = self.frameworks("M1")
        res = {}
        for n in names:
            self.log(f"  M1 subprocess: {n}")
            res[n] = self.subprocess("train", "--framework", n, "--steps", steps, "--mark", mark,
                                     "--batch", b)
        what = f"{steps} MLP train steps, batch {b}"
        tg = res.get("tapegrad", {})
        for key, label, target in (("peak", "peak RSS", None),
                                   ("above", "peak RSS above post-setup baseline", "≤ 1.0×")):
            for n, r in res.items():
                if "error" in r:
                    self.rows.append(Row("M1", f"{what}: {label}", n, f"failed: {r['error']}", ""))
                    continue
                v = r["peak"] - (r["baseline"] if key == "above" else 0)
                ratio = met = None
                if n != "tapegrad" and "peak" in tg:
                    ratio = (tg["peak"] - (tg["baseline"] if key == "above" else 0)) / v
                    met = ratio <= 1.0 if target else None
                self.rows.append(Row("M1", f"{what}: {label}", n, v, "MiB", ratio=ratio,
                                     target=target if n != "tapegrad" else None, met=met))
        for n, r in res.items():
            if "error" in r:
                continue
            rss = {int(k): v for k, v in r["rss"].items()}
            growth = rss[steps] - rss[mark]
            is_tg = n == "tapegrad"  # the target is tapegrad's; torch is shown for reference
            self.rows.append(Row("M1", f"RSS after step {steps} − after step {mark}", n, growth,
                                 "MiB", target=f"≤ {GROWTH_TOLERANCE_MIB} MiB (no growth)"
                                 if is_tg else None,
                                 met=growth <= GROWTH_TOLERANCE_MIB if is_tg else None))
        self.notes["M1"] = res

    def run_I(self):
        from . import interference
        if not self.has_torch:
            self.skipped.append(("I", "torch is not installed"))
            return
        threads = sorted({1, 2} | ({self.args.threads} if self.args.threads != "default" else set()))
        kw = dict(repeats=1, min_time=0.01, rounds=1) if self.quick else \
            dict(repeats=3, min_time=0.1, rounds=3)
        self.notes["I kw"] = kw
        self.log(f"  I: {len(threads)} thread counts, fresh subprocesses")
        self.notes["I"] = interference.measure(threads, **kw)

    # -- the run -----------------------------------------------------------------------------
    def run(self):
        with self.pool:
            for key in self.args.selected:
                self.log(f"{key} ...")
                t0 = time.perf_counter()
                try:
                    getattr(self, f"run_{key}")()
                except Exception as exc:  # one broken workload must not lose the others' numbers
                    traceback.print_exc()
                    self.skipped.append((key, f"failed: {type(exc).__name__}: {exc}"))
                self.log(f"{key} done in {time.perf_counter() - t0:.1f} s")
        skipped_keys = [k for k in ("I", "W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9",
                                           "M1")
                        if k not in self.args.selected]
        if skipped_keys:
            why = "--quick (name it in --only to run it)" if self.quick and not self.args.only \
                else "not selected by --only"
            self.skipped.insert(0, (", ".join(skipped_keys), why))


def results_md(run, info_start, info_end, elapsed):
    args = run.args
    cmd = "python -m benchmarks" + ("" if not args.argv else " " + " ".join(args.argv))
    if os.environ.get("PYTHONPATH"):
        cmd = f"PYTHONPATH={os.environ['PYTHONPATH']} {cmd}"
    info_rows = "\n".join(f"| {k} | {v} |" for k, v in info_start.items()
                          if k not in ("load average",))
    env = ", ".join(f"{k}={v}" for k, v in args.env_settings.items())
    skipped = "\n".join(f"- {what}: {why}" for what, why in run.skipped) or "- nothing"
    interference = ""
    if "I" in run.notes:
        from . import interference as I
        kw = run.notes["I kw"]
        interference = (
            "Measured by this run (`python -m benchmarks.interference` runs the same check on "
            "its own; its docstring describes the modes): a float32 GEMM of W3's first layer, "
            "(128, 784) @ (784, 256), in fresh subprocesses run round-robin "
            f"{kw['rounds']} times; each cell is the median over those processes (min–max in "
            f"brackets) of the median of {kw['repeats']} repeats of ≥ {kw['min_time']} s.\n\n"
            + I.table(run.notes["I"]) + "\n\n" + I.summary(run.notes["I"]) + "\n")
    return f"""# Benchmark results

`{cmd}` — {datetime.datetime.now().strftime("%Y-%m-%d %H:%M")}, {elapsed / 60:.1f} minutes.

## Machine

| | |
|---|---|
{info_rows}
| load average (1, 5, 15 min) at start / end | {info_start.get("load average", "?")} / {info_end.get("load average", "?")} |

The machine is shared: other jobs were running during the run (see the load average; with 2
cores, a load above 1 means another process held a core part of the time). The A B A B
interleaving spreads that load over all contenders alike; the min–max column shows how much
it moved the numbers.

## Settings

- {threads_md(args)} The thread pools as loaded: {info_start.get("thread pools")}; {info_start.get("torch threads", "")}.
- `OMP_WAIT_POLICY={args.env_settings.get("OMP_WAIT_POLICY", "(unset)")}`: with PASSIVE,
  torch's and MKL's OpenMP workers (GNU libgomp) sleep when idle instead of spin-waiting;
  unset (the defaults run), each library behaves as it does for users. See "Interference"
  below.
- Each framework in its own process, as users run it (`benchmarks/workers.py`): one worker
  process per framework (tapegrad, torch, micrograd, the NumPy floor), started fresh for the
  run, imports only that framework. In one shared process, PyTorch's objects made every
  full collection of Python's garbage collector walk ~140,000 more objects (W1: tapegrad
  ~20% slower), and each library's idle threads spun on the core the other's next call wanted.
- Timing: each contender is called once untimed (first-use costs: lazy imports, numba
  loading its kernels), then warmed up (≥ 0.3 s and ≥ 2 calls, or 1 call for a unit longer
  than that) and its number of units per timed repeat calibrated once then, so that one
  repeat is ≥ 0.2 s of work; then {args.repeats} timed repeats alternate between contenders,
  A B A B, each run by its worker while the others wait, asleep, on their pipes.
  `gc.collect()` runs before each repeat; the garbage collector stays on while timing, as in
  a user's program. Reported: median per unit of work, and min–max over repeats.
- Same values everywhere: weights and inputs are made once with NumPy and copied into each
  framework (`load_state_dict`); tests/test_benchmarks.py checks that losses, gradients and
  updated weights agree between tapegrad, PyTorch, micrograd and the NumPy floor.

## Results

"tapegrad / this" is tapegrad's median over this row's median (below 1: tapegrad is faster);
the targets are judged on it. "paired ratio" is the median (min–max) over repeats of
tapegrad's repeat i over this row's repeat i, timed right after it: on a shared machine
whose load drifts, that pairing cancels most of the drift, so where the two ratios differ,
the paired one is the better estimate. W7's overhead is paired the same way (each recorded
repeat against the no_grad repeat right after it).

{table(run.rows)}

Skipped:

{skipped}

## Workloads

- **W1** scalar graph: from four leaf scalars a, b, c, d, 1,000 blocks of 10 ops —
  `x = x*a; x = x+b; x = tanh(x); y = x**2; y = y*c; x = x+y; x = tanh(x); z = x**3;
  x = x*d; x = x+z` — built eagerly, then `backward()` (10,000 ops). float64: 0-d float64
  tensors in tapegrad and torch, Python floats in micrograd. micrograd 0.1.0's `Value` has
  no `tanh` (only `relu`); the benchmark adds one written exactly like micrograd's `relu`.
  micrograd's `backward` sorts the graph by recursion, so the run raises Python's recursion
  limit for it.
- **W2**: `x = tanh(x*w + c)` repeated (3 ops per step) to 1,000 ops on float32 (16,)
  tensors, then `sum().backward()`; per op over the 1,000 chain ops.
- **W3**: `Sequential(Linear(784, 256), ReLU(), Linear(256, 256), ReLU(), Linear(256, 10))`,
  float32, `cross_entropy` on int64 labels, `SGD(lr=0.01)`: `zero_grad(); loss =
  F.cross_entropy(model(X), y); loss.backward(); step()`. "numpy" is the same step written by
  hand in NumPy (forward, softmax cross-entropy, backward, in-place SGD): the floor for an
  engine on NumPy.
- **W4**: `Conv2d(1, 8, 3), ReLU, MaxPool2d(2), Conv2d(8, 16, 3), ReLU, MaxPool2d(2),
  Flatten, Linear(400, 10)`, 28×28 inputs, batch 64, same step as W3.
- **W5**: the W2 chain on a float32 (4,) tensor, 100,000 ops, timed in the workers (A B A B);
  then 100,000 and 1,000,000 ops once each in a fresh process per framework and length
  (`python -m benchmarks.memory chain ...`) for the peak RSS (VmHWM, the process's
  high-water mark; the baseline is the RSS after imports and setup) and the time of that one run. "Linear" means the time per
  op at 1,000,000 ops is within {LINEAR_TOLERANCE}× of that at 100,000 (both from fresh
  processes); completing at all means no RecursionError.
- **W6**: Hessian-vector product of the W3 loss (batch 128) w.r.t. all six parameters:
  `grads = grad(loss, params, create_graph=True)`, `dot = sum((g * v).sum())` with a fixed
  vector v, `grad(dot, params)` (`tg.grad` and `torch.autograd.grad`).
- **W7**: W3's forward and loss at batch 128, recorded (grad mode on; the graph is dropped
  unused) vs under `no_grad()`; overhead = median over repeats of (recorded / no_grad) − 1,
  the two timed back to back.
{_sequence_md(run)}- **M1**: 100 W3 training steps at batch 1024 in a fresh process per framework
  (`python -m benchmarks.memory train ...`); peak RSS (VmHWM), the RSS after setup
  (model, data, optimizer built; before step 1), and the RSS after step 10 and step 100. The
  target ratio uses the peak **above the post-setup baseline** (what training itself adds;
  the absolute peak is dominated by torch's ~200 MiB of libraries and is shown for
  reference). No growth: RSS after step 100 at most {GROWTH_TOLERANCE_MIB} MiB above that
  after step 10.

## Interference between NumPy and torch in one process

What was seen: importing torch slowed NumPy GEMMs by ~35% in one microbenchmark on this 2-core
machine. The likely cause is idle worker threads spin-waiting: torch's OpenMP workers (GNU
libgomp spins about 300,000 rounds before sleeping unless `OMP_WAIT_POLICY=PASSIVE`) and
OpenBLAS's own workers both busy-wait after a parallel call, and with 2 cores a spinning
worker of one library takes the core that the other library's next call wants.

What this harness does about it: users run each framework at its default thread count
and wait policy, each in its own program, so that is the primary run (issue 19: no thread
variable, no `OMP_WAIT_POLICY`), with each framework in its own worker process
(`benchmarks/workers.py`): no framework's threads or objects share a process with
another's, and while one worker times its repeat the others sleep on their pipes, so only
workers that have just finished can still be spinning. (PASSIVE, tried first, made
PyTorch's CNN step 4.8 ms instead of 3.1 ms: it measured the policy, not the libraries.)
The run with both at 1 thread (no worker threads at all, nothing can spin) is the second
view, less exposed to the noise described next; it keeps `OMP_WAIT_POLICY=PASSIVE`
(harmless at 1 thread). The settings are made before NumPy and torch are imported, in the
harness and in every process it starts.

What was found while building this (2-core VM shared with other jobs, load average 2–3):

- At 1 thread, neither importing torch nor alternating torch and NumPy call by call moved
  either library's GEMM by more than the spread between processes of one configuration
  (the min–max in the table below; the ratios flipped either way between runs). There is
  nothing to spin.
- At 2 threads the numbers are dominated by oversubscription: while another job holds one
  of the two cores, a 2-thread GEMM waits for its descheduled worker, and NumPy alone
  swung from 0.4 ms to 24 ms between processes (24 ms came back again and again: likely
  one scheduler period, the time the worker waits for a core). Alternating the libraries makes it worse
  (NumPy GEMMs several times slower right after a torch call, in the same process).
  Spinning makes it worse still: in one-off checks with `OMP_WAIT_POLICY=ACTIVE` (OpenMP
  workers never sleep) a torch GEMM took 11–17 ms instead of 0.7–1.7 ms with PASSIVE, and
  NumPy after torch 35–63 ms. `GOMP_SPINCOUNT=0` and `OPENBLAS_THREAD_TIMEOUT=4` (OpenBLAS
  workers stop spinning sooner) made no difference that stood out of the noise.
- So the ~35% seen before is consistent with 2-thread pools (the default on this machine)
  fighting over 2 cores, not with anything torch does to NumPy as such. Results with
  more than one thread on this machine move with its load: read the defaults columns with
  the paired ratio and the min–max beside them, and the 1-thread columns as the steadier
  view.

{interference}
{(HERE / "WHERE_TIME_GOES.md").read_text()}"""


def threads_md(args):
    """The Settings bullet saying how many threads each framework had."""
    env = ", ".join(f"{k}={v}" for k, v in args.env_settings.items())
    if args.threads == "default":
        return ("Threads: **each framework at its defaults**, as users run them: no thread "
                f"variable set ({env or 'nothing set'}); PyTorch sizes its pool by the cores, "
                "tapegrad by `tg.get_num_threads()` (the cores).")
    return (f"Threads: **{args.threads}** for both frameworks. Set in `os.environ` before NumPy "
            f"or torch is imported: {env}; then `torch.set_num_threads({args.threads})` and "
            f"`torch.set_num_interop_threads({args.threads})`.")


def _sequence_md(run):
    """The W8/W9 bullets of the Workloads section, when the run measured them."""
    if not {"W8", "W9"} & set(run.args.selected):
        return ""
    from . import sequence
    return sequence.WORKLOADS_MD + "\n"


def tapegrad_source():
    """Which tapegrad is measured: its version, where it was imported from, and the commit
    (with a note when its source has uncommitted changes)."""
    import tapegrad
    path = pathlib.Path(tapegrad.__file__).resolve().parent
    text = f"{tapegrad.__version__} from {path}"
    try:
        top = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, check=True).stdout.strip()
        sha = subprocess.run(["git", "-C", top, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", top, "status", "--porcelain", "--", str(path)],
                               capture_output=True, text=True, check=True).stdout.strip()
        text += f", commit {sha}" + (" plus uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    return text


def main(args):
    t_start = time.perf_counter()
    info_start = {"tapegrad": tapegrad_source(), **_env.machine_info()}
    run = Run(args)
    print(f"tapegrad benchmarks: threads={args.threads}, repeats={args.repeats}"
          f"{', quick' if args.quick else ''}; workloads {', '.join(args.selected)}", flush=True)
    run.run()
    info_end = _env.machine_info()
    print()
    print(table(run.rows))
    if "I" in run.notes:
        from . import interference
        print()
        print(interference.table(run.notes["I"]))
        print(interference.summary(run.notes["I"]))
    print()
    for what, why in run.skipped:
        print(f"skipped: {what}: {why}")
    elapsed = time.perf_counter() - t_start
    if args.rows_json:   # for benchmarks.columns, which reports two runs side by side
        pathlib.Path(args.rows_json).write_text(json.dumps(
            {"rows": [r.__dict__ for r in run.rows], "skipped": run.skipped}))
    if args.write_results:
        path = pathlib.Path(args.output) if args.output else HERE / "RESULTS.md"
        path.write_text(results_md(run, info_start, info_end, elapsed))
        print(f"wrote {path}")
    print(f"total {elapsed:.0f} s")
    return 0
