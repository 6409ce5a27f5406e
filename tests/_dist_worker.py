"""What each rank runs in the distributed tests (tests/test_distributed_mpi.py launches
``mpiexec -n N python tests/_dist_worker.py <scenario> <outdir>``). Each rank writes what
it computed to ``<outdir>/rank<r>.npz`` (arrays) and ``rank<r>.json`` (messages); the tests
compare them with values computed in the pytest process. The training helpers are shared
with the tests, which run the same steps on one process as the reference.
"""
import json
import os
import sys
import time

import numpy as np

import tapegrad as tg
from tapegrad import nn

DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8")
B, STEPS = 4, 20


def base(rank, dtype, shape=(2, 3)):
    """Rank ``rank``'s input for the collective checks: small values, so products over three
    ranks fit int8."""
    return ((np.arange(np.prod(shape)).reshape(shape) % 3) + 1 + rank).astype(dtype)


# -- training, shared with the single-process reference in the tests ----------------------
def make_model(dtype, seed=0):
    tg.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(48, 10),
                          nn.Tanh(), nn.Linear(10, 4))
    return model.to(getattr(tg, dtype))


def data(dtype, world, steps=STEPS, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps * world * B, 1, 6, 6)).astype(dtype)
    y = rng.integers(0, 4, steps * world * B)
    return x, y


def make_opt(kind, params):
    if kind == "sgd":
        return tg.optim.SGD(params, lr=0.1, momentum=0.9)
    return tg.optim.Adam(params, lr=0.01)


def train(model, opt, x, y, rows, device=None):
    """STEPS steps; step s uses the rows ``rows(s)`` of the data (moved to ``device``)."""
    for s in range(STEPS):
        idx = rows(s)
        opt.zero_grad()
        out = model(tg.tensor(x[idx], device=device))
        nn.functional.cross_entropy(out, tg.tensor(y[idx], device=device)).backward()
        opt.step()
    return [p.detach().cpu().numpy().copy() for p in model.parameters()]


def reference(dtype, kind, world):
    """One process at batch world * B."""
    model = make_model(dtype)
    x, y = data(dtype, world)
    n = world * B
    return train(model, make_opt(kind, model.parameters()), x, y,
                 lambda s: np.arange(s * n, (s + 1) * n))


# -- what the ranks run -------------------------------------------------------------------
def collectives(dist, rank, world, out, msgs):
    R = dist.ReduceOp
    for dt in DTYPES:
        for op in ("SUM", "PRODUCT", "MIN", "MAX") + (("AVG",) if dt.startswith("float") else ()):
            t = tg.tensor(base(rank, dt))
            work = dist.all_reduce(t, getattr(R, op), async_op=(op == "MAX"))
            if work is not None:
                work.wait()
            out[f"all_reduce/{op}/{dt}"] = t.numpy()
        t = tg.tensor(base(rank, dt))
        dist.broadcast(t, src=world - 1)
        out[f"broadcast/{dt}"] = t.numpy()
        lst = [tg.zeros(2, 3, dtype=getattr(tg, dt)) for _ in range(world)]
        dist.all_gather(lst, tg.tensor(base(rank, dt)), async_op=True).wait()
        out[f"all_gather/{dt}"] = np.stack([t.numpy() for t in lst])
    # a transposed (non-contiguous) tensor is reduced and written back through its view
    t = tg.tensor(base(rank, "float32", (3, 2))).T
    dist.all_reduce(t)
    out["all_reduce/transposed"] = t.numpy()
    b = tg.tensor(np.array([rank == 0, False, True]))
    dist.all_reduce(b)                      # bool: SUM is a logical or
    out["all_reduce/bool"] = b.numpy()
    g = [tg.zeros(2, 3) for _ in range(world)] if rank == 1 else None
    dist.gather(tg.tensor(base(rank, "float32")), g, dst=1)
    if rank == 1:
        out["gather"] = np.stack([t.numpy() for t in g])
    t = tg.zeros(2, 3, dtype=tg.int64)
    dist.scatter(t, [tg.tensor(base(10 * i, "int64")) for i in range(world)] if rank == 0
                 else None, src=0)
    out["scatter"] = t.numpy()
    t = tg.zeros(2, 3, dtype=tg.int32)
    dist.reduce_scatter(t, [tg.tensor(base(rank + 10 * i, "int32")) for i in range(world)])
    out["reduce_scatter"] = t.numpy()
    t = tg.tensor(base(rank, "float64"))
    dist.reduce(t, dst=0, op=R.MAX)
    out["reduce"] = t.numpy()
    if rank == 0:
        dist.send(tg.arange(5.0) + 0.5, dst=world - 1)
    elif rank == world - 1:
        t = tg.zeros(5)
        msgs["recv_source"] = dist.recv(t)
        out["recv"] = t.numpy()
    dist.barrier()
    try:
        dist.all_reduce(tg.tensor([1, 2]), R.AVG)
    except TypeError as e:
        msgs["avg_int"] = str(e)
    # collectives are not recorded: a leaf stays a leaf, changed in place (version bumped)
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * x                                  # saves x for its backward
    dist.all_reduce(x)
    msgs["tape"] = [x.grad_fn is None, x.is_leaf, x.tolist()]
    try:
        y.sum().backward()
    except tg.InplaceModifiedError as e:
        msgs["tape_inplace"] = str(e)
    (x * 3).sum().backward()
    msgs["tape_grad"] = x.grad.tolist()


def mismatches(dist, rank, world, msgs):
    """Collectives that disagree across ranks: every rank gets the error, and the group
    stays usable (the check runs before any data moves)."""
    cases = {
        "shape": lambda: dist.all_reduce(tg.zeros(3 + rank)),
        "dtype": lambda: dist.all_reduce(tg.zeros(3, dtype=tg.float32 if rank else tg.int32)),
        "op": lambda: dist.all_reduce(tg.zeros(3), dist.ReduceOp.MAX if rank else
                                      dist.ReduceOp.SUM),
        "root": lambda: dist.broadcast(tg.zeros(3), src=rank),
        "collective": lambda: dist.broadcast(tg.zeros(3)) if rank else dist.all_reduce(
            tg.zeros(3)),
    }
    for name, call in cases.items():
        try:
            call()
            msgs[f"mismatch/{name}"] = None
        except dist.CollectiveMismatchError as e:
            msgs[f"mismatch/{name}"] = str(e)
    try:
        if rank == 0:
            dist.send(tg.zeros(2, 2), dst=1)
        elif rank == 1:
            dist.recv(tg.zeros(4))
        msgs["mismatch/recv"] = None
    except dist.CollectiveMismatchError as e:
        msgs["mismatch/recv"] = str(e)
    t = tg.ones(2)
    dist.all_reduce(t)
    out_ok = t.numpy().tolist()
    msgs["after_mismatches"] = out_ok


def ddp_training(dist, rank, world, out):
    DDP = nn.parallel.DistributedDataParallel
    for dtype, kind, cap in (("float64", "sgd", 25), ("float64", "adam", 0.0001),
                             ("float32", "sgd", 0.0001), ("float32", "adam", 25)):
        model = make_model(dtype, seed=rank)     # different per rank: DDP takes rank 0's
        ddp = DDP(model, bucket_cap_mb=cap)
        out[f"buckets/{dtype}/{kind}"] = np.array(len(ddp._reducer.buckets))
        x, y = data(dtype, world)
        n = world * B
        params = train(ddp, make_opt(kind, ddp.parameters()), x, y,
                       lambda s: np.arange(s * n + rank * B, s * n + (rank + 1) * B))
        for i, p in enumerate(params):
            out[f"ddp/{dtype}/{kind}/{i}"] = p


def local_grads(model, x, y, batches):
    """Gradients of the sum over ``batches`` of the mean losses, on this rank alone."""
    for p in model.parameters():
        p.grad = None
    for idx in batches:
        nn.functional.cross_entropy(model(tg.tensor(x[idx])), tg.tensor(y[idx])).backward()
    return [p.grad.numpy().copy() for p in model.parameters()]


def ddp_features(dist, rank, world, out, msgs):
    DDP = nn.parallel.DistributedDataParallel
    from tapegrad.distributed.algorithms.ddp_comm_hooks import default_hooks
    x, y = data("float32", world, steps=3)
    mine = [np.arange(k * B, (k + 1) * B) + rank * 3 * B for k in range(3)]
    # no_sync: two local backward passes, then a synced one averages the sum of all three
    model = make_model("float32")
    ddp = DDP(model, bucket_cap_mb=0.0005)
    with ddp.no_sync():
        for idx in mine[:2]:
            nn.functional.cross_entropy(ddp(tg.tensor(x[idx])), tg.tensor(y[idx])).backward()
    out["no_sync/after_local"] = model[0].weight.grad.numpy().copy()
    nn.functional.cross_entropy(ddp(tg.tensor(x[mine[2]])), tg.tensor(y[mine[2]])).backward()
    for i, p in enumerate(model.parameters()):
        out[f"no_sync/ddp/{i}"] = p.grad.numpy()
    for i, g in enumerate(local_grads(make_model("float32"), x, y, mine)):
        out[f"no_sync/local/{i}"] = g
    # fp16_compress_hook: float16 on the wire, the average cast back
    model = make_model("float32")
    ddp = DDP(model)
    ddp.register_comm_hook(None, default_hooks.fp16_compress_hook)
    nn.functional.cross_entropy(ddp(tg.tensor(x[mine[0]])), tg.tensor(y[mine[0]])).backward()
    for i, p in enumerate(model.parameters()):
        out[f"fp16/ddp/{i}"] = p.grad.numpy()
    for i, g in enumerate(local_grads(make_model("float32"), x, y, mine[:1])):
        out[f"fp16/local/{i}"] = g
    try:
        ddp.register_comm_hook(None, default_hooks.allreduce_hook)
    except RuntimeError as e:
        msgs["hook_twice"] = str(e)
    # buffers: rank 0's BatchNorm statistics reach every rank at each training forward
    bn = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ddp = DDP(bn)
    bn[1].running_mean._data[...] = rank + 1.0
    xs = tg.tensor(np.arange(12.0).reshape(4, 3).astype("float32"))
    ddp(xs)
    out["buffers/synced"] = bn[1].running_mean.numpy().copy()
    off = DDP(nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)), broadcast_buffers=False)
    off.module[1].running_mean._data[...] = rank + 1.0
    off(xs)
    out["buffers/not_synced"] = off.module[1].running_mean.numpy().copy()
    unused_parameters(dist, rank, out, msgs)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)

    def forward(self, x, use_b=False):
        return self.b(x) if use_b else self.a(x)


def unused_parameters(dist, rank, out, msgs):
    DDP = nn.parallel.DistributedDataParallel
    x = tg.tensor(np.ones((2, 3), dtype="float32") * (rank + 1))
    tg.manual_seed(0)
    ddp = DDP(TwoHeads(), find_unused_parameters=True)
    ddp(x, use_b=(rank == 1)).sum().backward()      # head b is used on rank 1 only
    for name, p in ddp.module.named_parameters():
        out[f"unused/{name}"] = p.grad.numpy() if p.grad is not None else np.array([])


def ddp_errors(dist, rank, msgs):
    DDP = nn.parallel.DistributedDataParallel
    x = tg.tensor(np.ones((2, 3), dtype="float32"))
    tg.manual_seed(0)
    ddp = DDP(TwoHeads())
    ddp(x).sum().backward()                           # head b unused, not declared
    try:
        ddp(x)
        msgs["unfinished"] = None
    except RuntimeError as e:
        msgs["unfinished"] = str(e)
    try:
        DDP(nn.Linear(3, 2 + rank))
        msgs["ddp_mismatch"] = None
    except dist.CollectiveMismatchError as e:
        msgs["ddp_mismatch"] = str(e)
    try:
        DDP(nn.Sequential(*[nn.Linear(3, 3) for _ in range(1 + rank)]))
        msgs["ddp_count"] = None
    except dist.CollectiveMismatchError as e:
        msgs["ddp_count"] = str(e)
    try:
        if rank == 0:
            DDP(nn.Linear(3, 2))
        else:
            dist.all_reduce(tg.zeros(2))
        msgs["ddp_vs_collective"] = None
    except dist.CollectiveMismatchError as e:
        msgs["ddp_vs_collective"] = str(e)


def on_gpu(dist, rank, world, out):
    """Collectives and a DDP step on (fake) CUDA tensors: staged through host memory, the
    results back on the device."""
    from tapegrad.backend.fake import fake_cuda
    with fake_cuda():
        t = tg.tensor(base(rank, "float64"), device="cuda")
        dist.all_reduce(t)
        out["gpu_sum"] = t.cpu().numpy()
        out["gpu_on_device"] = np.array(t.device == tg.device("cuda:0"))
        ddp = nn.parallel.DistributedDataParallel(make_model("float64", seed=rank).to("cuda"))
        assert all(p.device == tg.device("cuda:0") for p in ddp.parameters())
        x, y = data("float64", world)
        n = world * B
        params = train(ddp, make_opt("sgd", ddp.parameters()), x, y,
                       lambda s: np.arange(s * n + rank * B, s * n + (rank + 1) * B), "cuda")
        for i, p in enumerate(params):
            out[f"gpu_ddp/{i}"] = p


def sampler_shards(rank, world, out):
    from tapegrad.utils.data import DistributedSampler
    for n in (10, 11):
        for drop in (False, True):
            s = DistributedSampler(list(range(n)), shuffle=True, seed=3, drop_last=drop)
            s.set_epoch(2)
            out[f"sampler/{n}/{drop}"] = np.array(list(s))


def departures(dist, scenario, rank):
    """Rank 1 leaves (its program ends: the atexit hook leaves the group) while rank 0
    still waits for it: in a DDP step it never ran, an all_reduce it never started (checks
    off, so no signature exchange meets its shutdown), a recv it never sends; or (timeout)
    rank 1 is late by more than the 1 s limit."""
    if scenario == "uneven_ddp":
        model = nn.parallel.DistributedDataParallel(make_model("float64"), bucket_cap_mb=0)
        opt = make_opt("sgd", model.parameters())
        x, y = data("float64", 1)
        train_steps = 4 if rank == 1 else 7              # unequal shards, no sampler
        for s in range(train_steps):
            opt.zero_grad()
            idx = slice(s * B, (s + 1) * B)
            nn.functional.cross_entropy(model(tg.tensor(x[idx])), tg.tensor(y[idx])).backward()
            opt.step()
    elif scenario == "timeout":
        if rank == 1:
            time.sleep(5)
        dist.all_reduce(tg.ones(3))
    else:
        dist.set_checks(False)          # on every rank, or their collectives would differ
    if rank == 0 and scenario.startswith("departed"):
        if scenario == "departed_all_reduce":
            dist.all_reduce(tg.ones(3))
        else:
            dist.recv(tg.ones(3), src=1)
    if rank == 1:
        print(f"LEAVING AT {time.time()}", flush=True)


def main(scenario, outdir):
    import tapegrad.distributed as dist
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    out, msgs = {}, {}
    if scenario == "main":
        collectives(dist, rank, world, out, msgs)
        mismatches(dist, rank, world, msgs)
        ddp_training(dist, rank, world, out)
        sampler_shards(rank, world, out)
        on_gpu(dist, rank, world, out)
        ddp_errors(dist, rank, msgs)
        if world == 2:
            ddp_features(dist, rank, world, out, msgs)
    elif scenario == "raise":                    # rank 1 fails while rank 0 waits
        if rank == 1:
            print(f"RAISING AT {time.time()}", flush=True)
            raise ValueError("boom on rank 1")
        dist.all_reduce(tg.ones(3))
    elif scenario == "uncaught_mismatch":
        dist.all_reduce(tg.zeros(3 + rank))
    elif scenario == "exit_code":                # needs the launcher (python -m mpi4py)
        if rank == 1:
            sys.exit(3)
        dist.all_reduce(tg.ones(3))
    elif scenario == "early_exit":               # rank 1 ends while rank 0 still reduces
        if rank == 0:
            dist.all_reduce(tg.ones(3))
        return
    elif scenario in ("uneven_ddp", "departed_all_reduce", "departed_recv", "timeout"):
        departures(dist, scenario, rank)
        return
    np.savez(os.path.join(outdir, f"rank{rank}.npz"), **out)
    with open(os.path.join(outdir, f"rank{rank}.json"), "w") as f:
        json.dump(msgs, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
