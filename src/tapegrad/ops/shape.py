"""Shape and indexing: reshape, permute, getitem/setitem, clone. All are linear, so each
JVP is the op applied to the tangent, and each VJP is the op's transpose."""
from .. import backend
from ..core.function import Function
from ..core.registry import primitive, composite, linear_jvp
from ..core.tensor import Tensor, _make
from ..core.errors import ShapeError
from ._util import (Sample, normalize_dims, normalize_dim, check_dims_unique, size_args, as_int,
                    check_numbers, not_traceable, xp_of)


@primitive("reshape", public=False)
class Reshape(Function):
    """y = x with a new shape (a view when NumPy can make one); dy/dx reshapes back."""

    array_vjp = True
    view = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:   # checked here, off the common path, in PyTorch's words
            raise ShapeError(f"reshape: shape {list(shape)} is invalid for input of size "
                             f"{x.size} (shape {list(x.shape)})") from None

    @staticmethod
    def vjp(ctx, g):
        return reshape(g, ctx.in_shape)

    jvp = linear_jvp


@composite("reshape", method=True, aliases=("view",), samples=lambda rng: [
    Sample([rng.standard_normal((2, 3))], {"shape": (3, 2)}),
    Sample([rng.standard_normal((2, 3))], {"shape": (-1,)}),
    Sample([rng.standard_normal(())], {"shape": (1, 1)})])
def reshape(x, *shape, **kw):
    """A tensor with the same data and a new shape (-1 infers one size). ``view`` is an
    alias: tapegrad copies when the memory layout needs it instead of raising."""
    shape = size_args(shape or (kw.pop("shape", kw.pop("size", ())),), "reshape", "shape")
    if x.shape == shape:
        return x
    return Reshape.apply(x, shape=shape)


@primitive("permute", public=False)
class Permute(Function):
    """y = x with its dims reordered (a view); dy/dx applies the inverse permutation."""

    array_vjp = True
    view = True

    @staticmethod
    def forward(ctx, x, dims):
        return x.transpose(dims)

    @staticmethod
    def vjp(ctx, g):
        dims = ctx.params["dims"]
        inv = tuple(sorted(range(len(dims)), key=dims.__getitem__))
        return Permute.apply(g, dims=inv)

    jvp = linear_jvp


@composite("permute", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3, 4))], {"dims": (2, 0, 1)})])
def permute(x, *dims, **kw):
    """Reorder dimensions: ``x.permute(2, 0, 1)`` or ``tg.permute(x, dims=(2, 0, 1))``."""
    dims = size_args(dims or (kw["dims"],), "permute", "dims")
    if len(dims) != x.ndim:
        raise ShapeError(f"permute: the number of dims {list(dims)} does not match the "
                         f"tensor's {x.ndim} dims (shape {list(x.shape)})")
    dims = tuple(normalize_dim(d, x.ndim, "permute") for d in dims)
    check_dims_unique(dims, "permute")
    if dims == tuple(range(x.ndim)):
        return x
    return Permute.apply(x, dims=dims)


@composite("transpose", method=True, aliases=("swapaxes",), samples=lambda rng: [
    Sample([rng.standard_normal((2, 3))], {"dim0": 0, "dim1": 1}),
    Sample([rng.standard_normal((2, 3, 4))], {"dim0": -1, "dim1": 0})])
def transpose(x, dim0=0, dim1=1):
    """Swap two dimensions."""
    a, b = normalize_dim(dim0, x.ndim, "transpose"), normalize_dim(dim1, x.ndim, "transpose")
    dims = list(range(x.ndim))
    if x.ndim < 2:
        return x
    dims[a], dims[b] = dims[b], dims[a]
    return permute(x, *dims)


def _t(x):
    """Transpose of a matrix (reverses all dims, as NumPy's .T)."""
    return x if x.ndim < 2 else permute(x, *reversed(range(x.ndim)))


def _mT(x):
    """Swap the last two dims (batched matrix transpose)."""
    if x.ndim < 2:
        raise ShapeError(f"tensor.mT is only supported on matrices or batches of matrices. "
                         f"Got {x.ndim}-D tensor.")
    return transpose(x, -2, -1)


Tensor.T = property(_t)
Tensor.mT = property(_mT)
Tensor.H = property(_t)       # conjugate transposes: tapegrad's tensors are real
Tensor.mH = property(_mT)


@composite("t", method=True)
def t(x):
    """Transpose of a matrix: ``y[j, i] = x[i, j]``; a 0-d or 1-d tensor is returned as is
    (as ``torch.t``). tapegrad also reverses every dim of a tensor of more than 2 dims
    (NumPy's ``.T``) where PyTorch raises."""
    return _t(x)


@composite("squeeze", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 1, 3))], {"dim": 1}),
    Sample([rng.standard_normal((1, 3, 1))])])
def squeeze(x, dim=None):
    """Remove size-1 dims (all of them, or the given ones)."""
    if dim is None:
        shape = tuple(s for s in x.shape if s != 1)
    else:
        dims = normalize_dims(dim, x.ndim, "squeeze")
        shape = tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1))
    return reshape(x, shape)


@composite("unsqueeze", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3))], {"dim": 1}),
    Sample([rng.standard_normal((2, 3))], {"dim": -1})])
def unsqueeze(x, dim):
    """Insert a size-1 dim at ``dim``."""
    dim = normalize_dim(dim, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


@composite("flatten", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3, 4))], {"start_dim": 1})])
def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one."""
    s, e = normalize_dim(start_dim, x.ndim, "flatten"), normalize_dim(end_dim, x.ndim, "flatten")
    if s > e:
        raise RuntimeError(f"flatten: start_dim ({start_dim}) cannot come after end_dim "
                           f"({end_dim})")
    if x.ndim == 0:
        return reshape(x, (1,))
    return reshape(x, x.shape[:s] + (-1,) + x.shape[e + 1:])


@composite("unflatten", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 6))], {"dim": 1, "sizes": (2, 3)}),
    Sample([rng.standard_normal((6, 2))], {"dim": 0, "sizes": (-1, 2)}),
    Sample([rng.standard_normal((2, 0))], {"dim": -1, "sizes": (0, 4)})])
def unflatten(x, dim, sizes):
    """Split dim ``dim`` into ``sizes`` (one entry may be -1); the inverse of flatten."""
    d = normalize_dim(dim, x.ndim, "unflatten")
    sizes = size_args((sizes,), "unflatten", "sizes")
    n = x.shape[d]
    known = 1
    for s in sizes:
        known *= s if s != -1 else 1
    if sizes.count(-1) > 1 or (-1 not in sizes and known != n) or \
            (-1 in sizes and (known == 0 or n % known)):
        raise ShapeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the "
                           f"size of dim {dim} ({n}) in the input tensor of shape {list(x.shape)}")
    return reshape(x, x.shape[:d] + sizes + x.shape[d + 1:])


def _expand_shape(x, sizes, op="expand"):
    """PyTorch's expand sizes: -1 keeps a dim, new dims may only be added in front."""
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ShapeError(f"{op}: the number of sizes provided ({len(sizes)}) must be greater "
                           f"or equal to the number of dimensions in the tensor ({x.ndim}); "
                           f"sizes {list(sizes)}, tensor shape {list(x.shape)}")
    out = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise RuntimeError(f"{op}: the expanded size of the tensor ({s}) isn't allowed "
                                   f"in a leading, non-existing dimension {i}")
            out.append(s)
            continue
        old = x.shape[i - lead]
        if s == -1:
            s = old
        if s != old and old != 1:
            raise ShapeError(
                f"{op}: the expanded size of the tensor ({s}) must match the existing size "
                f"({old}) at non-singleton dimension {i}. Target sizes: {list(sizes)}. Tensor "
                f"sizes: {list(x.shape)}")
        out.append(s)
    return tuple(out)


@composite("expand", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((3, 1))], {"size": (3, 4)}),
    Sample([rng.standard_normal((3,))], {"size": (2, -1)}),
    Sample([rng.standard_normal(())], {"size": (2,)}),
    Sample([rng.standard_normal((1, 3))], {"size": (0, 3)})])
def expand(x, *sizes, **kw):
    """A read-only broadcast view of x with ``sizes`` (-1 keeps that dim; new dims go in
    front). The gradient sums over the expanded dims."""
    from ._util import broadcast_to
    sizes = size_args(sizes or (kw.pop("size"),), "expand", "size")
    return broadcast_to(x, _expand_shape(x, sizes))


@composite("expand_as", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((3, 1)), rng.integers(0, 1, (2, 3, 4))])])
def expand_as(x, other):
    """``x.expand(other.shape)``."""
    return expand(x, tuple(other.shape))


@composite("repeat", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3))], {"repeats": (2, 1)}),
    Sample([rng.standard_normal((3,))], {"repeats": (2, 2)}),
    Sample([rng.standard_normal(())], {"repeats": (3,)}),
    Sample([rng.standard_normal((2, 1))], {"repeats": (0, 3)})])
def repeat(x, *repeats, **kw):
    """Tile x ``repeats[i]`` times along each dim (PyTorch's ``Tensor.repeat``; extra leading
    repeats add dims). Built as reshape -> broadcast -> reshape, so the gradient is a sum
    over the copies and needs no rule of its own."""
    from ._util import broadcast_to
    reps = size_args(repeats or (kw.pop("repeats", kw.pop("sizes", ())),), "repeat", "repeats")
    if len(reps) < x.ndim:
        raise ShapeError(f"repeat: number of dimensions of repeat dims ({len(reps)}) can not be "
                           f"smaller than number of dimensions of tensor ({x.ndim}, shape "
                           f"{list(x.shape)})")
    if any(r < 0 for r in reps):
        raise RuntimeError(f"repeat: repeats can not be negative, got {list(reps)}")
    shape = (1,) * (len(reps) - x.ndim) + tuple(x.shape)
    inter = tuple(v for s in shape for v in (1, s))          # (1, s0, 1, s1, ...)
    wide = tuple(v for r, s in zip(reps, shape) for v in (r, s))
    out = broadcast_to(reshape(x, inter), wide)
    return reshape(out, tuple(r * s for r, s in zip(reps, shape)))


@composite("tile", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3))], {"dims": (2,)}),
    Sample([rng.standard_normal((3,))], {"dims": (2, 1)})])
def tile(x, dims):
    """``torch.tile``: like repeat, but missing leading entries of ``dims`` count as 1."""
    dims = size_args((dims,), "tile", "dims")
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)


@composite("flip", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3))], {"dims": (1,)}),
    Sample([rng.standard_normal((2, 3, 2))], {"dims": (0, -1)}),
    Sample([rng.standard_normal(())], {"dims": ()})])
def flip(x, *dims, **kw):
    """Reverse the order of elements along ``dims`` (a strided view, like x[..., ::-1]); the
    gradient is flipped back. ``x.flip(0, 2)`` and ``tg.flip(x, dims=(0, 2))`` both work."""
    dims = kw.pop("dims", None) if not dims else dims[0] if len(dims) == 1 else dims
    if dims is None:
        raise TypeError("flip() missing required argument 'dims'")
    dims = normalize_dims(dims, x.ndim, "flip")
    if not dims:
        return x
    key = tuple(slice(None, None, -1) if i in dims else slice(None) for i in range(x.ndim))
    return GetItem.apply(x, key=key)


@primitive("roll", public=False)
class Roll(Function):
    """y = x shifted cyclically by ``shifts`` along ``dims``; dy/dx rolls back by -shifts.
    Primitive for speed: one np.roll copy, where a composite needs two slices and a cat per
    dim."""

    @staticmethod
    def forward(ctx, x, shifts, dims):
        return ctx.xp.roll(x, shifts, dims)

    @staticmethod
    def vjp(ctx, g):
        p = ctx.params
        return Roll.apply(g, shifts=tuple(-s for s in p["shifts"]), dims=p["dims"])

    jvp = linear_jvp


@composite("roll", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3))], {"shifts": 1}),
    Sample([rng.standard_normal((2, 3))], {"shifts": (1, -2), "dims": (0, 1)}),
    Sample([rng.standard_normal((4,))], {"shifts": 5, "dims": 0})])
def roll(x, shifts, dims=None):
    """Roll x along ``dims`` by ``shifts`` (elements leaving one end come back at the other);
    without dims, the flattened tensor is rolled and the shape restored."""
    shifts = size_args((shifts,), "roll", "shifts")
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"roll: shifts {list(shifts)} need dims (one shift per dim)")
        return reshape(Roll.apply(reshape(x, (-1,)), shifts=shifts, dims=(0,)), x.shape)
    dims = size_args((dims,), "roll", "dims")
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, "
                           f"dims: {len(dims)}")
    dims = tuple(normalize_dim(d, x.ndim, "roll") for d in dims)
    return Roll.apply(x, shifts=shifts, dims=dims)


@composite("narrow", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((3, 4))], {"dim": 1, "start": 1, "length": 2}),
    Sample([rng.standard_normal((3, 4))], {"dim": 0, "start": -2, "length": 2}),
    Sample([rng.standard_normal((3, 4))], {"dim": 1, "start": 4, "length": 0})])
def narrow(x, dim, start, length):
    """The slice x[start:start+length] along ``dim`` (a view); start may be negative."""
    if x.ndim == 0:
        raise ShapeError("narrow() cannot be applied to a 0-dim tensor.")
    d = normalize_dim(dim, x.ndim, "narrow")
    n = x.shape[d]
    start, length = as_int(start, "narrow", "start"), as_int(length, "narrow", "length")
    if not -n <= start <= n:
        raise IndexError(f"narrow: start out of range (expected to be in range of [{-n}, {n}], "
                         f"but got {start}) for dim {dim} of a tensor of shape {list(x.shape)}")
    if start < 0:
        start += n
    if length < 0 or start + length > n:
        raise ShapeError(f"narrow: start ({start}) + length ({length}) exceeds dimension size "
                         f"({n}) of dim {dim} (tensor shape {list(x.shape)})")
    if start == 0 and length == n:
        return x
    return GetItem.apply(x, key=(slice(None),) * d + (slice(start, start + length),))


@composite("movedim", method=True, aliases=("moveaxis",), samples=lambda rng: [
    Sample([rng.standard_normal((2, 3, 4))], {"source": 0, "destination": -1}),
    Sample([rng.standard_normal((2, 3, 4))], {"source": (0, 1), "destination": (2, 0)})])
def movedim(x, source, destination):
    """Move dims ``source`` to positions ``destination``; the others keep their order."""
    src = size_args((source,), "movedim", "source")
    dst = size_args((destination,), "movedim", "destination")
    if len(src) != len(dst):
        raise ShapeError(f"movedim: Invalid source or destination dims: source ({list(src)} "
                         f"dims) should contain the same number of dims as destination "
                         f"({list(dst)} dims)")
    src = [normalize_dim(d, x.ndim, "movedim") for d in src]
    dst = [normalize_dim(d, x.ndim, "movedim") for d in dst]
    check_dims_unique(src, "movedim")
    check_dims_unique(dst, "movedim")
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(x, *order) if order else x


# -- indexing -------------------------------------------------------------------------------
_PLAIN = (int, slice, type(None), type(Ellipsis))   # key entries that are not arrays


def _basic(key):
    if not isinstance(key, tuple):
        key = (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (int, slice)) for k in key)


def normalize_key(key, like):
    """Index key as a tuple of ints, slices, None, Ellipsis and integer arrays (tensors and
    lists become arrays; boolean masks become the integer arrays of their True places).
    Index arrays go to the device of array ``like`` (the indexed data): host indices serve
    a GPU tensor, as in PyTorch, which refuses GPU indices for a CPU tensor, as here."""
    if not isinstance(key, tuple):
        key = (key,)
    out = []
    for k in key:
        if isinstance(k, Tensor):
            k = k._data
        elif isinstance(k, list):
            k = backend.asarray(k if k else [], None if k else backend.int64)  # [] indexes nothing
        elif isinstance(k, backend.generic) and k.dtype.kind in "iu":
            k = int(k)
        if type(k) in _PLAIN or not backend.is_array(k):
            out.append(k)
            continue
        if type(k) is not type(like):
            k = _move_index(k, like)
        if k.dtype == backend.bool_:
            if k.ndim == 0:  # x[True] adds a dim of size 1, x[False] one of size 0
                out.append(k)
            else:
                not_traceable("the places a boolean mask selects (x[mask]: use "
                              "tg.where(mask, x, 0) or multiply by the mask instead)")
                out.extend(xp_of(k).nonzero(k))
            continue
        if k.dtype.kind not in "iu":
            raise IndexError(f"tensors used as indices must be long, int or bool tensors, "
                             f"got {k.dtype}")
        out.append(k)
    return tuple(out)


def _move_index(k, like):
    dev = backend.device_of(like)
    if dev.type == "cpu":
        raise RuntimeError(f"indexing: indices should be either on cpu or on the same device as "
                           f"the indexed tensor (cpu); got indices on {backend.device_of(k)}")
    return backend.to_device(k, dev)


@primitive("getitem", public=False)
class GetItem(Function):
    """y = x[key]; dy/dx scatters g into zeros of x's shape (adding over repeated indices)."""

    array_vjp = True
    view = True

    @staticmethod
    def forward(ctx, x, key):
        ctx.in_shape = x.shape
        return x[key]

    @staticmethod
    def vjp(ctx, g):
        return IndexBackward.apply(g, key=ctx.params["key"], shape=ctx.in_shape)

    jvp = linear_jvp


@primitive("index_backward", public=False)
class IndexBackward(Function):
    """y = zeros(shape) with g added at key (the transpose of getitem)."""

    @staticmethod
    def forward(ctx, g, key, shape):
        out = ctx.xp.zeros(shape, g.dtype)
        if _basic(key):
            out[key] = g
        else:
            backend.scatter_add(out, key, g)
        return out

    @staticmethod
    def vjp(ctx, gg):
        return GetItem.apply(gg, key=ctx.params["key"])

    jvp = linear_jvp


def getitem(x, key):
    key = normalize_key(key, x._data)
    try:
        return GetItem.apply(x, key=key)
    except IndexError as e:
        raise IndexError(f"getitem: {e} (indexing a tensor of shape {list(x.shape)})") from None


Tensor.__getitem__ = getitem


@primitive("setitem", public=False)
class SetItem(Function):
    """y = x with y[key] = v;  dy/dx = g with zeros at key, dy/dv = g[key] (summed back over
    v's broadcast dims)."""

    promote = False

    @staticmethod
    def forward(ctx, x, v, key):
        out = x.copy()
        out[key] = v
        ctx.v_shape = getattr(v, "shape", ())
        return out

    @staticmethod
    def vjp(ctx, g):
        from ._util import sum_to
        key = ctx.params["key"]
        nx, nv = ctx.needs_input_grad
        gx = SetItem.apply(g, 0.0, key=key) if nx else None
        gv = sum_to(GetItem.apply(g, key=key), ctx.v_shape) if nv else None
        return gx, gv

    @staticmethod
    def jvp(ctx, tx, tv):
        # linear_jvp would pass the number 0 for a missing tangent; x needs an array
        if tx is None:
            tx = _make(ctx.xp.zeros(ctx.shape, ctx.dtype))
        return SetItem.apply(tx, 0.0 if tv is None else tv, key=ctx.params["key"])


def setitem(x, key, value):
    """``x[key] = value``: writes into x's memory; recorded when a gradient must flow."""
    from ..core.modes import STATE
    key = normalize_key(key, x._data)
    x._check_inplace("setitem")
    if isinstance(value, Tensor):
        if type(value._data) is not type(x._data):    # a value of another device is copied over
            value = value.to(x.device)
        if value.dtype != x.dtype:
            value = value.to(x.dtype)
    needs = STATE.grad_enabled and (x.node is not None or
                                    (isinstance(value, Tensor) and value.node is not None))
    tangents = STATE.fw_levels and (x._fw or (isinstance(value, Tensor) and value._fw))
    if not needs and not tangents and STATE.trace is None:  # (a tracer must see the write)
        if not backend.is_writeable(x._data):
            raise RuntimeError("setitem: this tensor's memory is read-only (an expanded or "
                               "broadcast view); clone() it first")
        x._data[key] = value._data if isinstance(value, Tensor) else value
        x._vc[0] += 1
        return
    x._inplace(SetItem, (value,), {"key": key})


Tensor.__setitem__ = setitem


@primitive("clone", method=True, samples=lambda rng: [Sample([rng.standard_normal((2, 3))])])
class Clone(Function):
    """y = a copy of x (new memory);  dy/dx = identity."""

    array_vjp = True

    @staticmethod
    def forward(ctx, x):
        check_numbers("clone", input=x)   # (a list's or a dict's copy() would do)
        return x.copy()

    @staticmethod
    def vjp(ctx, g):
        return g

    jvp = linear_jvp
