"""Replay: turn a Program into one straight-line Python function over arrays.

Each call becomes ``v7 = F3(C3, v2, v5, **P3)``: the op's own ``forward`` with a ctx object
made once per op (forwards store on it what later ops read, e.g. a ReLU mask, and those
side values are read back right after). No Tensor is created; generated straight-line code
avoids an interpreter loop's per-op dispatch. Ops the buffer pass rewrote run as NumPy
ufuncs with ``out=`` (passes.py says which and why that is bit-for-bit the same).
"""
from .. import backend
from .ir import bind
from .tracer import TraceError

xp = backend.xp


class Ctx:
    """What a forward gets as ``ctx`` at replay: somewhere to store attributes, and the
    array module of the program's device."""

    def __init__(self, recording, params, xp=backend.xp):
        self.recording = recording
        self.params = params
        self.xp = xp


def codegen(prog, plan=None):
    """Python source and namespace of ``run(*inputs) -> (outputs..., grads...)``."""
    plan = plan or {}
    m = prog.xp      # the device's array module
    ns = {"_copyto": m.copyto, "_asarray": m.asarray, "_nd": m.ndarray, "_bind": bind}
    body = []
    names = {}

    def name(v):
        return names.get(v, f"v{v}")

    for v, buf in getattr(prog, "alias", {}).items():
        names[v] = name(buf)

    for v, arr in prog.state.items():
        ns[f"v{v}"] = arr
    for v, arr in prog.consts.items():
        ns[f"v{v}"] = arr
    early = _early_guards(prog)
    for i in early:             # guards on inputs run first: a failure changes nothing
        _guard(prog.ops[i], i, ns, body, name, clean=True)
    for i, op in enumerate(prog.ops):
        if op.kind == "guard":
            if i not in early:
                _guard(op, i, ns, body, name, clean=False)
            continue
        if op.kind == "write":
            dst, src = op.args
            s = name(src) if type(src) is int else repr(src.value)
            body.append(f"_copyto({name(dst)}, {s}, casting='same_kind')")
            names[op.out] = name(dst)
            continue
        if op.kind == "fused":
            _fused(op, i, ns, body, name)
            continue
        if op.kind == "view":
            ns[f"S{i}"] = prog.values[op.out].shape
            body.append(f"v{op.out} = {name(op.args[0])}.reshape(S{i})")
            continue
        args = []
        for j, a in enumerate(op.args):
            if type(a) is int:
                args.append(name(a))
            elif _literal(a.value):
                args.append(repr(a.value))
            else:
                ns[f"L{i}_{j}"] = a.value
                args.append(f"L{i}_{j}")
        lowered = plan.get(i)
        if lowered is not None:             # a ufunc writing into a reused buffer
            ufunc, buf = lowered
            ns[f"U{i}"] = ufunc if m is xp else getattr(m, ufunc.__name__)
            if type(buf) is tuple:            # a buffer kept across calls
                with backend.on_device(prog.device):
                    ns[f"B{i}"] = m.empty(buf[1], buf[2])
                body.append(f"v{op.out} = U{i}({', '.join(args)}, B{i})")
                continue
            target = name(op.out)
            if target == name(buf):
                body.append(f"U{i}({', '.join(args)}, {target})")
            else:                             # (a ufunc's out can be passed by position)
                body.append(f"{target} = U{i}({', '.join(args)}, {name(buf)})")
            continue
        ns[f"F{i}"] = op.fn.forward
        ns[f"C{i}"] = Ctx(op.recording, op.params, m)
        top = [(k, v) for k, v in op.dyn if type(k) is not tuple]
        inner = [(k, v) for k, v in op.dyn if type(k) is tuple]
        static = {k: p for k, p in op.params.items() if k not in dict(top)}
        call = [f"C{i}"] + args + [f"{k}={name(v)}" for k, v in top]
        if inner:      # arrays inside a param (a key of index arrays): bound per call
            ns[f"P{i}"] = static
            ns[f"D{i}"] = [k for k, _ in inner]
            vals = "".join(f"{name(v)}, " for _, v in inner)
            call.append(f"**_bind(P{i}, D{i}, ({vals}))")
        elif static:
            ns[f"P{i}"] = static
            call.append(f"**P{i}")
        body.append(f"v{op.out} = F{i}({', '.join(call)})")
        if not prog.values[op.out].shape:   # a 0-d result may come back as a NumPy scalar
            body.append(f"if type(v{op.out}) is not _nd: v{op.out} = _asarray(v{op.out})")
        for attr, idx, v in op.side:
            body.append(f"v{v} = C{i}.{attr}" + (f"[{idx}]" if idx is not None else ""))
    ins = ", ".join(f"v{v}" for v in prog.inputs)
    rets = [name(v) for v in prog.out_vids] + [name(v) for _, v in prog.grads]
    src = [f"def run({ins}):"] + ["    " + line for line in body]
    src.append(f"    return ({', '.join(rets)}{',' if rets else ''})")
    return "\n".join(src), ns


def _early_guards(prog):
    """Guards that can run before every op: on arrays given to the call (inputs, state,
    constants), before any op writes memory (a write, or an update fused into one pass)."""
    early = []
    for i, op in enumerate(prog.ops):
        if op.kind == "write" or op.kind == "fused" and "scale" in op.params:
            break
        if op.kind == "guard" and all(a in prog.inputs or a in prog.state or a in prog.consts
                                      for a in op.args):
            early.append(i)
    return early


def _guard(op, i, ns, body, name, clean):
    p = op.params
    ns[f"G{i}"], ns[f"A{i}"], ns["_GuardFailed"] = p["check"], p["args"], GuardFailed
    ns[f"W{i}"] = p["what"]
    body.append(f"if not G{i}({name(op.args[0])}, *A{i}): raise _GuardFailed(W{i}, {clean})")


class GuardFailed(TraceError):
    """A replay found an assumption of the traced computation broken (a ``guard`` op).
    ``clean``: it was checked before anything ran (nothing was changed)."""

    def __init__(self, what, clean):
        super().__init__(
            f"the traced program assumed that {what}, and this call breaks that, so its "
            f"computation does not apply (eager runs another one, or raises)"
            + (". Nothing was changed." if clean else "; the replay stopped there, after the "
               "ops before it (state they wrote, if any, is updated).")
            + " Run such calls eagerly (tg.compile(fn, fallback='eager') does that for you "
              "when nothing had run yet).")
        self.clean = clean


def _fused(op, i, ns, body, name):
    """Inputs into the kept buffer's rows, one kernel call, live outputs copied out."""
    p = op.params
    if "scale" in p:            # fusion.scaled_update: out = a -/+ x * c, in one pass
        ns[f"K{i}"] = p["kernel"]
        c = repr(p["scale"]) if p["scale"] is not None else name(op.args[2])
        body.append(f"K{i}({name(op.args[0])}, {name(op.args[1])}, {c}, {name(op.out)}, "
                    f"{p['negate']})")
        return
    buf = p["buf"]
    ns[f"K{i}"], ns[f"Q{i}"], ns[f"B{i}"], ns[f"O{i}"] = p["kernel"], p["codes"], buf, p["one"]
    ns[f"R{i}"] = buf.reshape((buf.shape[0],) + p["shape"])    # rows in the values' shape
    for v, r in zip(op.args, p["in_slots"]):
        body.append(f"R{i}[{r}] = {name(v)}")
    body.append(f"K{i}(Q{i}, B{i}, O{i})")
    for v, r in zip(p["outs"], p["out_slots"]):
        body.append(f"{name(v)} = R{i}[{r}].copy()")


def _literal(v):
    """Python scalars whose repr reads back as the same value (written into the source)."""
    if v is None or type(v) is bool or type(v) is int:
        return True
    return type(v) is float and v == v and v not in (float("inf"), float("-inf"))


def build(prog, plan=None):
    src, ns = codegen(prog, plan if plan is not None else getattr(prog, "plan", None))
    code = compile(src, "<tapegrad.compile>", "exec")
    exec(code, ns)
    run = ns["run"]
    run.source = src
    return run
