"""Activation checkpointing: gradients equal the plain run bit for bit (dropout included),
parameters the segment closes over get gradients, higher order works (cases 48, 49)."""
import gc
import tracemalloc

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad.utils.checkpoint import checkpoint, checkpoint_sequential


def make_layers(n=4, width=16):
    tg.manual_seed(0)
    return [nn.Linear(width, width) for _ in range(n)]


def block(layers, p=0.3):
    def run(h):
        for layer in layers:
            h = F.dropout(layer(h).tanh(), p)
        return h
    return run


def grads(layers, x, use_checkpoint, seed=7):
    tg.manual_seed(seed)
    for layer in layers:
        layer.zero_grad()
    x.zero_grad()
    fn = block(layers)
    out = checkpoint(fn, x) if use_checkpoint else fn(x)
    (out ** 2).sum().backward()
    return [x.grad.numpy().copy()] + [p.grad.numpy().copy() for layer in layers
                                      for p in layer.parameters()]


def test_case48_bitwise_equal_gradients_with_dropout():
    layers = make_layers()
    x = tg.randn(8, 16, requires_grad=True)
    plain, ckpt = grads(layers, x, False), grads(layers, x, True)
    assert all(np.array_equal(a, b) for a, b in zip(plain, ckpt))
    assert tg.checkpoint is checkpoint and tg.autograd.checkpoint is checkpoint


def test_without_rng_preservation_dropout_masks_differ():
    layers = make_layers()
    x = tg.randn(8, 16, requires_grad=True)
    tg.manual_seed(7)
    out = checkpoint(block(layers), x, preserve_rng_state=False)
    ref = grads(layers, x, False)
    (out ** 2).sum().backward()
    assert not np.array_equal(x.grad.numpy(), ref[0] * 2)  # a different sample, as documented


def test_case49_frozen_input_trainable_weights():
    layers = make_layers()
    x = tg.randn(8, 16)  # does not require grad
    out = checkpoint(block(layers, p=0.0), x)
    out.sum().backward()
    assert all(p.grad is not None for layer in layers for p in layer.parameters())


def test_functional_grad_and_higher_order_through_checkpoint():
    x = tg.tensor([0.5, -1.0, 2.0], dtype=tg.float64, requires_grad=True)
    w = tg.tensor([1.5, 0.5, -0.3], dtype=tg.float64, requires_grad=True)
    f = lambda v: ((v * w).sin() * v).sum()  # noqa: E731
    out = checkpoint(f, x)
    gx, gw = tg.grad(out, [x, w], create_graph=True)
    assert x.grad is None and w.grad is None  # tg.grad never touches .grad
    ref_x, ref_w = tg.grad(f(x), [x, w], create_graph=True)
    np.testing.assert_array_equal(gx.numpy(), ref_x.numpy())
    (h,) = tg.grad(gx.sum(), [x])
    (ref_h,) = tg.grad(ref_x.sum(), [x])
    np.testing.assert_allclose(h.numpy(), ref_h.numpy(), rtol=1e-12)


def test_checkpoint_sequential_matches_plain():
    tg.manual_seed(0)
    seq = nn.Sequential(*[nn.Linear(8, 8) for _ in range(6)])
    x = tg.randn(4, 8, requires_grad=True)
    checkpoint_sequential(seq, 3, x).sum().backward()
    ckpt = [p.grad.numpy().copy() for p in seq.parameters()] + [x.grad.numpy().copy()]
    seq.zero_grad()
    x.zero_grad()
    seq(x).sum().backward()
    plain = [p.grad.numpy() for p in seq.parameters()] + [x.grad.numpy()]
    assert all(np.array_equal(a, b) for a, b in zip(ckpt, plain))


def test_nondeterministic_function_is_reported():
    calls = []

    def f(v):
        calls.append(1)
        return v.exp() if len(calls) == 1 else v.exp().exp()
    x = tg.ones(2, requires_grad=True)
    out = checkpoint(f, x)
    with pytest.raises(RuntimeError, match="same ops in the same order"):
        out.sum().backward()


def test_checkpoint_keeps_only_the_inputs():
    tg.manual_seed(0)
    layers = [nn.Linear(256, 256) for _ in range(8)]
    x = tg.randn(256, 256)

    def seg(h):
        for layer in layers:
            h = layer(h).tanh()
        return h

    def held(use):
        gc.collect()
        tracemalloc.start()
        out = checkpoint(seg, x) if use else seg(x)
        current, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del out
        return current
    plain, ckpt = held(False), held(True)
    assert ckpt < 0.25 * plain  # 8 layers of activations vs the output only
