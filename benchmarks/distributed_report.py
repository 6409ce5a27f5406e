"""The report of ``python -m benchmarks.distributed`` (RESULTS-distributed.md) and the
ring-allreduce cost model it extrapolates to many machines with."""
import datetime
import json
import statistics

from . import _env

# -- the model for many machines ------------------------------------------------------------
LINKS = {"10 Gb/s Ethernet (TCP)": (10e9 / 8, 25e-6), "100 Gb/s InfiniBand/RoCE (RDMA)":
         (100e9 / 8, 2e-6)}   # bytes/s at line rate, network latency per message (assumed)


def fit(sizes, seconds):
    """alpha (s per call) and beta (bytes/s) of t = alpha + n / beta: alpha from the
    smallest message, beta from the slope between 1 MiB and the largest."""
    alpha = seconds[0]
    i = next(k for k, n in enumerate(sizes) if n >= 1 << 20)
    beta = (sizes[-1] - sizes[i]) / (seconds[-1] - seconds[i])
    return alpha, beta


def ring(n, p, bw, latency, alpha, gamma):
    """Seconds of a ring allreduce of n bytes over p ranks: 2(p-1) steps, each a message of
    n/p bytes (latency + this machine's per-call cost alpha, a conservative stand-in for the
    software cost of one step), 2(p-1)/p * n bytes through each link, (p-1)/p * n bytes
    reduced at gamma s/byte."""
    return 2 * (p - 1) * (latency + alpha) + 2 * (p - 1) / p * n / bw + (p - 1) / p * n * gamma


def largest(budget, p, bw, latency, alpha, gamma):
    """The most bytes a ring allreduce moves within ``budget`` seconds (0 if none)."""
    fixed = 2 * (p - 1) * (latency + alpha)
    per_byte = 2 * (p - 1) / p / bw + (p - 1) / p * gamma
    return max(0.0, (budget - fixed) / per_byte)


def dense_limit(p, bw, gamma, s_per_madd, batch):
    """Efficiency a large dense model tends to without overlap: compute 3 multiply-adds
    per parameter per sample (forward + backward) against 4 bytes per parameter in a ring."""
    compute = 3 * batch * s_per_madd
    comm = 2 * (p - 1) / p * 4 / bw + (p - 1) / p * 4 * gamma
    return compute / (compute + comm)


# -- the report -----------------------------------------------------------------------------
def report(res, command, global_batch):
    """The markdown text for the measurements ``res`` of ``distributed.measure``."""
    info = _env.machine_info()
    tp, kept = res["throughput"], res["kept"]
    med = {k: statistics.median(v) for k, v in tp.items()}
    ratio = med["single"] / med["ddp"]
    paired = [a / b for a, b in zip(tp["single"], tp["ddp"])]
    comp = res["compute"]
    ar = res["allreduce"]
    alpha, beta = fit(ar["sizes"], ar["seconds"])
    gamma = comp["add_s_per_byte"]
    ms = lambda s: f"{1e3 * s:.2f}"
    half = global_batch // 2
    rows = (("single", f"1 process, batch {global_batch}"),
            ("ddp", f"2 ranks x {half}, DistributedDataParallel"),
            ("independent", f"2 processes x {half} training alone (no communication)"))
    lines = [
        "# Data-parallel training over MPI",
        "",
        f"`{command}` on {datetime.date.today().isoformat()}: {info['cpu']}, {info['cores']} "
        f"cores, Python {info['python']}, NumPy {info['numpy']} ({info['blas']}), "
        f"{_mpi_version()}; one thread per rank (OMP/OpenBLAS/MKL_NUM_THREADS=1). Load "
        f"average before {_load(res['load_before'])}, after {_load(res['load_after'])} "
        f"(other jobs share this machine).",
        "",
        f"## W4 CNN SGD step, global batch {global_batch}",
        "",
        "Median step time of each launch (30 timed steps after 5 warm-up steps, ranks "
        "started together by a barrier; a launch in which a rank got less than 90% of a core, "
        f"other jobs taking it, was run again: {res['relaunched']} times in this run, up to "
        "3 times each); the setups alternate launch by launch, "
        f"{len(tp['single'])} rounds. tapegrad keeps freed memory in glibc's heap itself "
        "(backend: mmap threshold 64 MiB, trim 256 MiB), so that NumPy's large temporaries "
        "are not page-faulted in again every step; the last column sets glibc's thresholds "
        f"to 4 GiB through MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ instead "
        f"({len(kept['single'])} rounds).",
        "",
        "| setup | step (ms), median | min–max over launches | samples/s | step (ms), 4 GiB "
        "thresholds |",
        "|---|---|---|---|---|",
    ]
    for key, label in rows:
        v = tp[key]
        lines.append(f"| {label} | {ms(med[key])} | {ms(min(v))}–{ms(max(v))} | "
                     f"{global_batch / med[key]:,.0f} | {ms(statistics.median(kept[key]))} |")
    kept_ratio = statistics.median(kept["single"]) / statistics.median(kept["ddp"])
    lines += [
        "",
        f"Throughput ratio 2 ranks / 1 process: **{ratio:.2f}x** (per-round ratios "
        f"{min(paired):.2f}–{max(paired):.2f}x; fastest launch against fastest launch, the "
        f"least disturbed by other jobs, {min(tp['single']) / min(tp['ddp']):.2f}x); target "
        f">= 1.8x: **{'met' if ratio >= 1.8 else 'not met'}**; with the 4 GiB thresholds "
        f"{kept_ratio:.2f}x.",
        "",
        f"Where the time goes: one process at batch {half} alone takes {ms(comp['w4_step_s'])} "
        f"ms per step, so two ranks that cost nothing would give "
        f"{med['single'] / comp['w4_step_s']:.2f}x. Two processes at batch {half} that never "
        f"communicate take {ms(med['independent'])} ms each "
        f"({med['independent'] / comp['w4_step_s']:.2f}x the lone process: the cores share the "
        f"memory system and the page faults), and DistributedDataParallel adds "
        f"{ms(med['ddp'] - med['independent'])} ms to that (its communication, below).",
        "",
        "## Communication in a DDP step (2 ranks, batch 128 each)",
        "",
        "Communication = time on the step's critical path starting bucket allreduces and "
        "waiting for them (including waiting for the other rank to get there). Overlap: each "
        "bucket starts as soon as its last gradient is ready, during backward; without: all "
        "buckets start after backward.",
        "",
        "| bucket_cap_mb | buckets | overlap | step (ms) | communication (ms) | share of step |",
        "|---|---|---|---|---|---|",
    ]
    for key, r in res["comm"].items():
        cap, overlap = key.split("/")
        buckets = 1 if float(cap) >= 1 else 3
        lines.append(f"| {float(cap):g} | {buckets} | {'yes' if overlap == 'True' else 'no'} | "
                     f"{ms(r['step_s'])} | {ms(r['comm_s'])} | "
                     f"{100 * r['comm_s'] / r['step_s']:.1f}% |")
    lines += [
        "",
        "## Allreduce on 2 ranks here (shared memory), float32, blocking",
        "",
        "| bytes | time (µs) | bytes/s |",
        "|---|---|---|",
    ]
    for n, t in zip(ar["sizes"], ar["seconds"]):
        lines.append(f"| {n:,} | {1e6 * t:,.1f} | {n / t / 1e9:.2f} GB/s |")
    lines += [
        "",
        f"Without the agreement check (as DDP's buckets). Fit t = alpha + n / beta: alpha = "
        f"{1e6 * alpha:.1f} µs per call (Python and MPI), beta = {beta / 1e9:.2f} GB/s. The "
        f"agreement check (an allgather of 16 int64 before each public collective) adds "
        f"{1e6 * ar['check_s']:.1f} µs to a call ({1e6 * ar['checked_small_s']:.1f} µs for a "
        f"checked 4-byte allreduce).",
        "",
        "## Ring allreduce for many machines (a model)",
        "",
        "T(n, p) = 2(p-1) (L + alpha) + 2 (p-1)/p n / B + (p-1)/p n gamma: 2(p-1) messages "
        "each paying the link latency L plus this machine's whole per-call cost alpha (a "
        "conservative stand-in for one ring step's software cost), each link carrying "
        "2(p-1)/p of the n bytes at line rate B, and (p-1)/p of them added at "
        f"gamma = {1e12 * gamma:.0f} ps/byte (a float32 add here). Assumed latencies: 25 µs "
        "per message for TCP over 10 Gb/s Ethernet, 2 µs for RDMA over 100 Gb/s.",
        "",
        f"Efficiency of a step whose compute takes T_c is T_c / (T_c + exposed communication). "
        f"With W4's compute at 128 samples per rank (T_c = {ms(comp['w4_step_s'])} ms, of which "
        f"backward about {ms(comp['w4_step_s'] - comp['w4_forward_s'])} ms), the largest "
        f"gradient that keeps >= 90% is the n with T(n) <= T_c / 9 when nothing overlaps, or "
        f"T(n) <= backward + T_c / 9 when communication hides behind backward. A dense model "
        f"instead grows its compute with its size (3 multiply-adds per parameter per sample at "
        f"{1e12 * comp['s_per_madd']:.1f} ps each, this machine's float32 GEMM on one thread): "
        f"its efficiency without overlap tends to the limit in the last column as it grows.",
        "",
        "| link | ranks | 1 MB (ms) | 100 MB (ms) | largest float32 model at >= 90%, W4's "
        "compute, no overlap | with backward overlapped | dense model limit, 128 samples/rank |",
        "|---|---|---|---|---|---|---|",
    ]
    bwd = comp["w4_step_s"] - comp["w4_forward_s"]
    for link, (bw, lat) in LINKS.items():
        for p in (8, 64):
            args = (p, bw, lat, alpha, gamma)
            plain = largest(comp["w4_step_s"] / 9, *args)
            hidden = largest(bwd + comp["w4_step_s"] / 9, *args)
            lines.append(f"| {link} | {p} | {ms(ring(1e6, *args))} | {ms(ring(1e8, *args))} "
                         f"| {_params(plain)} | {_params(hidden)} | "
                         f"{100 * dense_limit(p, bw, gamma, comp['s_per_madd'], 128):.0f}% |")
    lines += ["", "Raw numbers (JSON):", "", "```", json.dumps(res, indent=1), "```", ""]
    return "\n".join(lines)


def _params(nbytes):
    if nbytes <= 0:
        return "none (latency alone exceeds the budget)"
    return f"{nbytes / 4 / 1e6:,.2f} M parameters ({nbytes / 1e6:,.1f} MB)"


def _load(avg):
    return " ".join(f"{v:.2f}" for v in avg)


def _mpi_version():
    try:
        from importlib.metadata import version
        return f"mpi4py {version('mpi4py')}, MPICH {version('mpich')} (wheel)"
    except Exception:
        return "mpi4py"
