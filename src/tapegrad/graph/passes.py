"""Passes over a Program. None but fusion changes a result's bits: they drop, share or
precompute whole op calls, or give an elementwise op a buffer to write into (same ufunc,
same loop).

- dce: drop calls nothing live reads (writes and guards are effects and stay, and so do random ops:
  each draw advances the generator, so dropping one would shift every later draw).
- cse: one call for identical calls on identical arguments (the table is cleared at every
  write, since a write changes memory that several value numbers may view); never for a
  random op (two draws are two different masks).
- fold: run calls whose inputs are all constants once, at compile time (never a random op:
  it must draw anew on every call).
- fusion.fuse (fusion.py; ``tg.compile(fn, fuse=False)`` skips it): long elementwise runs
  on small arrays become one numba kernel call; its exp/log/tanh may differ in the last bit.
- plan_buffers (and fusion.scaled_update): elementwise primitives whose forward is exactly one ufunc (``a + b`` is
  ``np.add(a, b)``) run with ``out=`` into a dead value's buffer of the same shape and
  dtype (in place when their own input dies there), and ``w - lr * g`` followed by a write
  into ``w`` becomes ``np.subtract(w, t, out=w)``, or with numba (and fusion on) one pass
  ``w + g * (-lr)`` that rounds as the two ufuncs do (bit for bit). Only buffers that own their memory (no
  views) are reused, and never those of results, gradients, state or constants. With no
  dead buffer at hand, such an op writes into a buffer the program allocates once and keeps
  (its value never leaves the call), so a step allocates only what it returns; one
  compiled function is therefore not safe to call from two threads at once.
"""
import math

from .. import backend
from . import fusion
from .ir import bind, static_params
from .replay import Ctx

xp = backend.xp

#: primitive name -> the ufunc its forward is (checked bit for bit in tests/test_compile.py)
UFUNCS = {"add": xp.add, "sub": xp.subtract, "mul": xp.multiply, "neg": xp.negative}
UNARY_FLOAT = {"tanh": xp.tanh, "exp": xp.exp}


def optimize(prog, fuse=True):
    """The passes; fusion (numba's kernels) on the CPU only."""
    dce(prog)
    fold(prog)
    cse(prog)
    dce(prog)
    fuse = fuse and (prog.device is None or prog.device.type == "cpu")
    if fuse:
        fusion.fuse(prog)
    prog.plan = plan_buffers(prog, kernels=fusion.kernel() if fuse else None)
    return prog


def dce(prog):
    live = set(prog.out_vids) | {v for _, v in prog.grads}
    keep = []
    for op in reversed(prog.ops):
        if op.kind in ("write", "guard") or any(v in live for v in op.values_made()) or \
                op.kind == "call" and op.fn.random:
            live.update(op.values_read())
            if op.kind == "call":
                op.side = [s for s in op.side if s[2] in live]
            keep.append(op)
    prog.ops = keep[::-1]
    for table in (prog.state, prog.consts):
        for v in [v for v in table if v not in live]:
            del table[v]
    return prog


def _freeze(x):
    if backend.is_array(x):
        return ("array", id(x))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__,) + tuple(_freeze(i) for i in x)
    if isinstance(x, dict):
        return ("dict",) + tuple(sorted((k, _freeze(v)) for k, v in x.items()))
    try:
        hash(x)
        return (type(x).__name__, x)
    except TypeError:
        return ("id", id(x))


def _rename(prog, mapping):
    """Point every read of a value in ``mapping`` at its replacement."""
    if not mapping:
        return

    def m(a):
        while type(a) is int and a in mapping:
            a = mapping[a]
        return a
    for op in prog.ops:
        op.args = [m(a) for a in op.args]
        op.dyn = [(k, m(v)) for k, v in op.dyn]
    prog.out_vids = [m(v) for v in prog.out_vids]
    prog.outputs = _remap_spec(prog.outputs, m)
    prog.grads = [(w, m(v)) for w, v in prog.grads]


def _remap_spec(spec, m):
    kind, x = spec
    if kind == "t":
        return ("t", m(x))
    if kind == "py":
        return spec
    if kind is dict:
        return (dict, [(k, _remap_spec(s, m)) for k, s in x])
    return (kind, [_remap_spec(s, m) for s in x])


def cse(prog):
    seen = {}
    mapping = {}
    keep = []
    for op in prog.ops:
        if op.kind == "write":
            seen.clear()
        if op.kind == "call" and not op.side and not op.fn.random:
            args = tuple(mapping.get(a, a) if type(a) is int else ("lit", a) for a in op.args)
            key = (op.fn, args, tuple(sorted((k, mapping.get(v, v)) for k, v in op.dyn)),
                   _freeze(static_params(op.params, op.dyn)))
            try:
                prev = seen.get(key)
            except TypeError:
                prev = key = None
            if prev is not None and prog.values[prev].dtype == prog.values[op.out].dtype:
                mapping[op.out] = prev
                continue
            if key is not None:
                seen[key] = op.out
        keep.append(op)
        if mapping:
            op.args = [mapping.get(a, a) if type(a) is int else a for a in op.args]
            op.dyn = [(k, mapping.get(v, v)) for k, v in op.dyn]
    prog.ops = keep
    _rename(prog, mapping)
    return prog


def fold(prog):
    """Calls whose every input is a constant (or a literal) become constants."""
    keep = []
    for op in prog.ops:
        if op.kind == "call" and not op.fn.random and all(type(a) is not int or a in prog.consts for a in op.args) \
                and all(v in prog.consts for _, v in op.dyn) and \
                any(type(a) is int for a in op.args):
            ctx = Ctx(op.recording, op.params, prog.xp)
            args = [prog.consts[a] if type(a) is int else a.value for a in op.args]
            params = bind(op.params, [k for k, _ in op.dyn], [prog.consts[v] for _, v in op.dyn])
            out = op.fn.forward(ctx, *args, **params)
            out = out if backend.is_array(out) else prog.xp.asarray(out)
            prog.consts[op.out] = out
            prog.values[op.out].kind = "const"
            for attr, idx, v in op.side:
                val = getattr(ctx, attr)
                prog.consts[v] = val if idx is None else val[idx]
            continue
        keep.append(op)
    prog.ops = keep
    return prog


def _lowerable(prog, op):
    """The ufunc that computes this call exactly as its forward does, or None."""
    if op.kind != "call" or op.side or op.dyn:
        return None
    out = prog.values[op.out]
    ins = [prog.values[a] for a in op.args if type(a) is int]
    if not ins or any(v.dtype != out.dtype for v in ins):
        return None
    lits = [a.value for a in op.args if type(a) is not int]
    if any(type(v) not in (float, int) for v in lits):
        return None
    name = op.fn.name
    if name in UFUNCS and not op.params:
        return UFUNCS[name]
    if name in UNARY_FLOAT and not op.params and backend.is_floating(out.dtype):
        return UNARY_FLOAT[name]
    return None


def plan_buffers(prog, kernels=None):
    """{op index: (ufunc, value number whose buffer it writes into)}; may also drop a write
    that a fused in-place op made redundant, and (with ``kernels``, fusion's numba module)
    the ``lr * g`` before it, the update then running as one pass."""
    n = len(prog.ops)
    last = {}
    for i, op in enumerate(prog.ops):
        for v in op.values_read():
            last[v] = i
    for v in list(prog.out_vids) + [v for _, v in prog.grads]:
        last[v] = n + 1
    pinned = set(prog.state) | set(prog.consts) | set(prog.inputs) | set(prog.out_vids) | \
        {v for _, v in prog.grads}
    # a view of a pinned value pins the memory under it (a returned reshape of a result)
    roots = {prog.values[v].root for v in pinned}
    pinned |= {val.vid for val in prog.values if val.root in roots}
    kept = set()   # values living in a buffer the program keeps across calls
    plan = {}
    pool = {}
    dying = {}
    for v, i in last.items():
        dying.setdefault(i, []).append(v)
    drop = set()
    for i, op in enumerate(prog.ops):
        if i in drop:
            continue
        ufunc = _lowerable(prog, op)
        if ufunc is not None:
            out = prog.values[op.out]
            nxt = prog.ops[i + 1] if i + 1 < n else None
            if (nxt is not None and nxt.kind == "write" and nxt.args[1] == op.out and
                    last.get(op.out) == i + 1 and op.out not in pinned and
                    prog.values[nxt.args[0]].shape == out.shape and
                    prog.values[nxt.args[0]].dtype == out.dtype):
                dst = nxt.args[0]           # w - lr * g; write w: compute into w
                plan[i] = (ufunc, dst)
                drop.add(i + 1)
                scaled = kernels and _scaled_update(prog, i, dst, last, pinned)
                if scaled:                  # ... in one pass: w + g * (-lr)
                    prog.ops[i] = fusion.scaled_update(prog.ops[i - 1], op, *scaled, kernels)
                    plan[i] = (kernels.scaled_add, dst)
                    plan.pop(i - 1, None)
                    drop.add(i - 1)
                prog.alias = getattr(prog, "alias", {})
                prog.alias[op.out] = dst
                prog.alias[nxt.out] = dst
                continue
            key = (out.shape, out.dtype.str)
            for v in dying.get(i, ()):      # inputs dying here: in place is safe
                if v in op.values_read() and _reusable(prog, v, pinned) and \
                        (prog.values[v].shape, prog.values[v].dtype.str) == key:
                    pool.setdefault(key, []).append(v)
                    dying[i] = [d for d in dying[i] if d != v]
                    break
            free = pool.get(key)
            if free and op.out in pinned:   # what leaves a call can't live in a kept buffer
                free = [b for b in free if b not in kept]
            if free:
                buf = free[-1]
                pool[key].remove(buf)
                if buf in kept:
                    kept.add(op.out)
                plan[i] = (ufunc, buf)
                # reusable later only if neither the buffer nor this value is viewed
                # (a reshape of it may still be read, or returned)
                prog.values[op.out].own = prog.values[buf].own and out.own
                _alias(prog, op.out, buf)
            elif op.out not in pinned and out.own:
                # a buffer the program keeps across calls: the value never leaves a call
                plan[i] = (ufunc, ("new", out.shape, out.dtype))
                kept.add(op.out)
        for v in dying.get(i, ()):
            if _reusable(prog, v, pinned):
                val = prog.values[v]
                pool.setdefault((val.shape, val.dtype.str), []).append(v)
    if drop:
        prog.ops = [op for i, op in enumerate(prog.ops) if i not in drop]
        plan = {i - sum(1 for d in drop if d < i): p for i, p in plan.items()}
    return plan


def _scaled_update(prog, i, dst, last, pinned):
    """(a, x, c, negate) of ``a -/+ x * c`` when op i is ``a - t`` or ``a + t`` (or
    ``t + a``) and t = ``x * c`` (or ``c * x``; c a Python number, or a 0-d value of x's
    dtype such as a bound learning rate) is made by op i-1 for op i alone, with a, x and
    the written ``dst`` all of one float shape; None otherwise."""
    op, prev = prog.ops[i], prog.ops[i - 1] if i else None
    if prev is None or prev.kind != "call" or prev.fn.name != "mul" or op.fn.name not in (
            "add", "sub") or prev.params or prev.side or prev.dyn or len(op.args) != 2:
        return None
    t = prev.out
    if t in pinned or last.get(t) != i or t not in op.args:
        return None
    a = op.args[1 - op.args.index(t)]
    if type(a) is not int or op.fn.name == "sub" and op.args[1] != t:
        return None
    big = [v for v in prev.args if type(v) is int and prog.values[v].shape]
    small = [v for v in prev.args if v not in big]
    if len(big) != 1 or len(small) != 1:
        return None
    x, c = big[0], small[0]
    if type(c) is int:          # a 0-d value: read by the kernel call on every replay
        if prog.values[c].dtype != prog.values[x].dtype:
            return None
    elif type(c.value) not in (int, float) or not math.isfinite(c.value):
        return None
    vals = [prog.values[v] for v in (a, x, dst)]
    if any(v.shape != vals[2].shape or v.dtype != vals[2].dtype for v in vals) or \
            not backend.is_floating(vals[2].dtype) or vals[1].root == vals[2].root:
        return None
    return a, x, c, op.fn.name == "sub"


def _alias(prog, v, buf):
    prog.alias = getattr(prog, "alias", {})
    prog.alias[v] = prog.alias.get(buf, buf)


def _reusable(prog, v, pinned):
    val = prog.values[v]
    return val.own and v not in pinned and val.kind == "op"
