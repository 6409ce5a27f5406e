"""Interleaved timing of several implementations of one unit of work in one process.

Each contender is warmed up, and its repeat count (how many units one timed repeat runs so
that it lasts at least ``min_time`` seconds) is calibrated once, during warm-up. Then the
timed repeats alternate between contenders, A B A B ..., so slow drifts of the machine (other
jobs, frequency, caches) hit all of them alike. The result is the time per unit of each
repeat; report the median and the min-max.
"""
import gc
import math
import statistics
import time

clock = time.perf_counter


class Timing:
    def __init__(self, name, per_unit, units_per_repeat):
        self.name = name
        self.per_unit = per_unit            # seconds per unit, one entry per timed repeat
        self.units_per_repeat = units_per_repeat

    @property
    def median(self):
        return statistics.median(self.per_unit)

    @property
    def min(self):
        return min(self.per_unit)

    @property
    def max(self):
        return max(self.per_unit)

    def __repr__(self):
        return (f"Timing({self.name}: median {self.median:.3g}s, {len(self.per_unit)} repeats "
                f"x {self.units_per_repeat} units)")


def calibrate(unit, min_time, warmup_time):
    """Call ``unit`` once, untimed, then warm it up for about ``warmup_time`` seconds (at
    least twice, unless one call already takes that long) and return how many units make
    a repeat of at least ``min_time`` seconds."""
    unit()   # the first call (lazy imports, numba loading its kernels, caches) is not timed
    calls, t_start, last = 0, clock(), None
    while True:
        t0 = clock()
        unit()
        last = clock() - t0 if last is None else min(last, clock() - t0)
        calls += 1
        if calls >= 2 and clock() - t_start >= warmup_time:
            break
        if last >= warmup_time:  # one unit is longer than the whole warm-up: that is enough
            break
    # aim 10% above min_time so that a repeat stays above it when the machine is a bit faster
    return max(1, math.ceil(1.1 * min_time / max(last, 1e-9)))


def interleaved(contenders, repeats, min_time=0.2, warmup_time=0.3):
    """Time ``contenders`` ([(name, unit), ...]) alternately; returns {name: Timing}."""
    counts = {name: calibrate(unit, min_time, warmup_time) for name, unit in contenders}
    per_unit = {name: [] for name, _ in contenders}
    for _ in range(repeats):
        for name, unit in contenders:
            n = counts[name]
            gc.collect()  # start each repeat from the same heap state; GC stays on while timing
            t0 = clock()
            for _ in range(n):
                unit()
            per_unit[name].append((clock() - t0) / n)
    return {name: Timing(name, per_unit[name], counts[name]) for name, _ in contenders}
