"""Function transforms in the style of JAX and torch.func, built on the same tape:
``grad``, ``value_and_grad``, ``vjp``, ``jvp``, ``jacrev``/``jacfwd``/``jacobian``,
``hessian``, ``hvp`` and ``vmap``. Inputs and outputs may be pytrees (tuples, lists and
dicts of tensors). Transforms nest: ``grad(grad(f))``, ``jacfwd(jacrev(f))``.
"""
from . import backend
from .core.engine import grad as _grad
from .core.modes import STATE, enable_grad
from .core.tensor import Tensor, _make
from .core.function import zeros_like
from . import forward_ad as fwAD
from .forward_ad import Alias
from .vmap import vmap, BatchedTensor, batched



# -- pytrees ------------------------------------------------------------------------------------
def tree_flatten(tree):
    """(leaves, spec): tensors (and numbers/arrays) are leaves; tuples, lists and dicts nest."""
    if isinstance(tree, (tuple, list)):
        leaves, specs = [], []
        for item in tree:
            sub, spec = tree_flatten(item)
            leaves += sub
            specs.append((len(sub), spec))
        return leaves, (type(tree), specs)
    if isinstance(tree, dict):
        leaves, specs = [], []
        for k, item in tree.items():
            sub, spec = tree_flatten(item)
            leaves += sub
            specs.append((k, len(sub), spec))
        return leaves, (dict, specs)
    if tree is None:
        return [], None
    return [tree], "leaf"


def tree_unflatten(spec, leaves):
    """Rebuild the nested structure ``spec`` from ``tree_flatten`` around ``leaves``.

    Args:
        spec: the structure returned by ``tree_flatten``.
        leaves (iterable): the leaves, in ``tree_flatten``'s order (for example transformed
            tensors).

    Returns:
        the tuple/list/dict tree (or single leaf) with the new leaves in place.
    """
    leaves = list(leaves)
    if spec == "leaf":
        return leaves[0]
    if spec is None:
        return None
    kind, specs = spec
    if kind is dict:
        out, i = {}, 0
        for k, n, sub in specs:
            out[k] = tree_unflatten(sub, leaves[i:i + n])
            i += n
        return out
    out, i = [], 0
    for n, sub in specs:
        out.append(tree_unflatten(sub, leaves[i:i + n]))
        i += n
    return kind(out) if kind is not list else out


# -- helpers ------------------------------------------------------------------------------------
def _as_input(leaf, argnum, what="grad"):
    """A differentiable stand-in for one input leaf: connected to the leaf when the leaf is
    itself being differentiated (nested transforms), else a fresh leaf sharing its data."""
    if isinstance(leaf, (bool, int)) or isinstance(leaf, (Tensor, backend.ndarray)) and \
            not backend.is_floating(leaf.dtype):
        dtype = leaf.dtype if hasattr(leaf, "dtype") else type(leaf).__name__
        raise TypeError(f"{what}: argument {argnum} has dtype {dtype}; only floating inputs can "
                        f"be differentiated. Convert it (e.g. x.float() or 2.0 instead of 2).")
    if not isinstance(leaf, Tensor):
        leaf = Tensor(leaf)
    if isinstance(leaf, BatchedTensor):
        p = leaf.physical()
        if p.requires_grad:
            return batched(Alias.apply(p))
        new = Tensor(p._data).requires_grad_(True)
        new._fw = p._fw
        return batched(new)
    if STATE.vmap:  # an unbatched input inside vmap: differentiate per example
        data = backend.array_module(leaf._data).broadcast_to(
            leaf._data, (STATE.vmap,) + tuple(leaf.shape)).copy()
        return batched(Tensor(data).requires_grad_(True))
    if leaf.requires_grad:
        return Alias.apply(leaf)
    new = Tensor(leaf._data).requires_grad_(True)
    new._fw = leaf._fw  # a dual input keeps its tangents (forward over reverse)
    return new


def _argnums(argnums, nargs):
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"argnums {a} is out of range for {nargs} positional arguments")
    return single, tuple(a % nargs for a in nums)


def _prepare(args, nums, what):
    """Replace the differentiated arguments by stand-ins; return (args, leaves per argnum,
    nested) where nested says an input already belongs to a graph or carries tangents."""
    args = list(args)
    per_arg = []
    nested = bool(STATE.fw_levels)
    for a in nums:
        nested = nested or any(isinstance(leaf, Tensor) and (leaf.requires_grad or leaf._fw)
                               for leaf in tree_flatten(args[a])[0])
        leaves, spec = tree_flatten(args[a])
        new = [_as_input(leaf, a, what) for leaf in leaves]
        args[a] = tree_unflatten(spec, new)
        per_arg.append((new, spec))
    return args, per_arg, nested





def _zeros_like(t):
    if isinstance(t, BatchedTensor):
        return batched(_make(backend.array_module(t._data).zeros(t._data.shape, t.dtype)))
    return zeros_like(t)


def _reverse(out, leaves, cotangent, nested):
    """Gradients of ``out`` (seeded with ``cotangent``, ones if None) for each leaf, zeros where
    unused; batched values are differentiated per example."""
    phys = [t.physical() if isinstance(t, BatchedTensor) else t for t in leaves]
    if out.node is None:
        grads = [None] * len(leaves)
    else:
        o = out.physical() if isinstance(out, BatchedTensor) else out
        if cotangent is None and isinstance(out, BatchedTensor):
            cotangent = _make(backend.array_module(o._data).ones(o.shape, o.dtype))
        elif isinstance(cotangent, BatchedTensor):
            cotangent = cotangent.physical()
        grads = _grad(o, phys, cotangent, retain_graph=True, create_graph=nested,
                      allow_unused=True)
    out = []
    for t, p, g in zip(leaves, phys, grads):
        g = _zeros_like(p) if g is None else g
        out.append(batched(g) if isinstance(t, BatchedTensor) else g)
    return out


# -- reverse mode -------------------------------------------------------------------------------
def value_and_grad(f, argnums=0, has_aux=False):
    """``value_and_grad(f)(*args) -> (f(*args), df/dargs)``; f must return a single-element
    tensor (or ``(value, aux)`` with has_aux=True, giving ``((value, aux), grads)``)."""
    def wrapped(*args, **kwargs):
        single, nums = _argnums(argnums, len(args))
        args, per_arg, nested = _prepare(args, nums, "grad")
        leaves = [t for new, _ in per_arg for t in new]
        with enable_grad():
            out = f(*args, **kwargs)
        aux = None
        if has_aux:
            out, aux = out
        if not isinstance(out, Tensor) or out.numel() != 1:
            shape = list(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise TypeError(f"grad: f must return a single-element tensor, got {shape}; reduce it "
                            f"(.sum()), or use jacrev/jacobian for non-scalar outputs")
        grads = _reverse(out, leaves, None, nested)
        results, i = [], 0
        for new, spec in per_arg:
            results.append(tree_unflatten(spec, grads[i:i + len(new)]))
            i += len(new)
        g = results[0] if single else tuple(results)
        value = out if nested else out.detach()
        return ((value, aux) if has_aux else value), g
    return wrapped


def grad(f, argnums=0, has_aux=False):
    """``grad(f)(*args)``: the gradient of scalar-valued f with respect to ``args[argnums]``
    (same pytree structure). Nest it for higher derivatives: ``grad(grad(f))``."""
    vg = value_and_grad(f, argnums, has_aux)

    def wrapped(*args, **kwargs):
        (value, aux), g = vg(*args, **kwargs) if has_aux else ((None, None), vg(*args, **kwargs)[1])
        return (g, aux) if has_aux else g
    return wrapped


def vjp(f, *primals, has_aux=False):
    """``(out, vjp_fn)``: vjp_fn(cotangents) returns d(out)/d(primals)^T cotangents as a tuple,
    one entry per primal; it may be called many times."""
    args, per_arg, nested = _prepare(primals, tuple(range(len(primals))), "vjp")
    leaves = [t for new, _ in per_arg for t in new]
    with enable_grad():
        out = f(*args)
    aux = None
    if has_aux:
        out, aux = out
    outs, out_spec = tree_flatten(out)

    def vjp_fn(cotangents):
        cots, _ = tree_flatten(cotangents)
        if len(cots) != len(outs):
            raise ValueError(f"vjp_fn: got {len(cots)} cotangents for {len(outs)} outputs")
        grads = None
        for o, c in zip(outs, cots):
            g = _reverse(o, leaves, c if isinstance(c, Tensor) else Tensor(c), nested)
            grads = g if grads is None else [a + b for a, b in zip(grads, g)]
        results, i = [], 0
        for new, spec in per_arg:
            results.append(tree_unflatten(spec, grads[i:i + len(new)]))
            i += len(new)
        return tuple(results)

    shown = tree_unflatten(out_spec, [o if nested else o.detach() for o in outs])
    return (shown, vjp_fn, aux) if has_aux else (shown, vjp_fn)


# -- forward mode -------------------------------------------------------------------------------
def jvp(f, primals, tangents, has_aux=False):
    """``(f(*primals), J(primals) @ tangents)`` by forward-mode AD (no reverse pass)."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    with fwAD.dual_level():
        args = []
        for i, (p, t) in enumerate(zip(primals, tangents)):
            pl, spec = tree_flatten(p)
            tl, _ = tree_flatten(t)
            duals = []
            for leaf, tan in zip(pl, tl):
                leaf = leaf if isinstance(leaf, Tensor) else Tensor(leaf)
                if not backend.is_floating(leaf.dtype):
                    raise TypeError(f"jvp: primal {i} has dtype {leaf.dtype}; only floating "
                                    f"inputs have tangents")
                duals.append(fwAD.make_dual(leaf, tan))
            args.append(tree_unflatten(spec, duals))
        out = f(*args)
        aux = None
        if has_aux:
            out, aux = out
        outs, spec = tree_flatten(out)
        nested = len(STATE.fw_levels) > 1 or any(
            isinstance(leaf, Tensor) and leaf.requires_grad
            for p in primals for leaf in tree_flatten(p)[0])
        prim, tans = [], []
        for o in outs:
            p, t = fwAD.unpack_dual(o)
            t = _zeros_like(o) if t is None else t
            prim.append(p if nested else p.detach())
            tans.append(t if nested else t.detach())
    result = (tree_unflatten(spec, prim), tree_unflatten(spec, tans))
    return result + (aux,) if has_aux else result


# -- Jacobians and Hessians ---------------------------------------------------------------------
def _basis(t):
    n = t.numel()
    eye = backend.array_module(t._data).eye(n, dtype=t.dtype)
    return [_make(eye[k].reshape(t.shape)) for k in range(n)]


def jacrev(f, argnums=0):
    """Jacobian by reverse mode (one VJP per output element): shape out.shape + in.shape."""
    def wrapped(*args):
        single, nums = _argnums(argnums, len(args))

        def g(*diff):
            full = list(args)
            for a, d in zip(nums, diff):
                full[a] = d
            return f(*full)
        out, pullback = vjp(g, *[args[a] for a in nums])
        if not isinstance(out, Tensor):
            raise TypeError("jacrev: f must return a tensor")
        rows = [pullback(e) for e in _basis(out)]
        jacs = []
        for k, a in enumerate(nums):
            x = args[a]
            stacked = _stack([r[k] for r in rows], out.shape + tuple(x.shape))
            jacs.append(stacked)
        return jacs[0] if single else tuple(jacs)
    return wrapped


def jacfwd(f, argnums=0):
    """Jacobian by forward mode (one JVP per input element): shape out.shape + in.shape."""
    def wrapped(*args):
        single, nums = _argnums(argnums, len(args))
        jacs = []
        for a in nums:
            x = args[a] if isinstance(args[a], Tensor) else Tensor(args[a])
            cols = []
            out_shape = None
            for e in _basis(x):
                def g(d, a=a):
                    full = list(args)
                    full[a] = d
                    return f(*full)
                out, t = jvp(g, (x,), (e,))
                out_shape = tuple(out.shape)
                cols.append(t)
            # cols[k] has the output's shape; the Jacobian is out.shape + x.shape
            stacked = _stack(cols, tuple(x.shape) + out_shape)
            n_in = len(x.shape)
            perm = tuple(range(n_in, n_in + len(out_shape))) + tuple(range(n_in))
            jacs.append(stacked.permute(*perm) if perm else stacked)
        return jacs[0] if single else tuple(jacs)
    return wrapped


def _stack(tensors, shape):
    from .core.registry import OPS
    if not tensors:
        return _make(backend.xp.zeros(shape))
    flat = [t.reshape(-1) for t in tensors]
    return OPS["stack"].fn(flat, 0).reshape(shape)


jacobian = jacrev


def hessian(f, argnums=0):
    """Hessian as forward-over-reverse: ``jacfwd(jacrev(f))``."""
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f, primals, tangents):
    """Hessian-vector product H(primals) @ tangents in one forward-over-reverse pass;
    returns one result per primal (a single tensor for a single primal)."""
    primals, tangents = tuple(primals), tuple(tangents)
    g = grad(f, argnums=tuple(range(len(primals))))
    _, out = jvp(lambda *p: g(*p), primals, tangents)
    return out[0] if len(primals) == 1 else out
