"""Activation checkpointing: trade compute for memory.

``checkpoint(fn, *args)`` runs ``fn`` recording its ops as usual, then drops everything those
ops saved for backward, keeping only the graph's shape. The first backward that reaches one of
them runs ``fn`` again (with the random state it had, so dropout draws the same masks) and gives
each node back what it saved. Because the graph itself was recorded, gradients reach every
tensor ``fn`` uses, closed-over parameters included, and higher orders work.
"""
from ..core.modes import STATE, enable_grad
from ..core.tensor import Tensor
from .. import random as _random


class _Segment:
    def __init__(self, fn, args, kwargs, rng_state):
        self.fn, self.args, self.kwargs, self.rng_state = fn, args, kwargs, rng_state
        self.nodes = []
        self.restored = False

    def adopt(self, node):
        self.nodes.append(node)

    def strip(self):
        for n in self.nodes:
            n.drop_saved()  # its place in the graph stays
            n.ckpt = self
            n.marked = True

    def restore(self):
        """Recompute the segment and give every node back what it saved."""
        if self.restored:
            return
        collector = _Segment(None, (), {}, None)
        prev_ckpt, state = STATE.ckpt, None
        if self.rng_state is not None:
            state = _random.get_all_states()
            _random.set_all_states(self.rng_state)
        STATE.ckpt = collector
        try:
            with enable_grad():
                self.fn(*self.args, **self.kwargs)
        finally:
            STATE.ckpt = prev_ckpt
            if state is not None:
                _random.set_all_states(state)
        new = collector.nodes
        if len(new) != len(self.nodes) or any(a.fn is not b.fn for a, b in zip(self.nodes, new)):
            raise RuntimeError(
                f"checkpoint: recomputing the function recorded {len(new)} ops, but its first "
                f"run recorded {len(self.nodes)} (or different ones); a checkpointed function "
                f"must run the same ops in the same order every time")
        for old, fresh in zip(self.nodes, new):
            old.take_saved(fresh)
            old.ckpt = None
        self.restored = True
        self.nodes = []


def checkpoint(function, *args, preserve_rng_state=True, use_reentrant=None, **kwargs):
    """Run ``function(*args, **kwargs)`` keeping only its inputs for backward; its internals
    are recomputed when gradients are needed. Gradients equal the plain run bit for bit,
    dropout included (the random state of every device's generator is restored for the
    recomputation; a generator you pass explicitly to dropout is not). Nested checkpoints run as plain code."""
    if not STATE.grad_enabled or STATE.ckpt is not None:
        return function(*args, **kwargs)
    if preserve_rng_state:   # the generators of the inputs' devices exist before the snapshot
        for a in args:
            if isinstance(a, Tensor) and a.device.type != "cpu":
                _random.device_generator(a.device)
    rng_state = _random.get_all_states() if preserve_rng_state else None
    segment = _Segment(function, args, kwargs, rng_state)
    STATE.ckpt = segment
    try:
        out = function(*args, **kwargs)
    finally:
        STATE.ckpt = None
    segment.strip()
    return out


def checkpoint_sequential(functions, segments, input, preserve_rng_state=True, **kwargs):
    """Run a sequence of modules/functions in ``segments`` chunks, checkpointing every chunk
    but the last (as PyTorch does)."""
    functions = list(functions.children()) if hasattr(functions, "children") else list(functions)
    n = len(functions)
    size = max(1, (n + segments - 1) // segments)

    def run(start, end):
        def seg(x):
            for f in functions[start:end]:
                x = f(x)
            return x
        return seg
    x = input
    for start in range(0, n, size):
        end = min(start + size, n)
        if end < n:
            x = checkpoint(run(start, end), x, preserve_rng_state=preserve_rng_state)
        else:
            x = run(start, end)(x)
    return x
