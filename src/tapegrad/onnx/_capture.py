"""Tracing a model for ONNX export, and finding which of its integers follow the dynamic axes.

The forward runs once at the example sizes under tg.compile's tracer (graph/tracer.py), in
eval mode without gradients: a Program of primitive calls with their parameters. With
dynamic axes it runs again with each axis at other sizes (the example inputs repeated along
that axis, so integer inputs such as token ids stay valid). The traces must record the same
ops; an integer that differs between them (a reshape's size, a slice bound, a scalar
argument, a value's shape) follows the axes. Each is fitted as a multilinear polynomial in
the axis sizes with rational coefficients (``batch``, ``5*seq*batch + 5*batch``) from the
2**k corner sizes and checked at one more size; the exporter computes such integers in the
graph from the inputs' shapes. Everything else is baked into the file.
"""
import itertools
from fractions import Fraction

from .. import backend
from ..core.modes import no_grad
from ..core.tensor import Tensor, _make
from ..graph.ir import Lit, same_params, static_params
from ..graph.tracer import Tracer, TraceError


class OnnxExporterError(RuntimeError):
    """The model can't be written as an ONNX graph faithfully (the message says why); as
    torch.onnx.OnnxExporterError."""


class UnsupportedOperatorError(OnnxExporterError):
    """An op (or a use of one) that tapegrad's exporter has no ONNX mapping for; the message
    names the op and the module that ran it."""


class Sym:
    """An integer of the traced program that changes with the dynamic axes: ``value`` at the
    example sizes, ``poly`` {(axis names...): coefficient} or None when no polynomial fits,
    ``seen`` the values of every trace (for messages)."""
    __slots__ = ("value", "poly", "seen")

    def __init__(self, value, poly, seen):
        self.value, self.poly, self.seen = value, poly, seen

    def __repr__(self):
        if self.poly is None:
            return f"{self.value} (no polynomial in the dynamic axes fits {self.seen})"
        terms = []
        for mono, c in sorted(self.poly.items(), key=lambda t: (-len(t[0]), t[0])):
            names = "*".join(mono)
            terms.append(names if c == 1 and names else
                         f"{c}*{names}" if names else str(c))
        return " + ".join(terms) or "0"


class Capture:
    """The traced program at the example sizes and what the other traces taught.

    ``prog``/``arrays``: the Program and each value's array; ``syms``: {path: Sym} for the
    integers that follow the axes; ``kinds``: {value: (kind, info)} for arrays no op made:
    ("state", None) read by reference (parameters, buffers), ("const", None) fixed arrays,
    ("fill", scalar) and ("arange", (start, step)) constants whose shape follows the axes;
    ``axes``: {axis name: [(input number, dim)]}; ``result``: the eager result; ``scopes``:
    per op, the module that ran it as (name, class name), e.g. ("layers.0.linear1",
    "Linear"), ("", "GPT") for the model's own forward, or None."""

    def __init__(self, prog, arrays, result, axes, scopes):
        self.prog, self.arrays, self.result, self.axes = prog, arrays, result, axes
        self.scopes = scopes
        self.syms = {}
        self.kinds = {v: ("state", None) for v in prog.state}

    def shape(self, vid):
        """Value ``vid``'s shape: ints, and Syms for the sizes that follow the axes."""
        return tuple(self.syms.get(("shape", vid, d), s)
                     for d, s in enumerate(self.prog.values[vid].shape))

    def lit(self, i, k):
        """Op ``i``'s scalar argument ``k`` (an int, float, bool, None or Sym)."""
        return self.syms.get(("arg", i, k), self.prog.ops[i].args[k].value)

    def params(self, i):
        """Op ``i``'s parameters with Syms where they follow the axes."""
        return _rebuild(self.prog.ops[i].params, ("param", i), self.syms)

    def varying(self, i):
        """The names of op ``i``'s parameters that follow the axes."""
        return {p[2] for p in self.syms if p[0] == "param" and p[1] == i}


def trace(fn, args, kwargs, spans=None):
    """Run ``fn(*args, **kwargs)`` under the tracer, without gradients: (tracer, Program,
    result, the tensor inputs in order). With ``spans`` (a list), ``fn`` is a Module and each
    submodule call appends (first op, end op, name): see :func:`_scopes`."""
    tensors = []
    _map_tensors((args, kwargs), lambda t: tensors.append(t) or t)
    tracer = Tracer(on_read="error")
    hooks = [] if spans is None else _hook_modules(fn, tracer, spans)
    try:
        with no_grad(), tracer:
            for i, t in enumerate(tensors):
                tracer.input(t._data, label=f"arg{i}")
            result = fn(*args, **kwargs)
    finally:
        for h in hooks:
            h.remove()
    return tracer, tracer.finish(result, tensors), result, tensors


def _hook_modules(model, tracer, spans):
    stack, hooks = [], []
    for name, mod in model.named_modules():
        def pre(m, args):
            stack.append(len(tracer.prog.ops))

        def post(m, args, out, name=name):
            spans.append((stack.pop(), len(tracer.prog.ops), name, type(m).__name__))
        hooks += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
    return hooks


def _scopes(spans, n):
    """Per op, (name, class name) of the innermost module whose call recorded it, or None."""
    out = [None] * n
    order = sorted(range(len(spans)), key=lambda j: (spans[j][0] - spans[j][1], -j))
    for j in order:   # longest first; of equal spans the outer (which ended later) first
        start, end, name, kind = spans[j]
        for i in range(start, end):
            out[i] = (name, kind)
    return out


def capture(fn, args, kwargs, axes):
    """Trace ``fn`` at the example sizes and, for dynamic ``axes`` ({name: [(input, dim)]}),
    at other sizes (without axes, once more at the example sizes); fit the integers that
    change and classify the constants (see the module docstring)."""
    spans = [] if hasattr(fn, "named_modules") else None
    try:
        tracer, prog, result, tensors = trace(fn, args, kwargs, spans)
    except TraceError as e:
        raise OnnxExporterError(_export_words(str(e))) from None
    cap = Capture(prog, tracer.arrays, result, axes, _scopes(spans or [], len(prog.ops)))
    names = list(axes)    # none: a second trace at the example sizes finds random constants
    base = {s: _size(tensors, axes[s], s) for s in names}
    alt = {s: _other_sizes(n) for s, n in base.items()}
    points = [{s: alt[s][0] if mask >> j & 1 else base[s] for j, s in enumerate(names)}
              for mask in range(2 ** len(names))] + [{s: alt[s][1] for s in names}]
    runs = [(prog, tracer.arrays)]
    for point in points[1:]:
        args2, kwargs2 = _resized((args, kwargs), tensors, axes, point)
        try:
            t2, p2, _, _ = trace(fn, args2, kwargs2)
        except TraceError as e:
            raise OnnxExporterError(_export_words(str(e))) from None
        except Exception as e:
            raise OnnxExporterError(
                f"tg.onnx.export: the model fails when its dynamic axes have the sizes {point} "
                f"instead of {base} ({type(e).__name__}: {e}); export with those axes static, "
                f"or with example inputs whose sizes can vary (dims that must stay equal "
                f"need one axis name in dynamic_axes)") from e
        _align(prog, p2, base, point)
        runs.append((p2, t2.arrays))
    seen = _integers(runs)
    for path, values in seen.items():
        if len(set(values)) > 1:
            cap.syms[path] = Sym(values[0], _fit(names, points, values), values)
    _classify(cap, runs, points)
    return cap


def _export_words(msg):
    """The tracer's refusal (written for tg.compile) in the exporter's words, without the
    advice to run eagerly, which an exported graph can't."""
    msg = msg.replace("tg.compile: ", "tg.onnx.export: ", 1).replace(
        "outside the compiled function (compile around it)", "outside the exported model")
    cut = msg.find(" compile with tg.compile(fn, fallback='eager')")
    if cut > 0:
        msg = msg[:cut].rstrip().removesuffix(", or").removesuffix(" or").rstrip(",") + \
            "; a graph can't follow a tensor's values in Python."
    return msg


# -- the example inputs at other sizes -----------------------------------------------------
def _map_tensors(x, fn):
    if isinstance(x, Tensor):
        return fn(x)
    if isinstance(x, dict):
        return {k: _map_tensors(v, fn) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        items = [_map_tensors(v, fn) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
    return x


def _size(tensors, where, name):
    sizes = {tensors[i].shape[d] for i, d in where}
    if len(sizes) != 1:
        raise ValueError(f"tg.onnx.export: dynamic axis '{name}' names dims of different sizes "
                         f"in the example inputs ({sorted(sizes)}); one name is one size")
    return sizes.pop()


def _other_sizes(n):
    """Two more sizes for an axis of example size n: smaller when the model may have a
    maximum (a block size), never 0 or 1 (size-1 dims broadcast)."""
    return (n - 1, n - 2) if n >= 4 else (n + 1, n + 2)


def _resized(tree, tensors, axes, point):
    """``tree`` with each input repeated or cut along its dynamic dims to ``point``'s sizes."""
    new = {}
    for s, where in axes.items():
        for i, d in where:
            arr = new.get(i, tensors[i]._data)
            xp = backend.array_module(arr)
            idx = xp.arange(point[s]) % arr.shape[d]
            new[i] = xp.take(arr, idx, axis=d)
    pos = {id(t): i for i, t in enumerate(tensors)}
    return _map_tensors(tree, lambda t: _make(new[pos[id(t)]]) if pos[id(t)] in new else t)


# -- comparing traces ----------------------------------------------------------------------
def _align(a, b, base, point):
    """The two programs must record the same ops on the same values."""
    def differ(why):
        if point == base:
            raise OnnxExporterError(
                f"tg.onnx.export: the model's traced program changes from one call to the "
                f"next on the same inputs ({why}); one graph can't serve a forward that "
                f"isn't deterministic")
        raise OnnxExporterError(
            f"tg.onnx.export: the model's traced program changes when its dynamic axes have the "
            f"sizes {point} instead of {base} ({why}): its computation depends on those sizes "
            f"beyond integers (e.g. squeeze() of a size-1 batch, a branch on x.shape, a scale "
            f"of 1/sqrt(size)), so one graph can't serve them all. Export with example sizes "
            f"above 1 or with those axes static")
    if len(a.ops) != len(b.ops) or len(a.values) != len(b.values):
        differ(f"{len(a.ops)} ops against {len(b.ops)}")
    if a.inputs != b.inputs or a.out_vids != b.out_vids:
        differ("other inputs or results")
    for i, (x, y) in enumerate(zip(a.ops, b.ops)):
        if x.kind != y.kind or x.fn is not y.fn or x.out != y.out or x.dyn != y.dyn or \
                len(x.args) != len(y.args) or x.params.keys() != y.params.keys():
            differ(f"op #{i}: {x.name} against {y.name}")
        for p, q in zip(x.args, y.args):
            if (type(p) is Lit) != (type(q) is Lit) or (type(p) is not Lit and p != q):
                differ(f"op #{i} ({x.name}) reads other values")
            if type(p) is Lit and not (type(p.value) is int and type(q.value) is int) and p != q:
                differ(f"op #{i} ({x.name}) takes the number {p.value!r} at one size and "
                       f"{q.value!r} at the other, which is not an integer")
        skel = [_skeleton(static_params(o.params, o.dyn)) for o in (x, y)]
        if not same_params(*skel):
            differ(f"op #{i} ({x.name}) has parameters that change and are not integers: "
                   f"{skel[0]} / {skel[1]}")
    if a.state.keys() != b.state.keys():
        differ("other parameters or constants")


def _skeleton(x):
    """``x`` with every int replaced by 0 (what must not change between the traces)."""
    if type(x) is int:
        return 0
    if isinstance(x, slice):
        return slice(_skeleton(x.start), _skeleton(x.stop), _skeleton(x.step))
    if isinstance(x, dict):
        return {k: _skeleton(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(_skeleton(v) for v in x) if not hasattr(x, "_fields") else x
    return x


def _walk_ints(x, path, out):
    if type(x) is int:
        out[path] = x
    elif isinstance(x, slice):
        for j, part in enumerate((x.start, x.stop, x.step)):
            _walk_ints(part, path + (j,), out)
    elif isinstance(x, dict):
        for k, v in x.items():
            _walk_ints(v, path + (k,), out)
    elif isinstance(x, (tuple, list)):
        for j, v in enumerate(x):
            _walk_ints(v, path + (j,), out)


def _integers(runs):
    """{path: [value per trace]} for every integer of the programs: op parameters
    ("param", op, name, ...), scalar arguments ("arg", op, k) and sizes ("shape", value, dim)."""
    seen = {}
    for prog, _ in runs:
        flat = {}
        for i, op in enumerate(prog.ops):
            for k, a in enumerate(op.args):
                if type(a) is Lit and type(a.value) is int:
                    flat[("arg", i, k)] = a.value
            for name, p in static_params(op.params, op.dyn).items():
                _walk_ints(p, ("param", i, name), flat)
        for v in prog.values:
            for d, s in enumerate(v.shape):
                flat[("shape", v.vid, d)] = s
        for path, value in flat.items():
            seen.setdefault(path, []).append(value)
    return seen


def _fit(names, points, values):
    """The multilinear polynomial through the 2**k corner values, or None when it misses the
    check value (the last one) or the integer isn't one at every corner."""
    k = len(names)
    base = points[0]
    delta = {s: Fraction(points[1 << j][s] - base[s]) for j, s in enumerate(names)}
    poly = {}
    for a in range(2 ** k):
        d = sum((-1) ** bin(a ^ b).count("1") * values[b]
                for b in range(2 ** k) if b & a == b)
        if not d:
            continue
        inside = [s for j, s in enumerate(names) if a >> j & 1]
        scale = Fraction(d)
        for s in inside:
            scale /= delta[s]
        for r in range(len(inside) + 1):
            for mono in itertools.combinations(inside, r):
                c = scale
                for s in inside:
                    if s not in mono:
                        c *= -base[s]
                poly[mono] = poly.get(mono, 0) + c
    poly = {m: c for m, c in poly.items() if c}
    check = points[-1]
    got = sum(c * _prod(check[s] for s in m) for m, c in poly.items())
    return poly if got == values[-1] else None


def _prod(xs):
    out = 1
    for x in xs:
        out *= x
    return out


def _classify(cap, runs, points):
    """Arrays no op made: the same array in every trace is state; new arrays of one shape
    with equal values are constants; shapes that follow the axes must be filled with one
    value or count up (arange); anything else was computed from data outside the ops."""
    prog = cap.prog
    for v in prog.state:
        arrs = [r[1][v] for r in runs]
        if all(a is arrs[0] for a in arrs):
            continue
        users = [op.name for op in prog.ops if v in op.values_read()]
        who = f"op '{users[0]}'" if users else "the result"
        if not any(isinstance(s, Sym) for s in cap.shape(v)):
            if all(same_params(arrs[0], a) for a in arrs):
                cap.kinds[v] = ("const", None)
                continue
            raise OnnxExporterError(
                f"tg.onnx.export: {who} reads a constant {prog._ty(v)} whose values change with "
                f"the inputs or between calls: it was computed from tensor data outside tapegrad "
                f"ops (e.g. x.numpy()) or drawn at random in the forward (tg.randn), so a graph "
                f"would bake in the example's values. Compute it with tensor ops, or make it a "
                f"parameter or buffer")
        hosts = [backend.to_host(a) for a in arrs]
        flat = [h.reshape(-1) for h in hosts]
        if all(f.size and (f == flat[0][0]).all() for f in flat):
            cap.kinds[v] = ("fill", flat[0][0].item())
            continue
        if hosts[0].ndim == 1 and all(f.size >= 2 for f in flat):
            start, step = flat[0][0].item(), (flat[0][1] - flat[0][0]).item()
            xp = backend.xp
            if all((f == start + step * xp.arange(f.size, dtype=f.dtype)).all() for f in flat):
                cap.kinds[v] = ("arange", (start, step))
                continue
        raise OnnxExporterError(
            f"tg.onnx.export: {who} reads a constant {prog._ty(v)} made outside tapegrad ops "
            f"whose shape follows the dynamic axes and whose values are neither one number "
            f"nor a range; the graph can't recompute it for other sizes. Make it with tensor "
            f"ops from the input, or export with those axes static")


def _rebuild(x, path, syms):
    if type(x) is int:
        return syms.get(path, x)
    if isinstance(x, slice):
        return slice(*(_rebuild(p, path + (j,), syms)
                       for j, p in enumerate((x.start, x.stop, x.step))))
    if isinstance(x, dict):
        return {k: _rebuild(v, path + (k,), syms) for k, v in x.items()}
    if isinstance(x, (tuple, list)) and not hasattr(x, "_fields"):
        return type(x)(_rebuild(v, path + (j,), syms) for j, v in enumerate(x))
    return x
