"""Each framework timed in its own process, as users run it: a tapegrad program does not have
PyTorch loaded beside it, nor the reverse.

One process sharing both changes what is measured. Python's cyclic garbage collector
walks every tracked object in a full collection, so PyTorch's ~140,000 objects made
tapegrad's W1 about 20% slower. And on two cores one library's idle workers spin on the core
the other library's next call wants.

A ``Pool`` keeps one worker process per family (tapegrad, torch, micrograd, numpy), started
with ``multiprocessing``'s spawn method, so it imports only what its workloads import, with
the thread settings the run put in the environment. :func:`interleaved` builds each
contender in its family's worker and times them A B A B, as ``timing.interleaved`` does in
one process. While one worker runs its repeat, the others wait on their pipe, asleep.
"""
import gc
import multiprocessing
import sys

from . import timing


class Spec:
    """One contender: ``build(*args, **kwargs)`` returns an Impl (or a tuple of them, of
    which ``pick`` is the one), whose ``unit`` is timed after ``warm`` calls. ``build`` must
    be a module-level function, so that the worker imports it by name."""

    def __init__(self, name, build, *args, pick=None, warm=0, **kwargs):
        self.name, self.build, self.args, self.kwargs = name, build, args, kwargs
        self.pick, self.warm = pick, warm

    @property
    def family(self):
        """The worker it runs in: "tapegrad eager" -> tapegrad, "numpy-same-gemm" -> numpy."""
        return self.name.split()[0].split("-")[0]


class WorkerError(RuntimeError):
    """What a worker raised (its message names the worker and carries its traceback), or
    that a worker process died."""


class Worker:
    def __init__(self, family, threads):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(child, family, threads), daemon=True,
                                name=f"benchmarks-{family}")
        self.proc.start()
        child.close()

    def call(self, *message):
        self.conn.send(message)
        try:
            ok, value = self.conn.recv()
        except EOFError:
            raise WorkerError(f"the {self.proc.name} process died "
                              f"(exit code {self.proc.exitcode})") from None
        if not ok:
            raise WorkerError(value)
        return value

    def close(self):
        try:
            self.conn.send(("exit",))
        except OSError:   # the worker is gone already (its pipe is closed): nothing to ask
            self.proc.join(0)
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()


class Pool:
    """One worker per family, started when first needed, closed with the pool."""

    def __init__(self, threads):
        self.threads = threads
        self.workers = {}

    def worker(self, family):
        if family not in self.workers:
            self.workers[family] = Worker(family, self.threads)
        return self.workers[family]

    def close(self):
        for w in self.workers.values():
            w.close()
        self.workers.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def interleaved(pool, specs, repeats, min_time=0.2, warmup_time=0.3):
    """Time ``specs`` in their workers, A B A B; returns {name: timing.Timing}."""
    names = [s.name for s in specs]
    workers = {s.name: pool.worker(s.family) for s in specs}
    try:
        for s in specs:
            workers[s.name].call("build", s.name, s.build, s.args, s.kwargs, s.pick, s.warm)
        counts = {n: workers[n].call("calibrate", n, min_time, warmup_time) for n in names}
        per_unit = {n: [] for n in names}
        for _ in range(repeats):
            for n in names:
                per_unit[n].append(workers[n].call("time", n, counts[n]) / counts[n])
    finally:
        for n in names:
            if workers[n].proc.is_alive():
                workers[n].call("drop", n)
    return {n: timing.Timing(n, per_unit[n], counts[n]) for n in names}


def serve(conn, family, threads):
    """The worker's loop: build, calibrate, time and drop units as the parent asks."""
    if family == "torch":
        from . import _env
        _env.configure_torch(threads)
    units = {}
    while True:
        message = conn.recv()
        op, args = message[0], message[1:]
        if op == "exit":
            return
        try:
            if op == "build":
                name, build, b_args, kwargs, pick, warm = args
                impl = build(*b_args, **kwargs)
                unit = (impl if pick is None else impl[pick]).unit
                for _ in range(warm):
                    unit()
                units[name] = unit
                value = None
            elif op == "calibrate":
                name, min_time, warmup_time = args
                value = timing.calibrate(units[name], min_time, warmup_time)
            elif op == "time":
                name, n = args
                value = _time(units[name], n)
            elif op == "loaded":   # which of the frameworks this process has imported
                value = sorted(m for m in args[0] if m in sys.modules)
            elif op == "drop":
                units.pop(args[0], None)
                gc.collect()
                value = None
            else:
                raise ValueError(f"unknown request {op!r}")
        except Exception as exc:   # reported to the parent, which raises it there
            import traceback
            conn.send((False, f"{family} worker: {type(exc).__name__}: {exc}\n"
                              f"{traceback.format_exc()}"))
            continue
        conn.send((True, value))


def _time(unit, n):
    gc.collect()  # start each repeat from the same heap state; GC stays on while timing
    t0 = timing.clock()
    for _ in range(n):
        unit()
    return timing.clock() - t0
