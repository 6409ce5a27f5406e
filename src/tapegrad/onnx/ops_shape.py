"""Converters for shapes and indexing: Reshape, Transpose, Expand, Concat, Slice, Gather,
GatherND, ScatterND, Pad, Trilu, OneHot.

Sizes come from the traced shapes, with the ones that follow the dynamic axes computed in
the graph: a reshape with one such size writes -1 there; with more, the sizes are computed
from the inputs' shapes. Slice bounds that follow the axes are computed the same way.
"""
from .. import backend
from ._capture import Sym
from ._convert import converts

_BIG = 2 ** 63 - 1     # a slice bound past either end (ONNX clamps it)


@converts("reshape", dynamic=("shape",))
def reshape(c):
    """Reshape to the traced shape: -1 for one dynamic size, computed sizes for more."""
    out = c.out_shape
    syms = [j for j, s in enumerate(out) if isinstance(s, Sym)]
    if len(syms) == 1:
        out = tuple(-1 if j == syms[0] else s for j, s in enumerate(out))
    zero = 0 in out
    return c.node("Reshape", [c.x(0), c.b.shape(out)], allowzero=1 if zero else None)


@converts("permute", "heads_layout")
def permute(c):
    """Transpose."""
    return c.node("Transpose", [c.x(0)], perm=list(c.param("dims")))


@converts("broadcast_to", dynamic=("shape",))
def broadcast_to(c):
    """Expand to the traced shape (dynamic sizes computed)."""
    return c.node("Expand", [c.x(0), c.b.shape(c.out_shape)])


@converts("sum_to_size", dynamic=("shape",))
def sum_to_size(c):
    """ReduceSum over the broadcast dims, then Reshape."""
    xs, ts = c.shape(0), c.out_shape
    lead = len(xs) - len(ts)
    axes = list(range(lead)) + [lead + j for j, t in enumerate(ts)
                                if t == 1 and xs[lead + j] != 1]
    out = c.b.reduce("ReduceSum", c.x(0), axes, True) if axes else c.x(0)
    return c.node("Reshape", [out, c.b.shape(ts)])


@converts("cat")
def cat(c):
    """Concat (1-d empty inputs beside others skipped, as PyTorch)."""
    parts = [c.arg(k, c.out_dtype) for k in range(c.n_args)
             if not (c.shape(k) == (0,) and len(c.out_shape) != 1)]   # PyTorch's legacy rule
    return c.node("Concat", parts, axis=c.param("dim"))


@converts("stack")
def stack(c):
    """Unsqueeze each input, then Concat."""
    d = c.param("dim")
    return c.node("Concat", [c.b.unsqueeze(c.arg(k, c.out_dtype), [d]) for k in range(c.n_args)],
                  axis=d)


@converts("pad_constant")
def pad_constant(c):
    """Pad with a constant (negative widths crop, as in ONNX)."""
    w = c.param("widths")
    pads = c.b.ints([a for a, _ in w] + [z for _, z in w])
    return c.node("Pad", [c.x(0), pads, c.b.const(c.param("value"), c.out_dtype)],
                  mode="constant")


@converts("triangle")
def triangle(c):
    """Trilu (opset 14 and later)."""
    if c.b.opset < 14:
        raise c.unsupported("tril/triu need ONNX's Trilu (opset 14 or later)")
    return c.node("Trilu", [c.x(0), c.b.const(c.param("k"), backend.int64)],
                  upper=int(bool(c.param("upper"))))


@converts("one_hot")
def one_hot(c):
    """OneHot with values [0, 1] (int64)."""
    depth = c.b.const(c.param("num_classes"), backend.int64)
    return c.node("OneHot", [c.x(0), depth, c.b.ints([0, 1])], axis=-1)


@converts("einsum")
def einsum(c):
    """Einsum with the same equation."""
    eq = ",".join(c.param("terms")) + "->" + c.param("out")
    return c.node("Einsum", [c.arg(k, c.out_dtype) for k in range(c.n_args)], equation=eq)


@converts("roll")
def roll(c):
    """Per dim, the last s entries Concat the first n - s (Slice)."""
    x, shifts, dims = c.x(0), c.param("shifts"), c.param("dims")
    shifts = [shifts] if isinstance(shifts, int) else list(shifts)
    shape = c.shape(0)
    if dims is None:
        x, shape, dims = c.node("Reshape", [x, c.b.ints([-1])]), (None,), [0]
    dims = [dims] if isinstance(dims, int) else list(dims)
    for s, d in zip(shifts, dims):
        n = shape[d]
        if isinstance(n, int):
            s %= n
        elif abs(s) >= n.value:
            raise c.unsupported("a roll by at least the size of a dynamic axis")
        if s == 0:
            continue
        cut = c.b.ints([-s])
        ax = c.b.ints([d])
        x = c.node("Concat", [c.node("Slice", [x, cut, c.b.ints([_BIG]), ax]),
                              c.node("Slice", [x, c.b.ints([0]), cut, ax])], axis=d)
    if c.param("dims") is None:
        x = c.node("Reshape", [x, c.b.shape(c.out_shape)])
    return x


# -- indexing -------------------------------------------------------------------------------
def _key(c, ndim):
    """The key as (kind, item) per consumed dim or None: 'slice', 'int', 'array' (an ONNX
    name), 'none'; Ellipsis expanded and the key padded with full slices."""
    key = c.param("key")
    key = key if isinstance(key, tuple) else (key,)
    arrays = {path[1]: v for path, v in c.op.dyn if type(path) is tuple and path[0] == "key"}
    items = []
    for j, k in enumerate(key):
        if j in arrays:
            if c.conv.prog.values[arrays[j]].dtype == backend.bool_:
                raise c.unsupported("indexing with a 0-d boolean")
            items.append(("array", c.conv.names[arrays[j]], arrays[j]))
        elif k is None:
            items.append(("none", None, None))
        elif k is Ellipsis:
            items.append(("...", None, None))
        elif isinstance(k, slice):
            items.append(("slice", k, None))
        else:
            items.append(("int", k, None))
    used = sum(kind in ("slice", "int", "array") for kind, _, _ in items)
    out = []
    for kind, k, v in items:
        if kind == "...":
            out += [("slice", slice(None), None)] * (ndim - used)
            used = ndim
        else:
            out.append((kind, k, v))
    return out + [("slice", slice(None), None)] * (ndim - used)


def _slices(c, x, items, shape):
    """One Slice for every slice that selects less than its whole dim."""
    starts, ends, axes, steps = [], [], [], []
    d = 0
    for kind, k, _ in items:
        if kind == "none":
            continue
        if kind == "slice":
            step = 1 if k.step is None else k.step
            whole = step == 1 and k.start in (None, 0) and (
                k.stop is None or (isinstance(shape[d], int) and isinstance(k.stop, int) and
                                   k.stop >= shape[d]))
            if not whole:
                starts.append(k.start if k.start is not None else 0 if step > 0 else _BIG)
                ends.append(k.stop if k.stop is not None else _BIG if step > 0 else -_BIG - 1)
                axes.append(d)
                steps.append(step)
        d += 1
    if not axes:
        return x
    return c.node("Slice", [x, c.b.shape(starts), c.b.shape(ends), c.b.ints(axes),
                            c.b.ints(steps)])


def _index(c, k, v):
    """An index item as an int64 ONNX tensor."""
    if v is None:
        return c.b.scalar_int(k, backend.int64)
    dt = c.conv.prog.values[v].dtype
    return k if dt in (backend.int64, backend.int32) else c.b.cast(k, backend.int64)


@converts("getitem", dynamic=("key",))
def getitem(c):
    """x[key]: Slice, Gather (ints, one index array), Unsqueeze (None), GatherND (several
    index arrays)."""
    shape = c.shape(0)
    items = _key(c, len(shape))
    x = _slices(c, c.x(0), items, shape)
    consumed = [it for it in items if it[0] != "none"]
    n_arr = sum(kind == "array" for kind, _, _ in consumed)
    n_int = sum(kind == "int" for kind, _, _ in consumed)
    if n_arr == 0 or (n_arr == 1 and n_int == 0):
        # basic indexing, or one index array (its dims go in its place): Gathers, Unsqueeze
        for d in reversed(range(len(consumed))):
            kind, k, v = consumed[d]
            if kind in ("int", "array"):
                x = c.node("Gather", [x, _index(c, k, v)], axis=d)
        pos, news = 0, []
        for kind, k, v in items:
            if kind == "none":
                news.append(pos)
            pos += {"none": 1, "slice": 1, "int": 0}.get(kind, 0) or (
                len(c.conv.cap.shape(v)) if kind == "array" else 0)
        return c.b.unsqueeze(x, news) if news else x
    return _advanced(c, x, items, consumed)


def _advanced(c, x, items, consumed):
    """Several index arrays (ints among them count as 0-d arrays): NumPy's rule, as
    GatherND over the indexed dims moved to the front."""
    if any(kind == "none" for kind, _, _ in items):
        raise c.unsupported("indexing with None beside several index arrays")
    adv = [d for d, (kind, _, _) in enumerate(consumed) if kind != "slice"]
    rest = [d for d in range(len(consumed)) if d not in adv]
    if adv != list(range(len(adv))):
        x = c.node("Transpose", [x], perm=adv + rest)
    idx = [_index(c, consumed[d][1], consumed[d][2]) for d in adv]
    total = idx[0]
    for i in idx[1:]:
        total = c.node("Add", [total, i])
    shape = c.node("Shape", [total])
    cols = [c.b.unsqueeze(c.node("Expand", [i, shape]), [-1]) for i in idx]
    out = c.node("GatherND", [x, c.node("Concat", cols, axis=-1)])
    nb = len(c.out_shape) - len(rest)
    first = adv[0]
    if adv == list(range(first, first + len(adv))) and first:   # adjacent: in place
        perm = list(range(nb, nb + first)) + list(range(nb)) + \
            list(range(nb + first, nb + len(rest)))
        out = c.node("Transpose", [out], perm=perm)
    return out


@converts("setitem", dynamic=("key",))
def setitem(c):
    """x[key] = v as ScatterND over every place the key selects (ints and slices only)."""
    shape = c.shape(0)
    items = _key(c, len(shape))
    if any(kind in ("none", "array") for kind, _, _ in items):
        raise c.unsupported("assigning through None or index arrays (x[idx] = v)")
    b = c.b
    coords, region = [], []
    for d, (kind, k, _) in enumerate(items):
        n = shape[d]
        if kind == "int":
            if isinstance(k, Sym) or (k < 0 and isinstance(n, Sym)):
                raise c.unsupported("assigning at an index that follows a dynamic axis")
            coords.append(b.ints([k % n if isinstance(n, int) else k]))
            region.append(1)
        elif isinstance(n, Sym) or any(isinstance(p, Sym) for p in (k.start, k.stop)):
            if k != slice(None):
                raise c.unsupported("assigning to part of a dynamic axis")
            coords.append(c.node("Range", [b.const(0, backend.int64),
                                           b.scalar_int(n, backend.int64),
                                           b.const(1, backend.int64)]))
            region.append(n)
        else:
            r = list(range(*k.indices(n)))
            coords.append(b.ints(r))
            region.append(len(r))
    full = b.shape(region)
    cols = []
    for d, col in enumerate(coords):
        shp = [1] * len(coords)
        shp[d] = -1
        cols.append(b.unsqueeze(c.node("Expand", [c.node("Reshape", [col, b.ints(shp)]), full]),
                                [-1]))
    ind = c.node("Concat", cols, axis=-1)
    picked = [r for r, (kind, _, _) in zip(region, items) if kind != "int"]
    v = c.node("Expand", [c.arg(1, c.out_dtype), b.shape(picked)])
    return c.node("ScatterND", [c.x(0), ind, c.node("Reshape", [v, full])])
