"""tapegrad.distributed on real processes: pytest launches ``mpiexec -n 2`` (and ``-n 3``)
on tests/_dist_worker.py, which writes what each rank computed; the checks here compare it
with values computed on this one process. One launch runs many checks (startup dominates).
Every launch has a timeout, so a hang fails instead of blocking CI."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import tapegrad as tg

pytest.importorskip("mpi4py")
from tapegrad.distributed.run import find_mpiexec  # noqa: E402

import _dist_worker as W  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "_dist_worker.py")
TIMEOUT = 120


def env():
    """This environment, with the tested tapegrad first on the ranks' import path."""
    e = dict(os.environ)
    src = os.path.dirname(os.path.dirname(os.path.abspath(tg.__file__)))
    e["PYTHONPATH"] = os.pathsep.join([src, HERE] + ([e["PYTHONPATH"]] if e.get("PYTHONPATH")
                                                     else []))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        e[var] = "1"   # two ranks on two cores: one BLAS thread each
    return e


def launch(n, scenario, outdir, launcher=False, timeout=TIMEOUT, extra_env=()):
    if launcher:
        cmd = [sys.executable, "-m", "tapegrad.distributed.run", "-n", str(n), WORKER]
    else:
        cmd = [find_mpiexec(), "-n", str(n), sys.executable, WORKER]
    return subprocess.run(cmd + [scenario, str(outdir)], env=dict(env(), **dict(extra_env)),
                          capture_output=True, text=True, timeout=timeout)


def results(outdir, n):
    arrays = [dict(np.load(os.path.join(outdir, f"rank{r}.npz"))) for r in range(n)]
    msgs = [json.load(open(os.path.join(outdir, f"rank{r}.json"))) for r in range(n)]
    return arrays, msgs


@pytest.fixture(scope="module", params=[2, 3], ids=["n2", "n3"])
def run(request, tmp_path_factory):
    n = request.param
    out = tmp_path_factory.mktemp(f"main{n}")
    p = launch(n, "main", out)
    assert p.returncode == 0, p.stdout + p.stderr
    arrays, msgs = results(out, n)
    return n, arrays, msgs


# -- collectives --------------------------------------------------------------------------
def test_all_reduce_every_op_and_dtype(run):
    n, arrays, _ = run
    for dt in W.DTYPES:
        xs = np.stack([W.base(r, dt) for r in range(n)])
        want = {"SUM": xs.sum(0, dtype=dt), "PRODUCT": xs.prod(0, dtype=dt), "MIN": xs.min(0),
                "MAX": xs.max(0)}
        if dt.startswith("float"):
            want["AVG"] = xs.sum(0, dtype=dt) / np.asarray(n, dt)
        for op, w in want.items():
            for r in range(n):
                got = arrays[r][f"all_reduce/{op}/{dt}"]
                assert got.dtype == np.dtype(dt), (op, dt)
                np.testing.assert_array_equal(got, w, err_msg=f"{op} {dt} rank {r}")


def test_broadcast_all_gather_and_the_rest(run):
    n, arrays, msgs = run
    for dt in W.DTYPES:
        for r in range(n):
            np.testing.assert_array_equal(arrays[r][f"broadcast/{dt}"], W.base(n - 1, dt))
            np.testing.assert_array_equal(arrays[r][f"all_gather/{dt}"],
                                          np.stack([W.base(k, dt) for k in range(n)]))
    xs = np.stack([W.base(r, "float32") for r in range(n)])
    for r in range(n):
        a = arrays[r]
        np.testing.assert_array_equal(a["all_reduce/transposed"],
                                      sum(W.base(k, "float32", (3, 2)) for k in range(n)).T)
        np.testing.assert_array_equal(a["all_reduce/bool"], [True, False, True])
        np.testing.assert_array_equal(a["scatter"], W.base(10 * r, "int64"))
        np.testing.assert_array_equal(a["reduce_scatter"],
                                      sum(W.base(k + 10 * r, "int32") for k in range(n)))
        if r == 0:
            np.testing.assert_array_equal(a["reduce"], np.stack(
                [W.base(k, "float64") for k in range(n)]).max(0))
        else:   # reduce: the others keep their input
            np.testing.assert_array_equal(a["reduce"], W.base(r, "float64"))
    np.testing.assert_array_equal(arrays[1]["gather"], xs)
    np.testing.assert_array_equal(arrays[n - 1]["recv"], np.arange(5.0) + 0.5)
    assert msgs[n - 1]["recv_source"] == 0
    assert "ReduceOp.AVG needs a floating tensor, got int64" in msgs[0]["avg_int"]


def test_collectives_change_tensors_in_place_outside_the_tape(run):
    n, _, msgs = run
    for m in msgs:
        assert m["tape"] == [True, True, [n * 1.0, n * 2.0]]
        assert "modified by an in-place operation" in m["tape_inplace"]   # x was saved by mul
        assert m["tape_grad"] == [3.0, 3.0]


def test_mismatched_collectives_raise_on_every_rank_naming_the_difference(run):
    n, _, msgs = run
    expect = {
        "shape": "all_reduce: the ranks disagree on the shape: rank 0: [3]; rank 1: [4]",
        "dtype": "all_reduce: the ranks disagree on the dtype: rank 0: int32; rank 1: float32",
        "op": "all_reduce: the ranks disagree on the reduce op: rank 0: SUM; rank 1: MAX",
        "root": "broadcast: the ranks disagree on the root rank: rank 0: 0; rank 1: 1",
        "collective": "ranks called different collectives: rank 0: all_reduce; rank 1: "
                      "broadcast",
    }
    for r in range(n):
        for case, text in expect.items():
            assert text in msgs[r][f"mismatch/{case}"], (r, case)
        assert msgs[r]["after_mismatches"] == [n, n]     # nothing moved; the group still works
    assert msgs[1]["mismatch/recv"] == ("recv: rank 0 sent float32 [2, 2], but rank 1 "
                                        "receives into float32 [4]")
    assert msgs[0]["mismatch/recv"] is None


# -- DistributedDataParallel ----------------------------------------------------------------
@pytest.mark.parametrize("dtype,kind", [("float64", "sgd"), ("float64", "adam"),
                                        ("float32", "sgd"), ("float32", "adam")])
def test_ddp_matches_one_process_at_the_global_batch(run, dtype, kind):
    n, arrays, _ = run
    want = W.reference(dtype, kind, n)
    tol = 1e-10 if dtype == "float64" else 1e-5
    for r in range(n):
        for i, w in enumerate(want):
            got = arrays[r][f"ddp/{dtype}/{kind}/{i}"]
            assert got.dtype == np.dtype(dtype)
            np.testing.assert_allclose(got, w, rtol=tol, atol=tol, err_msg=f"rank {r} param {i}")
            np.testing.assert_array_equal(got, arrays[0][f"ddp/{dtype}/{kind}/{i}"])
    # the training moved the parameters (so equality above is not trivially true)
    assert not np.allclose(want[0], W.make_model(dtype)[0].weight.numpy())


def test_ddp_bucket_counts(run):
    _, arrays, _ = run
    assert int(arrays[0]["buckets/float64/sgd"]) == 1          # 25 MiB: one bucket
    assert int(arrays[0]["buckets/float32/adam"]) == 1
    assert int(arrays[0]["buckets/float64/adam"]) == 3          # 104 bytes: one per layer
    assert int(arrays[0]["buckets/float32/sgd"]) == 3


def test_no_sync_accumulates_locally_then_averages_the_sum(run):
    n, arrays, _ = run
    if n != 2:
        pytest.skip("runs on two ranks")
    a0, a1 = arrays
    assert not np.allclose(a0["no_sync/after_local"], a1["no_sync/after_local"])
    for i in range(5):
        want = (a0[f"no_sync/local/{i}"] + a1[f"no_sync/local/{i}"]) / 2
        for a in arrays:
            np.testing.assert_allclose(a[f"no_sync/ddp/{i}"], want, rtol=1e-5, atol=1e-6)


def test_fp16_compress_hook_sends_float16(run):
    n, arrays, msgs = run
    if n != 2:
        pytest.skip("runs on two ranks")
    a0, a1 = arrays
    for i in range(5):
        half = [(a[f"fp16/local/{i}"].astype(np.float16) / np.float16(2)) for a in arrays]
        want = (half[0] + half[1]).astype(np.float32)
        exact = (a0[f"fp16/local/{i}"] + a1[f"fp16/local/{i}"]) / 2
        for a in arrays:
            np.testing.assert_array_equal(a[f"fp16/ddp/{i}"], want)
        assert np.abs(want - exact).max() <= 2e-3 * np.abs(exact).max()
    assert not all(np.array_equal(a0[f"fp16/ddp/{i}"], (a0[f"fp16/local/{i}"] +
                                                        a1[f"fp16/local/{i}"]) / 2)
                   for i in range(5))
    assert "registered already" in msgs[0]["hook_twice"]


def test_buffers_come_from_rank_0_at_each_training_forward(run):
    n, arrays, _ = run
    if n != 2:
        pytest.skip("runs on two ranks")
    # BatchNorm1d's running mean after one step from rank 0's 1.0: 0.9 * 1.0 + 0.1 * batch mean
    for a in arrays:
        np.testing.assert_array_equal(a["buffers/synced"], arrays[0]["buffers/synced"])
    assert not np.allclose(arrays[0]["buffers/not_synced"], arrays[1]["buffers/not_synced"])


def test_unused_parameters(run):
    n, arrays, msgs = run
    if n != 2:
        pytest.skip("runs on two ranks")
    # loss = sum of the outputs of x = (rank + 1) * ones(2, 3); head a on rank 0, b on rank 1
    for a in arrays:
        np.testing.assert_allclose(a["unused/a.weight"], np.full((2, 3), 1.0))
        np.testing.assert_allclose(a["unused/a.bias"], np.full(2, 1.0))
        np.testing.assert_allclose(a["unused/b.weight"], np.full((2, 3), 2.0))
        np.testing.assert_allclose(a["unused/b.bias"], np.full(2, 1.0))
    for m in msgs:
        assert "did not finish" in m["unfinished"] and "b.weight, b.bias" in m["unfinished"]
        assert "find_unused_parameters=True" in m["unfinished"]


def test_ddp_refuses_different_models(run):
    n, _, msgs = run
    for m in msgs:
        assert ("DistributedDataParallel: parameter 0 ('weight' on rank" in m["ddp_mismatch"]
                and "rank 0: float32 [2, 3]; rank 1: float32 [3, 3]" in m["ddp_mismatch"])
        assert "the number of parameters and buffers: rank 0: 2; rank 1: 4" in m["ddp_count"]
        assert ("ranks called different collectives: rank 0: ddp_layout; rank 1: all_reduce"
                in m["ddp_vs_collective"])


# -- DistributedSampler -------------------------------------------------------------------
def test_sampler_shards_cover_the_permutation(run):
    n, arrays, _ = run
    from tapegrad.utils.data import DistributedSampler
    for size in (10, 11):
        for drop in (False, True):
            shards = [arrays[r][f"sampler/{size}/{drop}"] for r in range(n)]
            ref = DistributedSampler(list(range(size)), n, 0, seed=3, drop_last=drop)
            ref.set_epoch(2)
            perm = ref.permutation()
            assert sorted(perm) == list(range(size))
            assert all(len(s) == len(ref) for s in shards)           # equal shards
            merged = np.stack(shards, 1).reshape(-1)                 # rank r: r, r+n, ...
            if drop:
                assert merged.tolist() == perm[:len(merged)]
            else:
                assert merged.tolist() == (perm + perm)[:len(merged)]   # padded by repeating


# -- failures -----------------------------------------------------------------------------
def test_one_rank_raises_every_rank_ends_traceback_once(tmp_path):
    p = launch(2, "raise", tmp_path, timeout=60)
    ended = time.time()
    raised = float(p.stdout.split("RAISING AT ")[1].split()[0])
    assert p.returncode != 0
    assert ended - raised < 10, "the other rank was not stopped within 10 s"
    assert p.stderr.count("Traceback (most recent call last)") == 1, p.stderr
    assert "ValueError: boom on rank 1" in p.stderr
    assert "rank 1 of 2 raised an uncaught exception; aborting all ranks" in p.stderr


def test_an_error_every_rank_raises_is_printed_once(tmp_path):
    p = launch(2, "uncaught_mismatch", tmp_path, timeout=60)
    assert p.returncode != 0
    assert p.stderr.count("Traceback (most recent call last)") == 1, p.stderr
    assert "rank 0 of 2 raised" in p.stderr
    assert "CollectiveMismatchError: all_reduce: the ranks disagree on the shape" in p.stderr


def test_sys_exit_on_one_rank_ends_the_job_through_the_launcher(tmp_path):
    p = launch(2, "exit_code", tmp_path, launcher=True, timeout=60)
    assert p.returncode == 3, p.stdout + p.stderr


def test_a_rank_that_leaves_while_another_reduces_is_an_error(tmp_path):
    p = launch(2, "early_exit", tmp_path, timeout=60)
    assert p.returncode != 0
    assert "ranks called different collectives: rank 0: all_reduce; rank 1: shutdown" in \
        p.stderr
    assert p.stderr.count("Traceback (most recent call last)") == 1, p.stderr


def _ends_soon_after_leaving(p, within=10):
    """The job failed, within ``within`` s of rank 1 leaving, one traceback printed."""
    ended = time.time()
    left = float(p.stdout.split("LEAVING AT ")[1].split()[0])
    assert p.returncode != 0, p.stdout + p.stderr
    assert ended - left < within, f"rank 0 took {ended - left:.1f} s to give up"
    assert p.stderr.count("Traceback (most recent call last)") == 1, p.stderr
    assert "rank 0 of 2 raised an uncaught exception; aborting all ranks" in p.stderr


def test_uneven_ddp_steps_end_every_rank_with_an_error_not_a_hang(tmp_path):
    p = launch(2, "uneven_ddp", tmp_path, timeout=60)
    _ends_soon_after_leaving(p)
    assert ("PeerLeftError: DistributedDataParallel: rank 1 left the job (it finished its "
            "loop or exited) while rank 0 waits for gradient bucket 0 of step 5: the ranks "
            "ran different numbers of steps. Give every rank the same number of batches"
            in p.stderr), p.stderr
    assert "DistributedSampler pads the shards to equal length" in p.stderr


@pytest.mark.parametrize("scenario,text", [
    ("departed_all_reduce", "all_reduce: rank 1 left the job (destroy_process_group, or its "
                            "program ended) while rank 0 waits for it in all_reduce"),
    ("departed_recv", "recv from rank 1: rank 1 left the job (destroy_process_group, or its "
                      "program ended) while rank 0 waits for it in recv from rank 1: the "
                      "matching send or recv never came")])
def test_waiting_for_a_rank_that_left_is_an_error_not_a_hang(tmp_path, scenario, text):
    p = launch(2, scenario, tmp_path, timeout=60)
    _ends_soon_after_leaving(p)
    assert "PeerLeftError: " + text in p.stderr, p.stderr


def test_a_wait_longer_than_the_timeout_raises_naming_the_collective(tmp_path):
    start = time.time()
    p = launch(2, "timeout", tmp_path, timeout=60,
               extra_env={"TAPEGRAD_DISTRIBUTED_TIMEOUT": "1"})
    assert p.returncode != 0 and time.time() - start < 5 + 10
    assert ("DistributedTimeoutError: all_reduce: rank 0 waited 1 s for the other ranks"
            in p.stderr), p.stderr


def test_digits_distributed_same_accuracy_checkpoint_once(tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "out"
    cmd = [find_mpiexec(), "-n", "2", sys.executable, "-m", "tapegrad.examples.digits",
           "--distributed", "--epochs", "2", "--no-plot", "--out", str(out)]
    p = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("final test accuracy") == 1          # rank 0 prints, once
    assert "data-parallel over 2 ranks" in p.stdout
    acc = float(p.stdout.split("final test accuracy: ")[1].split("%")[0]) / 100
    from tapegrad.examples import digits
    single = digits.train(epochs=2, seed=0, model="cnn", quiet=True)
    assert acc > 0.8 and abs(acc - single["test_acc"]) < 0.05, (acc, single["test_acc"])
    assert sorted(os.listdir(out)) == ["digits_cnn.tg"]        # one file, no temporaries
    ck = tg.load(str(out / "digits_cnn.tg"))
    fresh = digits.make_model("cnn")
    fresh.load_state_dict(ck["model"])
    _, _, x_test, y_test = digits.load_data(0)
    assert digits.evaluate(fresh, x_test, y_test)[1] == pytest.approx(acc, abs=1e-4)


def test_readme_training_script_runs_on_two_ranks(tmp_path):
    import re
    readme = open(os.path.join(os.path.dirname(HERE), "README.md")).read()
    (block,) = [b for b in re.findall(r"^```py\n(.*?)^```", readme, re.S | re.M)
                if b.startswith("# train.py")]
    (tmp_path / "train.py").write_text(block)
    p = subprocess.run([sys.executable, "-m", "tapegrad.distributed.run", "-n", "2", "train.py"],
                       cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    state = tg.load(str(tmp_path / "ckpt.tg"))
    assert sorted(state) == ["0.bias", "0.weight", "2.bias", "2.weight"]


def test_collectives_and_ddp_on_gpu_tensors(run):
    """On the (fake) CUDA device, collectives stage through host memory and leave their
    results on the device, and DDP trains as on the CPU (one process at the global batch)."""
    n, arrays, _ = run
    for a in arrays:
        np.testing.assert_array_equal(a["gpu_sum"], sum(W.base(r, "float64") for r in range(n)))
        assert a["gpu_on_device"]
    want = W.reference("float64", "sgd", n)
    for a in arrays:
        for i, w in enumerate(want):
            np.testing.assert_allclose(a[f"gpu_ddp/{i}"], w, rtol=1e-10, atol=1e-12)
