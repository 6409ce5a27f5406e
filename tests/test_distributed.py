"""tapegrad.distributed on one process: what needs no mpiexec (import hygiene, errors before
init, the sampler's sharding against PyTorch's, bucket planning, signatures, the launcher).
Multi-process behaviour is in test_distributed_mpi.py."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.distributed as dist
from tapegrad.distributed import check
from tapegrad.distributed.reducer import assign_buckets
from tapegrad.utils.data import DistributedSampler

SRC = os.path.dirname(os.path.dirname(os.path.abspath(tg.__file__)))


def python(code, timeout=60):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_importing_tapegrad_and_the_package_loads_no_mpi():
    p = python("import sys, tapegrad, tapegrad.distributed, tapegrad.nn.parallel\n"
               "from tapegrad.distributed.algorithms.ddp_comm_hooks import default_hooks\n"
               "print(tapegrad.nn.DistributedDataParallel.__name__, 'mpi4py' in sys.modules)")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["DistributedDataParallel", "False"]


def test_without_mpi4py_init_says_how_to_install_it():
    p = python("import sys; sys.modules['mpi4py'] = None\n"
               "import tapegrad.distributed as dist\n"
               "try:\n    dist.init_process_group('mpi')\n"
               "except ImportError as e:\n    print(e)")
    assert "pip install 'tapegrad[mpi]'" in p.stdout, p.stdout + p.stderr


@pytest.mark.parametrize("call,name", [
    (lambda: dist.all_reduce(tg.ones(2)), "all_reduce"),
    (lambda: dist.broadcast(tg.ones(2), 0), "broadcast"),
    (lambda: dist.all_gather([tg.ones(2)], tg.ones(2)), "all_gather"),
    (lambda: dist.barrier(), "barrier"),
    (lambda: dist.send(tg.ones(2), 1), "send"),
    (lambda: dist.get_rank(), "get_rank"),
    (lambda: dist.get_world_size(), "get_world_size"),
    (lambda: dist.destroy_process_group(), "destroy_process_group"),
    (lambda: tg.nn.DistributedDataParallel(tg.nn.Linear(2, 2)), "DistributedDataParallel"),
    (lambda: DistributedSampler(range(4)), "get_world_size"),
])
def test_before_init_every_entry_point_says_so(call, name):
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match=rf"^{name}: .*not initialized"):
        call()


def test_only_the_mpi_backend_and_no_init_method():
    with pytest.raises(ValueError, match="backend 'nccl' is not available; .* use backend='mpi'"):
        dist.init_process_group("nccl")
    with pytest.raises(ValueError, match="init_method/store are not used with MPI"):
        dist.init_process_group("mpi", init_method="tcp://localhost:1234")
    assert dist.is_available() is True


def test_world_of_one_init_twice_destroy_and_again():
    pytest.importorskip("mpi4py")
    p = python(
        "import tapegrad as tg, tapegrad.distributed as dist\n"
        "dist.init_process_group('mpi')\n"
        "print(dist.is_initialized(), dist.get_rank(), dist.get_world_size())\n"
        "try:\n    dist.init_process_group('mpi')\nexcept RuntimeError as e:\n    print(e)\n"
        "t = tg.tensor([1.5, 2.0]); dist.all_reduce(t, dist.ReduceOp.AVG); print(t.tolist())\n"
        "dist.destroy_process_group(); print(dist.is_initialized())\n"
        "try:\n    dist.init_process_group('mpi', world_size=4)\n"
        "except ValueError as e:\n    print(e)\n"
        "dist.init_process_group('mpi', rank=0); print(dist.get_world_size())\n")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "True 0 1"
    assert "already initialized; call destroy_process_group() before" in lines[1]
    assert lines[2] == "[1.5, 2.0]" and lines[3] == "False"
    assert "world_size=4 but MPI started this process with world_size 1" in lines[4]
    assert lines[5] == "1"


# -- DistributedSampler -------------------------------------------------------------------
def test_sampler_matches_pytorch_without_shuffle():
    pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler
    for n in (1, 3, 10, 11, 12):
        for world in (1, 2, 3, 4):
            for drop in (False, True):
                for rank in range(world):
                    ours = DistributedSampler(range(n), world, rank, shuffle=False,
                                              drop_last=drop)
                    theirs = TorchSampler(range(n), world, rank, shuffle=False, drop_last=drop)
                    assert list(ours) == list(theirs) and len(ours) == len(theirs), \
                        (n, world, rank, drop)


def test_sampler_shards_pytorchs_permutation_the_same_way(monkeypatch):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler

    def torch_order(self):     # the permutation torch draws for this seed and epoch
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        return torch.randperm(len(self.dataset), generator=g).tolist()
    for n, world, drop in ((10, 3, False), (11, 4, True), (7, 2, False), (5, 8, False)):
        for rank in range(world):
            ours = DistributedSampler(range(n), world, rank, seed=7, drop_last=drop)
            theirs = TorchSampler(range(n), world, rank, seed=7, drop_last=drop)
            ours.set_epoch(3)
            theirs.set_epoch(3)
            monkeypatch.setattr(DistributedSampler, "permutation", torch_order)
            got = list(ours)
            monkeypatch.undo()
            assert got == list(theirs), (n, world, rank, drop)


def test_sampler_epochs_reshuffle_identically_on_every_rank():
    shards = lambda epoch: [_epoch(DistributedSampler(range(9), 3, r, seed=1), epoch)
                            for r in range(3)]
    e0, e1 = shards(0), shards(1)
    assert e0 != e1 and e0 == shards(0)
    for shard in (e0, e1):
        assert sorted(sum(shard, [])) == list(range(9))       # a partition of the data
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval "
                                         r"\[0, 2\]"):
        DistributedSampler(range(9), 3, 3)


def _epoch(sampler, epoch):
    sampler.set_epoch(epoch)
    return list(sampler)


# -- buckets and signatures ---------------------------------------------------------------
def test_buckets_fill_in_reverse_order_up_to_the_cap_and_split_dtypes():
    ps = [tg.zeros(10), tg.zeros(100), tg.zeros(5), tg.zeros(3, dtype=tg.float64),
          tg.zeros(2, dtype=tg.float64)]
    assert assign_buckets(ps, 1 << 20) == [[4, 3], [2, 1, 0]]
    assert assign_buckets(ps, 21) == [[4, 3], [2, 1], [0]]      # closes once >= 21 bytes
    assert assign_buckets(ps, 20) == [[4, 3], [2], [1], [0]]
    assert assign_buckets(ps, 1) == [[4], [3], [2], [1], [0]]


def test_signatures_describe_what_was_called():
    sig = check.signature("all_reduce", tg.float32, (2, 3), reduce_op=4)
    assert check.describe(sig) == ("all_reduce", 4, -1, "float32", (2, 3))
    deep = check.describe(check.signature("broadcast", tg.int8, tuple(range(1, 13)), root=2))
    assert deep[:4] == ("broadcast", 0, 2, "int8")
    assert deep[4].startswith("12-d, starting [1, 2, 3")
    a = check.signature("all_reduce", tg.float32, (4,))
    b = check.signature("all_reduce", tg.float32, (5,))
    assert check.compare(np.stack([a, a])) is None
    with pytest.raises(dist.CollectiveMismatchError,
                       match=r"all_reduce: the ranks disagree on the shape: rank 0: \[4\]; "
                             r"rank 1: \[4\]; rank 2: \[5\]"):
        check.compare(np.stack([a, a, b]))


# -- the launcher -------------------------------------------------------------------------
def test_launcher_finds_mpiexec_and_builds_the_command():
    pytest.importorskip("mpi4py")
    from tapegrad.distributed import run
    mpiexec = run.find_mpiexec()
    assert os.access(mpiexec, os.X_OK)
    cmd, dry = run.command(["-n", "4", "--hostfile", "hosts", "--dry-run", "train.py", "-n",
                            "7"])
    assert dry and cmd == [mpiexec, "-n", "4", "-f", "hosts", sys.executable, "-m",
                           "tapegrad.distributed.run", "--as-rank", "train.py", "-n", "7"]
    cmd, dry = run.command(["--nproc=2", "-m", "tapegrad.examples.digits", "--help"])
    assert not dry and cmd[1:3] == ["-n", "2"] and cmd[-3:] == ["-m", "tapegrad.examples.digits",
                                                                "--help"]
    with pytest.raises(SystemExit):
        run.command(["-n", "2"])


def test_benchmark_cost_model_fits_and_inverts():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    from benchmarks import distributed_report as B
    sizes = [4 << (2 * k) for k in range(13)]
    alpha, beta = B.fit(sizes, [5e-6 + n / 2e9 for n in sizes])
    assert alpha == pytest.approx(5e-6 + 4 / 2e9) and beta == pytest.approx(2e9)
    args = (8, 1.25e9, 25e-6, 5e-6, 1e-10)
    # 14 messages of 30 us, 1.75 * n bytes through the link, 0.875 * n added
    assert B.ring(1e6, *args) == pytest.approx(14 * 30e-6 + 1.75e6 / 1.25e9 + 0.875e6 * 1e-10)
    n = B.largest(2e-3, *args)
    assert B.ring(n, *args) == pytest.approx(2e-3)
    assert B.largest(1e-4, *args) == 0.0               # latency alone is over budget
    assert 0 < B.dense_limit(8, 1.25e9, 1e-10, 2e-11, 128) < 1


def test_the_wait_timeout_comes_from_the_argument_then_the_environment(monkeypatch):
    import datetime
    from tapegrad.distributed import liveness
    monkeypatch.delenv("TAPEGRAD_DISTRIBUTED_TIMEOUT", raising=False)
    assert liveness.timeout_seconds() == 1800.0                       # PyTorch's 30 minutes
    monkeypatch.setenv("TAPEGRAD_DISTRIBUTED_TIMEOUT", "2.5")
    assert liveness.timeout_seconds() == 2.5
    assert liveness.timeout_seconds(datetime.timedelta(minutes=1)) == 60.0
    with pytest.raises(ValueError, match="the timeout must be positive"):
        liveness.timeout_seconds(0)
