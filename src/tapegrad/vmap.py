"""vmap: run a function written for one example on a whole batch.

Inside ``vmap(f)``, arguments are BatchedTensors: their arrays carry the batch in dim 0, but
``shape``/``ndim`` report the per-example (logical) shape, so ``f`` runs unchanged. When an op
sees a batched input, ``batch_apply`` applies its batching rule: elementwise ops align the
batch dim and broadcast, reductions and shape ops shift their dims by one, matmul aligns
operands. An op without a rule runs once per example and the results are stacked (correct,
slower). Everything stays on the tape, so ``vmap(grad(f))`` gives per-example gradients.
"""
from . import backend
from .core import function
from .core.function import apply
from .core.registry import OPS
from .core.modes import STATE
from .core.tensor import Tensor, _make
from .ops.reduce import Sum
from .ops.shape import Reshape, GetItem

xp = backend.xp


class BatchedTensor(Tensor):
    """A tensor holding a batch in dim 0 that presents the shape of one example."""

    __slots__ = ()

    @property
    def shape(self):
        return self._data.shape[1:]

    @property
    def ndim(self):
        return self._data.ndim - 1

    def dim(self):
        return self._data.ndim - 1

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return int(xp.prod(self.shape)) if self.shape else 1

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self):
        return f"BatchedTensor(batch={self._data.shape[0]}, {Tensor.__repr__(self.physical())})"

    def physical(self):
        """The plain tensor with the batch in dim 0 (same memory, same graph node)."""
        t = _make(self._data, self.node)
        t._vc, t._fw = self._vc, self._fw
        return t


def batched(t):
    """Wrap plain tensor ``t`` (batch in dim 0) as a BatchedTensor sharing its node."""
    b = BatchedTensor.__new__(BatchedTensor)
    b._data, b.node, b._grad, b._vc, b._base, b._src, b._fw = (
        t._data, t.node, None, t._vc, None, t._src, t._fw)
    return b


def _phys(a):
    return a.physical() if isinstance(a, BatchedTensor) else a


def _align(a, rank):
    """Physical tensor of batched ``a`` with ones inserted after the batch dim so its logical
    rank becomes ``rank`` (so it broadcasts against unbatched operands)."""
    p = a.physical()
    missing = rank - a.ndim
    if missing <= 0:
        return p
    shape = (p.shape[0],) + (1,) * missing + tuple(a.shape)
    return apply(Reshape, (p,), {"shape": shape})


# -- rules: each returns a plain tensor with the batch in dim 0 ---------------------------------
def _elementwise(fn, args, params):
    rank = max((a.ndim for a in args if isinstance(a, Tensor)), default=0)
    new = tuple(_align(a, rank) if isinstance(a, BatchedTensor) else a for a in args)
    return apply(fn, new, params)


def _shift(dims, ndim):
    if dims is None:
        return tuple(range(1, ndim + 1))
    if isinstance(dims, int):
        return dims % max(ndim, 1) + 1
    return tuple(d % max(ndim, 1) + 1 for d in dims)


def _reduce(key):
    def rule(fn, args, params):
        x = args[0]
        p = dict(params)
        p[key] = _shift(params[key], x.ndim)
        return apply(fn, (x.physical(),) + tuple(args[1:]), p)
    return rule


def _reshape(fn, args, params):
    x = args[0].physical()
    return apply(fn, (x,), {"shape": (x.shape[0],) + tuple(params["shape"])})


def _permute(fn, args, params):
    return apply(fn, (args[0].physical(),),
                 {"dims": (0,) + tuple(d + 1 for d in params["dims"])})


def _broadcast_to(fn, args, params):
    shape = tuple(params["shape"])
    x = _align(args[0], len(shape))
    return apply(fn, (x,), {"shape": (x.shape[0],) + shape})


def _sum_to(fn, args, params):
    x = args[0]
    shape = tuple(params["shape"])
    lead = x.ndim - len(shape)
    p = x.physical()
    if lead:
        p = apply(Sum, (p,), {"dims": tuple(range(1, lead + 1)), "keepdim": False})
    return apply(fn, (p,), {"shape": (p.shape[0],) + shape})


def _basic_key(key):
    return all(k is None or k is Ellipsis or isinstance(k, (int, slice)) for k in key)


def _getitem(fn, args, params):
    key = params["key"]
    arrays = [k for k in key if isinstance(k, backend.ndarray)]
    if not _basic_key(key) and not (len(arrays) == 1 and len(key) == 1):
        return None
    return apply(fn, (args[0].physical(),), {"key": (slice(None),) + tuple(key)})


def _matmul(fn, args, params):
    a, b = args[:2]
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    reshape = Reshape

    def as_matrix(t, vec, where):
        if not vec:
            return t
        if isinstance(t, BatchedTensor):
            p = t.physical()
            shape = (p.shape[0], 1, p.shape[1]) if where == "row" else (p.shape[0], p.shape[1], 1)
            return batched(apply(reshape, (p,), {"shape": shape}))
        shape = (1,) + tuple(t.shape) if where == "row" else tuple(t.shape) + (1,)
        return apply(reshape, (t,), {"shape": shape})
    a2, b2 = as_matrix(a, a_vec, "row"), as_matrix(b, b_vec, "col")
    rank = max(a2.ndim, b2.ndim)
    pa = _align(a2, rank) if isinstance(a2, BatchedTensor) else a2
    pb = _align(b2, rank) if isinstance(b2, BatchedTensor) else b2
    out = apply(fn, (pa, pb), params)
    shape = out.shape
    if a_vec:
        shape = shape[:-2] + shape[-1:]
    if b_vec:
        shape = shape[:-1]
    return apply(reshape, (out,), {"shape": shape}) if shape != out.shape else out


ELEMENTWISE = {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le",
               "gt", "ge", "where", "to", "clone", "alias", "atan2", "remainder", "fmod",
               "floor_divide", "logaddexp", "lerp", "copysign", "hypot"}
RULES = {"sum": _reduce("dims"), "amax": _reduce("dims"), "amin": _reduce("dims"),
         "reshape": _reshape, "permute": _permute, "broadcast_to": _broadcast_to,
         "sum_to_size": _sum_to, "getitem": _getitem, "matmul": _matmul}


def _rule(fn):
    from .core.registry import elementwise_jvp
    if fn.name in RULES:
        return RULES[fn.name]
    if fn.name in ELEMENTWISE or fn.jvp is elementwise_jvp:
        return _elementwise
    return None


def _loop(fn, args, params):
    """The fallback: the op once per example, results stacked (differentiable)."""
    size = next(a._data.shape[0] for a in args if isinstance(a, BatchedTensor))
    outs = []
    for i in range(size):
        row = tuple(apply(GetItem, (a.physical(),), {"key": (i,)}) if isinstance(a, BatchedTensor)
                    else a for a in args)
        outs.append(apply(fn, row, params))
    return OPS["stack"].fn(outs, 0)


def batch_apply(fn, args, params):
    """Apply ``fn`` to arguments some of which are BatchedTensors."""
    rule = _rule(fn)
    out = rule(fn, args, params) if rule is not None else None
    if out is None:
        out = _loop(fn, args, params)
    return batched(out)


function.batch_apply = batch_apply   # the core calls it for ops that meet a BatchedTensor


# -- the transform ------------------------------------------------------------------------------
def _to_front(t, dim):
    if dim == 0:
        return t
    return OPS["movedim"].fn(t, dim, 0)


def vmap(f, in_dims=0, out_dims=0):
    """Vectorise ``f`` over a batch dimension of its arguments (``in_dims``: an int for all
    arguments, or one int/None per argument; None means not batched) and put the batch at
    ``out_dims`` of each output."""
    def wrapped(*args):
        from .func import tree_flatten, tree_unflatten
        if STATE.vmap:
            raise NotImplementedError(
                "vmap inside vmap is not supported yet; reshape the two batch dims into one "
                "and vmap once")
        dims = in_dims if isinstance(in_dims, (tuple, list)) else (in_dims,) * len(args)
        if len(dims) != len(args):
            raise ValueError(f"vmap: in_dims has {len(dims)} entries for {len(args)} arguments")
        size = None
        new_args = []
        for i, (a, d) in enumerate(zip(args, dims)):
            leaves, spec = tree_flatten(a)
            new = []
            for leaf in leaves:
                if d is None or not isinstance(leaf, (Tensor, backend.ndarray)):
                    new.append(leaf)
                    continue
                leaf = leaf if isinstance(leaf, Tensor) else Tensor(leaf)
                n = leaf.shape[d]
                if size is not None and n != size:
                    raise ValueError(f"vmap: argument {i} has batch size {n} in dim {d}, but "
                                     f"another argument has {size}")
                size = n
                new.append(batched(_to_front(leaf, d)))
            new_args.append(tree_unflatten(spec, new))
        if size is None:
            raise ValueError("vmap: no argument is batched (all in_dims are None)")
        prev = STATE.vmap
        STATE.vmap = size
        try:
            out = f(*new_args)
        finally:
            STATE.vmap = prev
        leaves, spec = tree_flatten(out)
        res = []
        for leaf in leaves:
            if isinstance(leaf, BatchedTensor):
                p = leaf.physical()
            else:  # the output did not depend on the batch: repeat it
                leaf = leaf if isinstance(leaf, Tensor) else Tensor(leaf)
                p = OPS["broadcast_to"].fn(leaf.unsqueeze(0), (size,) + tuple(leaf.shape))
            res.append(p if out_dims == 0 else OPS["movedim"].fn(p, 0, out_dims))
        return tree_unflatten(spec, res)
    return wrapped
