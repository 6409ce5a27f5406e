"""Shape and indexing: reshape, permute, getitem/setitem, clone. All are linear, so each
JVP is the op applied to the tangent, and each VJP is the op's transpose."""
from .. import backend
from ..core.function import Function, primitive, composite, linear_jvp
from ..core.tensor import Tensor
from ._util import Sample, normalize_dims

xp = backend.xp


def _size_args(shape):
    """Accept f(2, 3), f((2, 3)) and f([2, 3])."""
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = shape[0]
    return tuple(int(s) for s in shape)


@primitive("reshape", public=False)
class Reshape(Function):
    """y = x with a new shape (a view when NumPy can make one); dy/dx reshapes back."""

    view = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

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
    shape = _size_args(shape) if shape else tuple(kw.pop("shape", kw.pop("size", ())))
    if x.shape == shape:
        return x
    return Reshape.apply(x, shape=shape)


@primitive("permute", public=False)
class Permute(Function):
    """y = x with its dims reordered (a view); dy/dx applies the inverse permutation."""

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
    dims = _size_args(dims) if dims else tuple(kw["dims"])
    if len(dims) != x.ndim:
        raise ValueError(f"permute: got {len(dims)} dims for a tensor with {x.ndim} dims")
    dims = tuple(d % max(x.ndim, 1) for d in dims)
    if dims == tuple(range(x.ndim)):
        return x
    return Permute.apply(x, dims=dims)


@composite("transpose", method=True, aliases=("swapaxes",), samples=lambda rng: [
    Sample([rng.standard_normal((2, 3))], {"dim0": 0, "dim1": 1}),
    Sample([rng.standard_normal((2, 3, 4))], {"dim0": -1, "dim1": 0})])
def transpose(x, dim0=0, dim1=1):
    """Swap two dimensions."""
    n = max(x.ndim, 1)
    dims = list(range(x.ndim))
    a, b = dim0 % n, dim1 % n
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
        raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. "
                           f"Got {x.ndim}-D tensor.")
    return transpose(x, -2, -1)


Tensor.T = property(_t)
Tensor.mT = property(_mT)
composite("t", method=True)(lambda x: _t(x))  # x.t(), as in PyTorch


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
    n = x.ndim + 1
    if not -n <= dim < n:
        raise IndexError(f"unsqueeze: dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {dim})")
    dim %= n
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


@composite("flatten", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3, 4))], {"start_dim": 1})])
def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one."""
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return reshape(x, x.shape[:s] + (-1,) + x.shape[e + 1:])


# -- indexing -------------------------------------------------------------------------------
def _basic(key):
    return all(k is None or k is Ellipsis or isinstance(k, (int, slice)) for k in key)


def normalize_key(key):
    """Index key as a tuple of ints, slices, None, Ellipsis and integer arrays (tensors and
    lists become arrays; boolean masks become the integer arrays of their True places)."""
    if not isinstance(key, tuple):
        key = (key,)
    out = []
    for k in key:
        if isinstance(k, Tensor):
            k = k._data
        elif isinstance(k, list):
            k = xp.asarray(k)
        elif isinstance(k, backend.generic) and k.dtype.kind in "iu":
            k = int(k)
        if isinstance(k, backend.ndarray):
            if k.dtype == bool:
                out.extend(xp.nonzero(k))
                continue
            if k.dtype.kind not in "iu":
                raise IndexError(f"tensors used as indices must be long, int or bool tensors, "
                                 f"got {k.dtype}")
        out.append(k)
    return tuple(out)


@primitive("getitem", public=False)
class GetItem(Function):
    """y = x[key]; dy/dx scatters g into zeros of x's shape (adding over repeated indices)."""

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
            ctx.xp.add.at(out, key, g)
        return out

    @staticmethod
    def vjp(ctx, gg):
        return GetItem.apply(gg, key=ctx.params["key"])

    jvp = linear_jvp


def getitem(x, key):
    key = normalize_key(key)
    try:
        return GetItem.apply(x, key=key)
    except IndexError as e:
        raise IndexError(f"{e} (indexing a tensor of shape {list(x.shape)})") from None


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

    jvp = linear_jvp


def setitem(x, key, value):
    """``x[key] = value``: writes into x's memory; recorded when a gradient must flow."""
    from ..core.modes import STATE
    key = normalize_key(key)
    x._check_inplace("setitem")
    if isinstance(value, Tensor) and value.dtype != x.dtype:
        value = value.to(x.dtype)
    needs = STATE.grad_enabled and (x.node is not None or
                                    (isinstance(value, Tensor) and value.node is not None))
    if not needs:
        if not x._data.flags.writeable:
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

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def vjp(ctx, g):
        return g

    jvp = linear_jvp
