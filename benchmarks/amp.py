"""Mixed precision on W3 (the MLP 784-256-256-10 training step): memory of the activations
the graph saves for backward, and time per step, float32 against tg.autocast.

    python -m benchmarks.amp                          # CPU, batch 1024, bf16 and fp16
    python -m benchmarks.amp --device cuda --batch 4096 --dtypes fp16   # CuPy, and torch AMP

Saved memory is counted exactly, not sampled: after the forward pass the graph is walked
and every array a node keeps for its backward (saved inputs and outputs, cached
intermediates) is summed once per buffer, leaving out the parameters and the input batch
(they exist without the graph). It is reported in two parts: activations (what the ops
compute) and, under autocast, the low-precision copies of the weights and of the input batch
(``.to`` of a leaf), which exist only for the graph too. Times are medians of ``--repeats``
steps after two warm-up steps. Writes benchmarks/RESULTS-amp.md (``--out``).
"""
import argparse
import os
import statistics
import time

from . import _env

DTYPES = ("bf16", "fp16")


def saved_bytes(loss, exclude):
    """(activation bytes, cast-copy bytes): the distinct buffers the graph behind ``loss``
    keeps for backward, without the buffers of the tensors in ``exclude`` (parameters,
    inputs); cast copies are the outputs of ``.to`` applied to a leaf or to the data
    (see :func:`_leaf_cast`)."""
    from tapegrad import backend
    from tapegrad.core.tensor import Tensor
    skip = {id(_root(t._data)) for t in exclude}
    seen, total, casts, stack, nodes = set(), 0, 0, [loss.node], set()
    while stack:
        n = stack.pop()
        if n is None or id(n) in nodes or n.is_leaf:
            continue
        nodes.add(id(n))
        stack.extend(n.next)
        values = list(vars(n).values()) if hasattr(n, "__dict__") else []
        values += list(getattr(n, "_saved", None) or ()) + [getattr(n, "_out", None)]
        for v in values:
            arr = v._data if isinstance(v, Tensor) else v
            if backend.is_array(arr):
                root = _root(arr)
                if id(root) not in seen and id(root) not in skip:
                    seen.add(id(root))
                    if isinstance(v, Tensor) and _leaf_cast(v):
                        casts += root.nbytes
                    else:
                        total += root.nbytes
    return total, casts


def _leaf_cast(t):
    """A copy of a leaf or of the data: ``.to`` of a leaf, or a tensor no recorded op made
    (the cast of an input that takes no gradient is a constant)."""
    n = t.node
    return n is None or n.name == "to" and all(m is None or m.is_leaf for m in n.next)


def _root(arr):
    while getattr(arr, "base", None) is not None:
        arr = arr.base
    return arr


def tapegrad_run(batch_size, amp, device, repeats):
    """((activation MiB, cast-copy MiB), median seconds per step) of W3 in tapegrad, amp
    None/"bf16"/"fp16"."""
    import tapegrad as tg
    import tapegrad.nn.functional as TF
    from . import workloads as W
    from tapegrad.examples.amp import Precision
    model = W.tapegrad_mlp(W.mlp_weights()).to(device)
    X, y = W.batch(batch_size, (784,), 10)
    x, t = tg.tensor(X, device=device), tg.tensor(y, device=device)
    opt = tg.optim.SGD(model.parameters(), lr=W.LR)
    prec = Precision(amp, device)

    def step(measure=False):
        opt.zero_grad()
        with prec.autocast():
            loss = TF.cross_entropy(model(x), t)
        size = saved_bytes(loss, list(model.parameters()) + [x]) if measure else None
        prec.step(loss, opt)
        return size
    saved = step(measure=True)
    step()
    times = []
    for _ in range(repeats):
        tg.cuda.synchronize() if device != "cpu" else None
        t0 = time.perf_counter()
        step()
        tg.cuda.synchronize() if device != "cpu" else None
        times.append(time.perf_counter() - t0)
    return (saved[0] / 2 ** 20, saved[1] / 2 ** 20), statistics.median(times)


def torch_run(batch_size, amp, device, repeats):
    """(peak MiB allocated during a step on CUDA or None, median seconds) for PyTorch."""
    import torch
    from . import workloads as W
    model = W.torch_mlp(W.mlp_weights()).to(device)
    X, y = W.batch(batch_size, (784,), 10)
    x, t = torch.tensor(X, device=device), torch.tensor(y, device=device)
    opt = torch.optim.SGD(model.parameters(), lr=W.LR)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    scaler = torch.amp.GradScaler(device, enabled=amp == "fp16")

    def step():
        opt.zero_grad()
        with torch.autocast(device, dtype=dtype or torch.bfloat16, enabled=amp is not None):
            loss = torch.nn.functional.cross_entropy(model(x), t)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    step()
    step()
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize() if cuda else None
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize() if cuda else None
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else None
    return peak, statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.amp", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--batch", type=int, default=None, help="default 1024 (cpu), 4096 (cuda)")
    ap.add_argument("--dtypes", nargs="+", choices=DTYPES, default=None,
                    help="default bf16 and fp16 on the CPU, fp16 on CUDA")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "RESULTS-amp.md"))
    a = ap.parse_args(argv)
    _env.configure(a.threads)
    cuda = a.device.startswith("cuda")
    batch = a.batch or (4096 if cuda else 1024)
    dtypes = a.dtypes or (["fp16"] if cuda else list(DTYPES))
    rows = []
    base_mem, base_t = tapegrad_run(batch, None, a.device, a.repeats)
    rows.append(("tapegrad", "float32", base_mem, base_t))
    for d in dtypes:
        mem, t = tapegrad_run(batch, d, a.device, a.repeats)
        rows.append(("tapegrad", f"{d} autocast", mem, t))
    if not a.no_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            a.no_torch = True
    if not a.no_torch:
        _env.configure_torch(a.threads)
        for d in [None] + dtypes:
            mem, t = torch_run(batch, d, a.device, a.repeats)
            rows.append(("torch", "float32" if d is None else f"{d} autocast", mem, t))
    text = report(rows, base_mem, base_t, batch, a)
    print(text)
    with open(a.out, "w") as f:
        f.write(text)
    return rows


def report(rows, base_mem, base_t, batch, a):
    """The markdown table of the rows (memory and time relative to tapegrad's float32)."""
    lines = [f"# Mixed precision: W3 (MLP 784-256-256-10, SGD step) at batch {batch} on "
             f"{a.device}", "",
             f"`python -m benchmarks.amp --device {a.device} --batch {batch}` "
             f"({a.threads} thread(s); median of {a.repeats} steps)", "",
             "| framework | precision | saved activations (MiB) | vs float32 | + cast copies "
             "(MiB) | ms / step | vs float32 |", "|---|---|---:|---:|---:|---:|---:|"]
    for fw, prec, mem, t in rows:
        if fw == "tapegrad":
            lines.append(f"| {fw} | {prec} | {mem[0]:.2f} | {mem[0] / base_mem[0]:.2f}x | "
                         f"{mem[1]:.2f} | {t * 1e3:.1f} | {t / base_t:.2f}x |")
        else:
            peak = "-" if mem is None else f"{mem:.1f} (peak allocated)"
            lines.append(f"| {fw} | {prec} | {peak} | | | {t * 1e3:.1f} | {t / base_t:.2f}x |")
    lines += ["", "Saved activations: the buffers the ops compute that the graph keeps for "
              "backward, once each. Cast copies: the low-precision copies of the weights and "
              "of the input batch that autocast makes and the graph keeps (feed the batch in "
              "the low dtype to save its copy). Parameters and the input batch themselves are "
              "not counted. Time ratios are against tapegrad's float32 step on the same "
              "machine."]
    try:
        lines += ["", "Machine: " + _env.cpu_model()]
    except Exception:   # noqa: BLE001 - the description is optional
        pass
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
