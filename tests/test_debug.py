"""Debugging aids: anomaly detection, get_tape, to_dot/draw, the profiler, and the rest of
section G (cases 46 and 50)."""
import gc
import os
import re
import stat
import tracemalloc

import numpy as np
import pytest

import tapegrad as tg


def test_detect_anomaly_names_the_op_and_line():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with tg.autograd.detect_anomaly():
        y = x.sqrt()  # line of the culprit
        line = y.node.where
        z = (y * 2).sum()
        with pytest.raises(RuntimeError) as e:
            z.backward()
    msg = str(e.value)
    assert "'sqrt'" in msg and "inf" in msg and "test_debug.py" in msg
    assert re.search(r"test_debug\.py:\d+", line) and line.split(":")[-1] in msg
    # outside anomaly mode the same backward just gives IEEE values
    x.grad = None
    x.sqrt().sum().backward()
    assert np.isinf(x.grad.numpy()[0])


def test_get_tape_returns_dicts():
    x = tg.randn(3, requires_grad=True)
    y = (x.exp() * 2).sum()
    rows = tg.debug.get_tape(y)
    assert [r["op"] for r in rows] == ["exp", "mul", "sum"]
    assert rows[0]["shape"] == (3,) and rows[0]["dtype"] == "float32"
    assert rows[2]["inputs"] == (f"#{rows[1]['seq']}",)


def test_to_dot_lists_ops_leaves_and_edges():
    w = tg.randn(3, 2, requires_grad=True)
    b = tg.zeros(2, requires_grad=True)
    x = tg.randn(4, 3)
    out = (x @ w + b).relu().sum()
    dot = tg.debug.to_dot(out, params={"w": w, "b": b})
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    labels = dict(re.findall(r'^\s*(n\d+) \[label="([^"]+)"', dot, re.M))
    names = sorted(v.split("\\n")[0] for v in labels.values())
    assert names == ["add", "b", "matmul", "relu", "sum", "w"]
    edges = re.findall(r"(n\d+) -> (n\d+|output);", dot)
    by_name = {v.split("\\n")[0]: k for k, v in labels.items()}
    assert (by_name["w"], by_name["matmul"]) in edges and (by_name["b"], by_name["add"]) in edges
    assert (by_name["sum"], "output") in edges
    assert "[3, 2] float32" in labels[by_name["w"]] and "requires_grad" in labels[by_name["w"]]
    with pytest.raises(ValueError, match="no graph"):
        tg.debug.to_dot(tg.ones(2))


def test_draw_runs_graphviz_or_says_what_is_missing(tmp_path, monkeypatch):
    x = tg.randn(2, requires_grad=True)
    out = (x * 2).sum()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RuntimeError, match="Graphviz 'dot' program"):
        tg.debug.draw(out, tmp_path / "g.png")
    fake = tmp_path / "bin" / "dot"  # a stand-in dot that records its input
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n/bin/cat > \"$3.dot\"\necho fake-png > \"$3\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(fake.parent))
    target = tmp_path / "g.png"
    tg.debug.draw(out, target)
    assert target.read_text().strip() == "fake-png"
    assert (tmp_path / "g.png.dot").read_text() == tg.debug.to_dot(out)


def test_profile_counts_times_and_saved_bytes():
    w = tg.randn(64, 32, requires_grad=True)
    x = tg.randn(128, 64)
    with tg.autograd.profile() as prof:
        for _ in range(3):
            (x @ w).relu().sum().backward()
    calls, fwd, bwd, saved = prof.stats["matmul"]
    assert calls == 3 and fwd > 0 and bwd > 0
    assert saved == 3 * 128 * 64 * 4  # matmul keeps x only: w's gradient reads it, x takes none
    assert prof.stats["relu"][3] == 3 * 128 * 32 * 4  # relu keeps its output
    table = str(prof)
    assert table.splitlines()[0].split()[:2] == ["op", "calls"] and "matmul" in table
    assert tg.core.modes.STATE.profile is None


def test_case46_repeated_hessian_vector_products_have_flat_memory():
    w = tg.randn(200, requires_grad=True)
    v = tg.randn(200)

    def hvp():
        (g,) = tg.grad((w.tanh() ** 3).sum(), [w], create_graph=True)
        (h,) = tg.grad((g * v).sum(), [w])
        return h
    for _ in range(5):
        hvp()
    gc.collect()
    tracemalloc.start()
    for _ in range(20):
        hvp()
    gc.collect()
    first, _ = tracemalloc.get_traced_memory()
    for _ in range(50):
        hvp()
    gc.collect()
    last, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert last - first < 20_000


def test_case50_exception_mid_backward_keeps_grads_and_names_the_op():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()

    class Boom(tg.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1

        @staticmethod
        def backward(ctx, g):
            raise KeyError("inside backward")

    y = (Boom.apply(x) + x * x).sum()
    with pytest.raises(KeyError) as e:
        y.backward(retain_graph=True)
    assert any("'Boom'" in n for n in getattr(e.value, "__notes__", []))
    assert x.grad.tolist() == [2.0, 2.0]  # all or nothing
