"""``tg.autograd.profile()``: where the time and the saved memory go, per op.

    with tg.autograd.profile() as prof:
        loss = model(x).sum(); loss.backward()
    print(prof)          # calls, forward ms, backward ms, bytes saved for backward

Backward time is charged to the op whose rule ran, including the ops that rule used.
"""
import time

from .. import backend
from ..core import function as core
from ..core.modes import STATE
from ..core.tensor import Tensor


class profile:
    """Context manager that times every op while it is active: calls, forward and backward
    milliseconds and the bytes saved for backward, per op name.

        with tg.autograd.profile() as prof:
            model(x).sum().backward()
        print(prof.table())

    Backward time is charged to the op whose rule ran, including the ops that rule used.
    Nested profiles: the inner one collects while it is active.
    """
    def __init__(self):
        self.stats = {}  # op -> [calls, forward s, backward s, bytes saved]

    def __enter__(self):
        self._prev = STATE.profile
        STATE.profile = self
        return self

    def __exit__(self, *exc):
        STATE.profile = self._prev

    def _row(self, name):
        row = self.stats.get(name)
        if row is None:
            row = self.stats[name] = [0, 0.0, 0.0, 0]
        return row

    def run_forward(self, fn, ctx, arrays, params):
        """Engine hook: run ``fn``'s forward on ``arrays`` and charge its time to ``fn.name``.

        Returns:
            the forward's output arrays.
        """
        t0 = time.perf_counter()
        out = core._forward(fn, ctx, arrays, params)
        row = self._row(fn.name)
        row[0] += 1
        row[1] += time.perf_counter() - t0
        return out

    def saved(self, fn, ctx):
        """Engine hook: charge the bytes ``ctx`` saved for backward to ``fn.name``."""
        total = 0
        for v in list(vars(ctx).values()) + list(ctx._saved or ()) + [ctx._out]:
            if isinstance(v, Tensor):
                total += v._data.nbytes
            elif isinstance(v, backend.ndarray):
                total += v.nbytes
        self._row(fn.name)[3] += total

    def run_backward(self, node, g):
        """Engine hook: run ``node``'s VJP on cotangent ``g`` and charge its time (the ops inside
        the rule included) to the node's op.

        Returns:
            the VJP's input gradients.
        """
        STATE.profile = None  # ops inside a rule count as that rule's backward time
        t0 = time.perf_counter()
        try:
            return node.fn.vjp(node, g)
        finally:
            self._row(node.name)[2] += time.perf_counter() - t0
            STATE.profile = self

    def table(self, sort_by="total"):
        """The stats as text, one row per op, slowest (forward + backward) first."""
        key = {"total": lambda r: r[1][1] + r[1][2], "forward": lambda r: r[1][1],
               "backward": lambda r: r[1][2], "memory": lambda r: r[1][3],
               "calls": lambda r: r[1][0]}[sort_by]
        lines = [f"{'op':<22}{'calls':>8}{'forward ms':>13}{'backward ms':>13}{'total ms':>11}"
                 f"{'saved bytes':>14}"]
        for name, (n, f, b, m) in sorted(self.stats.items(), key=key, reverse=True):
            lines.append(f"{name:<22}{n:>8}{f * 1e3:>13.3f}{b * 1e3:>13.3f}{(f + b) * 1e3:>11.3f}"
                         f"{m:>14,}")
        return "\n".join(lines)

    __str__ = table
