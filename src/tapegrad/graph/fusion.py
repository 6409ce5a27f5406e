"""Fusion of elementwise chains: a pass that replaces each long run of consecutive
elementwise calls on one small float shape by one ``fused`` op, replayed as a single call
of a generic numba kernel (_vm.py), compiled once and cached, not once per chain.

Why: replaying W2 (a 1,000-op chain on float32 (16,), forward and backward) is ~2,700 NumPy
ufunc calls at ~0.7 us each of pure call overhead; the kernel does the same arithmetic
in one call.

A run is a maximal sequence of consecutive ``call`` ops, each one of ``OPCODES`` (add, sub,
mul, div, neg, exp, log, tanh, sigmoid, relu, tanh_grad, sigmoid_grad, relu_grad) with no
params, side values or dynamic params, whose result and array arguments all have one float
dtype and whose results all have one shape S (array arguments may also be 0-d; Python
scalar literals are allowed). Any other op (a write, a view, a reduction) ends the run, so
no write can change a fused op's inputs midway. A run is fused only when it has at least
``MIN_OPS`` ops and S is small (``MAX_ELEMENTS``, or ``MAX_ELEMENTS_TRANSCENDENTAL`` when
the run calls exp/log/tanh/sigmoid): for bigger arrays NumPy's own (SIMD) loops already
amortise the call overhead and win.

The fused op keeps one buffer (slots x n) across calls: literal rows are filled once,
inputs are copied into their rows, the kernel runs the instruction list (slots are reused
as values die; a gradient sum accumulates in place), and every value that is read after
the run (by a later op, or returned, or a .grad) is copied out into a new array.

Results: add, sub, mul, div, neg, relu and the three *_grad ops do the same IEEE float
operations in the same order as their NumPy forwards, so they are bit for bit the same.
exp, log, tanh and sigmoid call numba's (the C library's) exp/log/tanh instead of NumPy's
SIMD loops, which may differ in the last bit (float32: within rtol 1e-6 per op; a long
chain carries such differences along as any rounding difference). Pass ``fuse=False`` to
``tg.compile`` for replay that is bit for bit eager's.

When numba can't be imported, the pass does nothing (plain NumPy replay).
"""
from .. import backend
from .ir import Op

np = backend.xp     # (the array library sits behind backend: STYLE.md principle 9)

#: the fusable primitives (the opcode table lives with the kernel; this copy lets the pass
#: decide without importing numba)
FUSABLE = ("add", "sub", "mul", "div", "neg", "exp", "log", "tanh", "sigmoid", "relu",
           "tanh_grad", "sigmoid_grad", "relu_grad")
# Thresholds measured with tg.compile on chains of k ops (x*w, +c, tanh repeated; and the
# same with -w for tanh), fused against unfused, per call: on (16,) fusion wins from about
# 6 ops (k=6: 12 vs 16 us; k=30: 13 vs 24 us); the kernel's arithmetic loops vectorise but
# its exp/log/tanh call the C library once per element (~25 ns against NumPy's SIMD ~1 ns),
# so with tanh, 128 elements already lose (k=30: 38 vs 22 us; 64: even); arithmetic only,
# 256 elements win (13 vs 20 us), 1,024 are even (25 vs 25 us), 4,096 lose (99 vs 60 us).
MIN_OPS = 8
MAX_ELEMENTS = 512
MAX_ELEMENTS_TRANSCENDENTAL = 64
TRANSCENDENTAL = ("exp", "log", "tanh", "sigmoid")


def kernel():
    """The _vm module, or None when numba is not importable."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return None
    from . import _vm
    return _vm


def fuse(prog, min_ops=None):
    """Replace long elementwise runs of ``prog`` by fused ops (in place)."""
    min_ops = MIN_OPS if min_ops is None else min_ops
    runs, cur = [], []
    for i, op in enumerate(prog.ops):
        if _fusable(prog, op, cur and prog.ops[cur[0]]):
            cur.append(i)
            continue
        runs.append(cur)
        cur = [i] if _fusable(prog, op, None) else []
    runs.append(cur)
    runs = [r for r in runs if len(r) >= min_ops and _small(prog, [prog.ops[i] for i in r])]
    if not runs:
        return prog
    vm = kernel()
    if vm is None:
        return prog
    # values read after each op index: a fused run's live outputs
    read_after = [None] * len(prog.ops)
    live = set(prog.out_vids) | {v for _, v in prog.grads}
    for i in range(len(prog.ops) - 1, -1, -1):
        read_after[i] = frozenset(live)
        live.update(prog.ops[i].values_read())
    new_ops = list(prog.ops)
    for r in reversed(runs):
        new_ops[r[0]:r[-1] + 1] = [_fused_op(prog, [prog.ops[i] for i in r],
                                             read_after[r[-1]], vm)]
    prog.ops = new_ops
    return prog


def _lit(a):
    """A literal's slot key: by type and repr, so 0.0 and -0.0 (and 1 and 1.0) stay apart."""
    return ("lit", type(a.value), repr(a.value))


def _small(prog, ops):
    n = int(np.prod(prog.values[ops[0].out].shape))
    heavy = any(op.fn.name in TRANSCENDENTAL for op in ops)
    return n <= (MAX_ELEMENTS_TRANSCENDENTAL if heavy else MAX_ELEMENTS)


def _fusable(prog, op, first):
    if op.kind != "call" or op.fn.name not in FUSABLE or op.params or op.side or op.dyn:
        return False
    out = prog.values[op.out]
    if not backend.is_floating(out.dtype) or not out.shape:
        return False
    for a in op.args:
        if type(a) is int:
            v = prog.values[a]
            if v.dtype != out.dtype or (v.shape and v.shape != out.shape):
                return False
        elif type(a.value) not in (float, int, bool):
            return False
    if first:
        f = prog.values[first.out]
        return f.shape == out.shape and f.dtype == out.dtype
    return True


def _fused_op(prog, ops, read_after, vm):
    """One ``fused`` op for ``ops``: args are its inputs; out and side its live outputs."""
    made = {op.out for op in ops}
    last = {}
    for k, op in enumerate(ops):
        for a in op.args:
            if type(a) is int:
                last[a] = k
    outs = [op.out for op in ops if op.out in read_after]
    slots = {}        # value number or a literal key (_lit) -> slot
    free = []
    n_slots = [0]

    def new_slot():
        if free:
            return free.pop()
        n_slots[0] += 1
        return n_slots[0] - 1
    inputs, lits = [], []
    for op in ops:
        for a in op.args:
            if type(a) is int and a not in made and a not in slots:
                slots[a] = new_slot()
                inputs.append(a)
            elif type(a) is not int and _lit(a) not in slots:
                slots[_lit(a)] = new_slot()
                lits.append(a.value)
    codes = []
    for k, op in enumerate(ops):
        ins = [slots[a] if type(a) is int else slots[_lit(a)] for a in op.args]
        for a in op.args:       # values dying here free their slot (literal rows stay)
            if type(a) is int and last.get(a) == k and a not in read_after and \
                    slots[a] not in free:
                free.append(slots[a])
        slots[op.out] = new_slot()
        ins += [ins[-1]] * (2 - len(ins))
        codes.append((vm.OPCODES[op.fn.name], slots[op.out], ins[0], ins[1]))
        if last.get(op.out) is None and op.out not in read_after:
            free.append(slots[op.out])    # (dead result: its slot is free again)
    val = prog.values[ops[0].out]
    buf = np.zeros((n_slots[0], int(np.prod(val.shape))), val.dtype)
    for lit in lits:
        buf[slots[("lit", type(lit), repr(lit))]] = lit
    fused = Op("fused", None, inputs, outs[0] if outs else ops[-1].out,
               side=[("outs", k, v) for k, v in enumerate(outs[1:], 1)])
    fused.params = {"ops": ops, "codes": np.asarray(codes, np.int64).reshape(-1, 4),
                    "buf": buf, "in_slots": [slots[a] for a in inputs],
                    "out_slots": [slots[v] for v in outs], "outs": outs,
                    "kernel": vm.run, "one": val.dtype.type(1), "shape": val.shape}
    return fused


def scaled_update(mul, update, a, x, c, negate, vm):
    """``t = x * c; a -/+ t`` written into a's memory as one pass (``vm.scaled_add``): an
    SGD step's ``w -= lr * g`` reads and writes each array once instead of twice. ``c`` is
    a Lit or a 0-d value. Made by passes.plan_buffers, which checks that t is read by the
    update alone."""
    args = [a, x] + ([c] if type(c) is int else [])
    op = Op("fused", None, args, update.out)
    op.params = {"ops": [mul, update], "outs": [update.out], "kernel": vm.scaled_add,
                 "scale": None if type(c) is int else c.value, "negate": negate}
    return op
