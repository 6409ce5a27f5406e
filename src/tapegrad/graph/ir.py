"""The graph IR that tg.compile and tg.Graph share: a straight-line list of primitive calls.

A ``Program`` has numbered values (``%3``). Each value is an input (a placeholder, bound
per call), state (an array owned outside the program and used by reference: parameters,
optimizer buffers; replay reads and writes the live array), a constant (an array made
while tracing that never changes: folded results, ``ones`` seeds), or the result of an op:

- ``call``: ``fn.forward(ctx, *args, **params)`` of a registered ``Function``; ``args`` are
  value numbers or ``Lit`` Python scalars; ``dyn`` are params that are arrays of the
  program (labels given to cross-entropy); ``side`` are arrays the forward stored on its
  ctx that later ops read (masks, indices, the softmax a VJP reuses).
- ``write``: copy value ``src`` into the memory of value ``dst`` (an in-place update). The
  updated memory gets a new value number, so data dependencies stay explicit.
- ``view``: ``src`` reshaped (an array a rule derived from another by ``reshape``).
- ``fused``: a run of elementwise calls replayed as one kernel call (fusion.py; made only
  by that pass, after tracing); ``params["ops"]`` keeps the calls it replaced.
- ``guard``: ``params["check"](value, *params["args"])`` held while tracing (a composite
  chose its computation from index values, e.g. cross-entropy's targets all being class
  indices); replay checks it on every call (first thing, when it reads only inputs) and
  stops with an error when it fails. No result.

No op is defined here: replay calls the same ``forward`` the eager path runs.
"""
from .. import backend


class Lit:
    """A Python scalar (or None) argument, stored in the op."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return type(other) is Lit and type(self.value) is type(other.value) and \
            _same(self.value, other.value)

    def __hash__(self):
        return hash((type(self.value), repr(self.value)))

    def __repr__(self):
        return repr(self.value)


class Op:
    __slots__ = ("kind", "fn", "args", "params", "dyn", "out", "side", "recording")

    def __init__(self, kind, fn, args, out, params=None, dyn=(), side=(), recording=False):
        self.kind = kind          # "call", "write" or "view"
        self.fn = fn              # Function class (call), None otherwise
        self.args = list(args)    # value numbers or Lit
        self.params = params or {}
        self.dyn = list(dyn)      # [(param name or (name, i, ...) inside it, value number)]
        self.out = out            # value number of the result (or of the written memory)
        self.side = list(side)    # [(attr, index or None, value number)]
        self.recording = recording  # the forward ran with a recording ctx

    @property
    def name(self):
        return self.fn.name if self.kind == "call" else self.kind

    def values_read(self):
        return [a for a in self.args if type(a) is int] + [v for _, v in self.dyn]

    def values_made(self):
        return ([] if self.out is None else [self.out]) + [v for _, _, v in self.side]


class Value:
    __slots__ = ("vid", "shape", "dtype", "kind", "label", "own", "root")

    def __init__(self, vid, shape, dtype, kind, label=None):
        self.vid, self.shape, self.dtype, self.kind, self.label = vid, shape, dtype, kind, label
        self.own = False   # its memory is its own: no view of it, nor it of another array
        self.root = vid    # the first value sharing its memory (views and writes share it)


class Program:
    """What was traced: values, ops, and where the results go."""

    def __init__(self):
        self.values = []      # Value per number
        self.inputs = []      # value numbers bound to the call's tensors, in order
        self.state = {}       # value number -> live array used by reference
        self.consts = {}      # value number -> array fixed at trace time
        self.ops = []
        self.outputs = None   # the function's result with value numbers for tensors
        self.out_vids = []    # those numbers, in order
        self.grads = []       # [(("arg", k) or ("leaf", weakref), value number)]: .grad results
        self.bindings = []    # [(dict, key, 0-d state array)]: refreshed from dict[key] per call
        self.watched = []     # [(dict, key, value)]: Python values the trace assumed
        self.device = None    # where its arrays live (set when the trace is finished)

    @property
    def xp(self):
        """The array module of the program's device (NumPy, CuPy)."""
        return backend.module_for(self.device or backend.CPU)

    def new_value(self, arr, kind, label=None):
        v = Value(len(self.values), tuple(arr.shape), arr.dtype, kind, label)
        self.values.append(v)
        return v.vid

    # -- printing -----------------------------------------------------------------------
    def _ty(self, vid):
        v = self.values[vid]
        return f"{v.dtype}[{','.join(str(s) for s in v.shape)}]"

    def _arg(self, a):
        return f"%{a}" if type(a) is int else repr(a.value)

    def __str__(self):
        ins = ", ".join(f"%{v}: {self._ty(v)}" + (f" ({self.values[v].label})"
                                                  if self.values[v].label else "")
                        for v in self.inputs)
        lines = [f"graph({ins}) {{"]
        for v in sorted(self.state):
            lab = self.values[v].label
            lines.append(f"  %{v}: {self._ty(v)} = state" + (f" {lab}" if lab else ""))
        for v in sorted(self.consts):
            arr = self.consts[v]
            shown = repr(arr.item()) if arr.size == 1 else "array"
            lines.append(f"  %{v}: {self._ty(v)} = const {shown}")
        plan = getattr(self, "plan", None) or {}
        for i, op in enumerate(self.ops):
            line = "  " + self.format_op(op)
            if i in plan:
                buf = plan[i][1]
                line += "  [out= a kept buffer]" if type(buf) is tuple else \
                    f"  [out= %{buf}'s buffer]" if buf != op.out else ""
            lines.append(line)
        outs = ", ".join(f"%{v}" for v in self.out_vids)
        lines.append(f"  return {outs}" if outs else "  return")
        for where, v in self.grads:
            who = f"arg {where[1]}" if where[0] == "arg" else "state"
            lines.append(f"  .grad of {who} <- %{v}")
        lines.append("}")
        return "\n".join(lines)

    def format_op(self, op):
        if op.kind == "fused":      # the ops it replaced, listed under it
            outs = ", ".join(f"%{v}" for v in op.params["outs"])
            ins = ", ".join(f"%{v}" for v in op.args)
            inner = "".join(f"\n    | {self.format_op(o)}" for o in op.params["ops"])
            return f"{outs or '_'} = fused[{len(op.params['ops'])} ops]({ins}){inner}"
        if op.kind == "write":
            return f"%{op.out} = write %{op.args[0]} <- %{op.args[1]}"
        if op.kind == "guard":
            return f"guard %{op.args[0]}: {op.params['what']}"
        if op.kind == "view":
            return f"%{op.out}: {self._ty(op.out)} = view %{op.args[0]}"
        args = [self._arg(a) for a in op.args]
        args += [f"{k}=%{v}" for k, v in op.dyn if type(k) is not tuple]
        args += [f"{k}={_short(p)}" for k, p in static_params(op.params, op.dyn).items()
                 if k not in dict(op.dyn)]
        args += [f"{k[0]}{list(k[1:])}=%{v}" for k, v in op.dyn if type(k) is tuple]
        side = "".join(f", %{v}={a}" + (f"[{i}]" if i is not None else "")
                       for a, i, v in op.side)
        return f"%{op.out}: {self._ty(op.out)}{side} = {op.name}({', '.join(args)})"

    __repr__ = __str__


def arrays_in(params, is_array):
    """[(path, array)] for every array in ``params``, also inside tuples and lists (a
    GetItem key holding index arrays): path is the param's name, or (name, i, j, ...)."""
    found = []

    def walk(x, path):
        if is_array(x):
            found.append((path[0] if len(path) == 1 else path, x))
        elif isinstance(x, (tuple, list)):
            for i, item in enumerate(x):
                walk(item, path + (i,))
    for k, p in params.items():
        walk(p, (k,))
    return found


def bind(params, paths, values):
    """``params`` with the array at each path replaced by the matching value."""
    out = dict(params)
    for path, val in zip(paths, values):
        if type(path) is not tuple:
            out[path] = val
            continue
        out[path[0]] = _put(out[path[0]], path[1:], val)
    return out


def _put(x, path, val):
    items = list(x)
    items[path[0]] = val if len(path) == 1 else _put(items[path[0]], path[1:], val)
    return type(x)(items) if type(x) in (tuple, list) else tuple(items)


def static_params(params, dyn):
    """``params`` with the arrays bound per call (``dyn``) blanked out: what must be equal
    between two traces, and what CSE may compare."""
    return bind(params, [k for k, _ in dyn], [None] * len(dyn))


def _short(p):
    if hasattr(p, "shape") and hasattr(p, "dtype") and getattr(p, "ndim", 0):
        return f"<{p.dtype}{list(p.shape)}>"
    return repr(p)


def _same(a, b):
    """Equality for op parameters, arrays included (compared by dtype, shape and values)."""
    if hasattr(a, "shape") and hasattr(a, "dtype"):
        return (hasattr(b, "shape") and hasattr(b, "dtype") and a.shape == b.shape and
                a.dtype == b.dtype and bool((a == b).all() if not backend.is_floating(a.dtype) else
                                            ((a == b) | ((a != a) & (b != b))).all()))
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return a is b


same_params = _same
