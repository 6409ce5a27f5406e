"""From the traced Program to ONNX nodes: one converter per tapegrad primitive.

Converters register with ``@converts(name, ...)`` and get a :class:`Call` (the op's inputs
as ONNX names, its parameters, shapes and dtypes); they return the ONNX name of the op's
result. A parameter that follows the dynamic axes (a Sym) reaches only converters that
declare it in ``dynamic=``: the others would bake in the example's size, so the exporter
refuses instead. In-place updates become the value they write, which is only right when no
other view of the written memory is read afterwards; that is checked first.
"""
from .. import backend
from ..graph.ir import Lit
from ._capture import OnnxExporterError, UnsupportedOperatorError, Sym
from ._patterns import fuse

CONVERTERS = {}


def converts(*names, dynamic=()):
    """Register a converter for the primitives ``names``; ``dynamic``: the parameters it
    computes in the graph when they follow the dynamic axes."""
    def deco(fn):
        for n in names:
            CONVERTERS[n] = (fn, frozenset(dynamic))
        return fn
    return deco


class Call:
    """One traced op as a converter sees it."""

    def __init__(self, conv, i, op):
        self.conv, self.b, self.i, self.op = conv, conv.b, i, op
        self.name = op.name
        self.params = conv.cap.params(i)

    @property
    def n_args(self):
        """How many positional arguments the op took."""
        return len(self.op.args)

    def is_lit(self, k):
        """Is argument ``k`` a Python number (or None) rather than a tensor?"""
        return type(self.op.args[k]) is Lit

    def lit(self, k):
        """Argument ``k``'s Python value (int, float, bool, None, or a Sym)."""
        return self.conv.cap.lit(self.i, k)

    def vid(self, k):
        """Argument ``k``'s value number in the Program."""
        return self.op.args[k]

    def x(self, k):
        """The ONNX name of tensor argument ``k``."""
        a = self.op.args[k]
        if type(a) is Lit:
            raise self.unsupported(f"a number ({a.value!r}) where a tensor is expected "
                                   f"(argument {k})")
        return self.conv.names[a]

    def arg(self, k, dtype):
        """Argument ``k`` as an ONNX tensor of ``dtype``: a number becomes a constant, a
        tensor of another dtype is cast."""
        if self.is_lit(k):
            v = self.lit(k)
            return self.b.scalar_int(v, dtype) if isinstance(v, Sym) else self.b.const(v, dtype)
        name = self.x(k)
        return name if self.dtype(k) == dtype else self.b.cast(name, dtype)

    def dtype(self, k):
        """Tensor argument ``k``'s dtype (None for a number)."""
        return None if self.is_lit(k) else self.conv.prog.values[self.op.args[k]].dtype

    def shape(self, k):
        """Tensor argument ``k``'s shape (ints, and Syms for dynamic sizes)."""
        return self.conv.cap.shape(self.op.args[k])

    def derived(self, k, tag, make):
        """A folded initializer computed from argument k's known array by ``make`` (made once
        per argument and tag), or None when the argument isn't known at export time."""
        arr = self.static(k)
        if arr is None:
            return None
        key = (self.vid(k), tag)
        if key not in self.conv.cache:
            self.conv.cache[key] = self.b.initializer(make(arr),
                                                      f"{self.conv.names[self.vid(k)]}.{tag}")
        return self.conv.cache[key]

    def static(self, k):
        """Argument ``k``'s array when it is known at export time (a parameter or constant
        with constant folding on), else None."""
        a = self.op.args[k]
        if type(a) is Lit or a not in self.conv.static:
            return None
        return backend.to_host(self.conv.cap.arrays[a])

    def param(self, name):
        """Parameter ``name``, with Syms where it follows the dynamic axes."""
        return self.params[name]

    @property
    def out_dtype(self):
        """The op's result dtype."""
        return self.conv.prog.values[self.op.out].dtype

    @property
    def out_shape(self):
        """The op's result shape (ints and Syms)."""
        return self.conv.cap.shape(self.op.out)

    def node(self, op_type, inputs, outputs=1, **attrs):
        """Append an ONNX node (see Builder.node)."""
        return self.b.node(op_type, inputs, outputs, **attrs)

    def unsupported(self, what):
        """An OnnxExporterError naming this op, where it ran and what has no ONNX mapping."""
        return self.conv.error(self.i, what, UnsupportedOperatorError)


class Converter:
    """Walks the Program in order: inputs, parameters and constants, then each live op."""

    def __init__(self, cap, b, input_names, params_as_inputs, fold, names_of):
        self.cap, self.b, self.prog = cap, b, cap.prog
        self.names = dict(zip(self.prog.inputs, input_names))
        self.param_inputs = []          # [(name, array)] with export_params=False
        self.names_of = names_of        # id(array) -> the model's name for it
        self.params_as_inputs = params_as_inputs
        self.static = set()
        self.fold = fold
        self.producers = {op.out: op for op in self.prog.ops if op.kind == "call"}
        self.at = {op.out: i for i, op in enumerate(self.prog.ops) if op.kind == "call"}
        self.cache = {}                 # derived initializers (a transposed weight) by key

    def where(self, i):
        """Op ``i`` described for messages: its name, number and the module that ran it."""
        scope = self.cap.scopes[i]
        where = "" if scope is None else f", in module '{scope[0]}' ({scope[1]})" if scope[0] \
            else f", in the model's forward ({scope[1]})"
        return f"op '{self.prog.ops[i].name}' (op #{i} of the traced program{where})"

    def error(self, i, what, kind=OnnxExporterError):
        """An error (``kind``) naming op ``i``, the module that ran it and ``what``."""
        return kind(f"tg.onnx.export: {self.where(i)}: {what}")

    def run(self):
        """Convert the whole Program; the ONNX names of the results, in order."""
        prog = self.prog
        live = _live(prog)
        written = _check_writes(prog, self)
        for v in sorted(prog.state):
            if v in live:
                self._external(v, written)
        for i, op in enumerate(prog.ops):
            if op.kind == "guard":
                self._guard(i, op)
            elif op.out in live:
                self.b.where = self.where(i)
                scope = self.cap.scopes[i]
                self.b.scope = "/" + scope[0].replace(".", "/") if scope and scope[0] else ""
                self.names[op.out] = self._op(i, op, written)
        self.b.scope = ""
        return [self.names[v] for v in prog.out_vids]

    def _external(self, v, written):
        kind, info = self.cap.kinds[v]
        arr = self.cap.arrays[v]
        shape = self.cap.shape(v)
        b = self.b
        if kind == "fill":
            self.names[v] = b.node("ConstantOfShape", [b.shape(shape)], value=_tensor(
                b, backend.xp.asarray([info], dtype=arr.dtype)))
        elif kind == "arange":
            start, step = info
            dt = arr.dtype
            n = b.scalar_int(shape[0], dt)
            lim = b.node("Add", [b.const(start, dt), b.node("Mul", [n, b.const(step, dt)])])
            self.names[v] = b.node("Range", [b.const(start, dt), lim, b.const(step, dt)])
        else:
            name = self.names_of.get(id(arr))
            if kind == "state" and name is not None and self.params_as_inputs:
                self.names[v] = b.fresh(name)
                self.param_inputs.append((self.names[v], arr))
                return
            self.names[v] = b.initializer(arr, name or f"const_{v}")
            if v not in written:
                self.static.add(v)

    def _guard(self, i, op):
        check = op.params["check"].__name__
        if check not in ("in_range", "in_range_closed"):   # validation only: dropped
            raise self.error(i, f"the computation assumed that {op.params['what']}, which a "
                                f"graph can't check or branch on")

    def _op(self, i, op, written):
        prog, b = self.prog, self.b
        if op.kind == "write":
            src = op.args[1]
            dst = prog.values[op.args[0]]
            if type(src) is Lit:
                val = b.const(src.value, dst.dtype)
            else:
                val = self.names[src]
                if prog.values[src].dtype != dst.dtype:
                    val = b.cast(val, dst.dtype)
            if type(src) is Lit or self.cap.shape(src) != self.cap.shape(dst.vid):
                val = b.node("Expand", [val, b.shape(self.cap.shape(dst.vid))])
            return val if val != self.names.get(src) else b.node("Identity", [val])
        if op.kind == "view":
            return b.node("Reshape", [self.names[op.args[0]], b.shape(self.cap.shape(op.out))])
        if op.kind != "call":
            raise self.error(i, f"has no ONNX mapping (an IR '{op.kind}' op)",
                             UnsupportedOperatorError)
        if self.fold and self._foldable(i, op, written):
            self.static.add(op.out)
            return b.initializer(self.cap.arrays[op.out], f"{b.scope}/{op.name}_{op.out}")
        fused = fuse(self, op)
        if fused is not None:
            return fused
        entry = CONVERTERS.get(op.name)
        if entry is None and op.fn.random:
            raise self.error(i, "draws random numbers (dropout in training mode, or a random "
                                "op in the forward), and the exported graph is eval mode's: "
                                "pass the module itself as the model (it is put in eval "
                                "mode) or call .eval() on the modules a function uses",
                             UnsupportedOperatorError)
        if entry is None:
            raise self.error(i, "has no ONNX mapping in tapegrad's exporter. Write the model "
                                "with ops that have one (docs/onnx.md lists them), or "
                                "compute this part outside the exported model",
                             UnsupportedOperatorError)
        fn, dynamic = entry
        extra = self.cap.varying(i) - dynamic
        if extra:
            p = sorted(extra)[0]
            raise self.error(i, f"its parameter '{p}' ({op.params[p]!r} at the example "
                                f"sizes) follows the dynamic axes, and this op can't compute "
                                f"it in the graph; export with those axes static")
        return fn(Call(self, i, op))

    def _foldable(self, i, op, written):
        """Every input known at export time, nothing following the axes, no in-place
        change, not larger than its largest input (a broadcast stays a node)."""
        reads = op.values_read()
        if not reads or any(v not in self.static for v in reads) or op.out in written or \
                op.fn.random:       # a draw baked into the file would be one sample forever
            return False
        if any(p[1] == i for p in self.cap.syms if p[0] in ("param", "arg")) or \
                any(isinstance(s, Sym) for s in self.cap.shape(op.out)):
            return False
        size = self.cap.arrays[op.out].size
        return size <= max(self.cap.arrays[v].size for v in reads)


def _tensor(b, arr):
    return b.onnx.numpy_helper.from_array(backend.to_host(arr))


def _live(prog):
    """The values the results need (a write needs what it writes, not the old contents)."""
    need = set(prog.out_vids)
    for op in reversed(prog.ops):
        if op.kind == "guard" or op.out in need:
            need.update(op.args[1:2] if op.kind == "write" else op.values_read())
    return need


def _check_writes(prog, conv):
    """The values in-place updates touch, after checking that the functional reading (a
    write's result is the value written) is eager's: no stale view of the written memory
    may be read after the write, except to put the written view back into its base
    (``x[key] += 1`` writes the view, then sets x[key] to it)."""
    made = {op.out: op for op in prog.ops if op.out is not None}
    written = set()
    outs = set(prog.out_vids)
    for i, op in enumerate(prog.ops):
        if op.kind != "write":
            continue
        dst = prog.values[op.args[0]]
        root = dst.root
        if root in prog.state and conv.cap.kinds[root][0] == "state":
            raise conv.error(i, "updates a parameter, buffer or constant in place; a graph "
                                "has no state to update (export in eval mode)")
        stale = {v.vid for v in prog.values if v.root == root and v.vid < op.out}
        written |= stale | {op.out}
        for j in range(i + 1, len(prog.ops)):
            later = prog.ops[j]
            reads = later.args[1:2] if later.kind == "write" else later.values_read()
            for v in reads:
                if v in stale and not _puts_back(later, op, made):
                    raise conv.error(j, f"reads %{v}, whose memory op #{i} changed in place "
                                        f"through another view; write the update out of "
                                        f"place (y = x + 1 instead of x.add_(1))")
        if stale & outs:
            raise conv.error(i, "changes a result in place through another view; write the "
                                "update out of place")
    return written


def _puts_back(later, write, made):
    """``later`` is setitem(base, <write's result>, key) where the written view was
    getitem(base, key)."""
    view = made.get(write.args[0])
    if later.kind != "call" or later.name != "setitem" or view is None or \
            view.kind != "call" or view.name != "getitem":
        return False
    from ..graph.ir import same_params
    return (later.args[:2] == [view.args[0], write.out] and
            same_params(later.params.get("key"), view.params.get("key")))
