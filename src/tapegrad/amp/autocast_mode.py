"""``tg.autocast``: run each op in the dtype PyTorch's autocast policy gives it.

The state is one thread-local value, ``STATE.autocast`` (a :class:`Region`, or None when no
device type autocasts), watched like the other rare modes: while it is None the recorder's
fast path pays nothing. When it is set, :func:`cast_inputs` runs in ``apply``'s special path
before each primitive, and :func:`run_composite` before each composite: tensor inputs are
cast by the op's category (``policy.py``) with ``Tensor.to``, an op of its own, so the
casts are recorded (gradients flow back through them to each leaf in its own dtype) and
traced (``tg.compile`` replays them). A composite runs its body with autocast off, as
PyTorch excludes the autocast key below an autocast kernel and computes unlisted ops in one
kernel: its inner primitives (a matmul inside ``adaptive_avg_pool2d``) are not cast again.
"""
import weakref

from .. import backend
from ..core import function
from ..core.modes import STATE, _ModeContext
from ..core.tensor import Tensor
from . import policy as _policy
from .policy import LOWER, FP32, BANNED, COMPOSED, POLICIES

_LOW = (backend.float16, backend.bfloat16)


class Region:
    """What autocasts now: ``dtypes`` maps a device type to its low dtype; ``cache`` holds
    the low-precision copies of float32 leaves that require grad (parameters), cast once
    per outermost region (None: caching off); ``key`` identifies the state (tg.compile)."""

    __slots__ = ("dtypes", "cache", "key")

    def __init__(self, dtypes, cache):
        self.dtypes, self.cache = dtypes, cache
        self.key = tuple(sorted((t, str(d)) for t, d in dtypes.items()))


class autocast(_ModeContext):
    """``with tg.autocast("cpu", dtype=tg.bfloat16):`` runs matrix products and
    convolutions in ``dtype`` and the ops that need range or precision (losses; on CUDA also
    softmax, normalisations, exp/log/pow, sums) in float32, per PyTorch's policy for
    ``device_type`` ("cpu": bfloat16 by default, "cuda": float16 by default). Only tensors
    on that device type are cast; float64 never is. Nestable; ``enabled=False`` inside
    switches it off; thread-local; also a decorator (``@tg.autocast("cpu")``).
    ``cache_enabled`` (default True) casts each float32 parameter once per region."""

    _bare_decorator = False

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if device_type not in POLICIES:
            raise ValueError(f"autocast: device_type must be one of {sorted(POLICIES)}, got "
                             f"{device_type!r}")
        if dtype is None:
            dtype = getattr(backend, _policy.DEFAULT_DTYPE[device_type])
        try:
            low = backend.as_dtype(dtype)
        except TypeError:
            low = None
        if low not in _LOW:
            raise TypeError(f"autocast: dtype must be tg.bfloat16 or tg.float16, got {dtype!r}")
        if device_type == "cuda" and low == backend.bfloat16 and enabled:
            raise TypeError("autocast: CuPy has no bfloat16, so CUDA autocasts to tg.float16 "
                            "only (the default)")
        if not isinstance(enabled, bool):
            raise TypeError(f"autocast: enabled must be a bool, got {type(enabled).__name__}")
        self.device_type, self.fast_dtype, self.enabled = device_type, low, enabled
        self.cache_enabled = True if cache_enabled is None else bool(cache_enabled)

    def _args(self):
        return (self.device_type, self.fast_dtype, self.enabled, self.cache_enabled)

    def __enter__(self):
        self._prev = prev = STATE.autocast
        dtypes = dict(prev.dtypes) if prev is not None else {}
        if self.enabled:
            dtypes[self.device_type] = self.fast_dtype
        else:
            dtypes.pop(self.device_type, None)
        cache = None
        if self.cache_enabled:
            cache = prev.cache if prev is not None and prev.cache is not None else {}
        STATE.autocast = Region(dtypes, cache) if dtypes else None
        return self

    def __exit__(self, *exc):
        region = STATE.autocast
        if self._prev is None and region is not None and region.cache:
            region.cache.clear()   # the outermost region ends: drop the cached casts
        STATE.autocast = self._prev
        return False


def is_autocast_enabled(device_type="cuda"):
    """Whether ops on ``device_type`` tensors autocast now (in this thread)."""
    region = STATE.autocast
    return region is not None and device_type in region.dtypes


def get_autocast_dtype(device_type):
    """The dtype autocast uses for ``device_type`` now (its default when it is off)."""
    region = STATE.autocast
    if region is not None and device_type in region.dtypes:
        return region.dtypes[device_type]
    return getattr(backend, _policy.DEFAULT_DTYPE[device_type])


# -- the casts ------------------------------------------------------------------------------
def _eligible(t, device_type):
    """A floating tensor, not float64, on ``device_type`` (PyTorch's is_eligible)."""
    dt = t._data.dtype
    return (dt.kind in "fV" and dt != backend.float64 and
            (device_type == "cpu") == (type(t._data) is backend.ndarray))


def _cast(t, target, region):
    """``t.to(target)``, from the region's cache for float32 leaves requiring grad."""
    cache = region.cache
    if (cache is None or target not in _LOW or t._data.dtype != backend.float32 or
            t.node is None or not t.node.is_leaf or STATE.trace is not None):
        return t.to(target)
    hit = cache.get(id(t))
    if hit is not None and hit[0]() is t and hit[1] == t._vc[0]:
        return hit[2]
    out = t.to(target)
    cache[id(t)] = (weakref.ref(t), t._vc[0], out)
    return out


def _convert(args, device_type, target, region):
    """``args`` (a tuple, list or dict; tensors in a list argument too, as ``cat`` takes)
    with the eligible tensors cast to ``target``."""
    def one(a):
        if isinstance(a, Tensor):
            if a._data.dtype != target and _eligible(a, device_type):
                return _cast(a, target, region)
            return a
        if isinstance(a, (list, tuple)) and any(isinstance(v, Tensor) for v in a):
            return type(a)(one(v) for v in a)
        return a
    if isinstance(args, dict):
        return {k: one(v) for k, v in args.items()}
    return tuple(one(a) for a in args)


def _floating(args):
    """The dtypes of the floating tensors among ``args`` (and in their list arguments)."""
    out = []
    for a in args:
        if isinstance(a, Tensor):
            if a._data.dtype.kind in "fV":
                out.append(a._data.dtype)
        elif isinstance(a, (list, tuple)):
            out.extend(_floating(a))
    return out


def _widest(dtypes):
    res = dtypes[0]
    for d in dtypes[1:]:
        res = backend.promote_types(res, d)
    return res


def _target(name, category, low, args, kwargs):
    """The dtype an op of this category computes in, None for no cast."""
    if category is LOWER:
        return low
    if category is FP32:
        return backend.float32
    if category is BANNED:
        raise RuntimeError(_policy.BANNED_MESSAGE.format(op=name))
    dts = _floating(args) + _floating(kwargs.values() if kwargs else ())
    if len(set(dts)) > 1:      # PROMOTE, and mixed inputs of any other op: the widest
        return _widest(dts)
    return None


def _device_type(args, kwargs):
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, (list, tuple)) and a and isinstance(a[0], Tensor):
            a = a[0]
        if isinstance(a, Tensor):
            return "cpu" if type(a._data) is backend.ndarray else backend.device_of(a._data).type
    return None


def cast_inputs(fn, args, dev):
    """apply()'s hook: ``args`` of primitive ``fn`` (computing on device ``dev``) cast by
    its category under the active region."""
    region = STATE.autocast
    low = region.dtypes.get(dev.type)
    if low is None:
        return args
    category = POLICIES[dev.type].get(fn.name)
    target = _target(fn.name, category, low, args, None)
    return args if target is None else _convert(args, dev.type, target, region)


def run_composite(name, fn, args, kwargs):
    """The registry's hook for composites under autocast: ``fn(*args, **kwargs)`` with the
    inputs cast by ``name``'s category (mixed inputs of an unlisted op: to the widest),
    the body run with autocast off."""
    region = STATE.autocast
    device_type = _device_type(args, kwargs)
    low = region.dtypes.get(device_type)
    if low is None:      # no tensor, or tensors of a device type that doesn't autocast
        return fn(*args, **kwargs)
    category = POLICIES[device_type].get(name)
    if callable(category):
        category = category(args, kwargs)
    if category is COMPOSED:
        return fn(*args, **kwargs)
    target = _target(name, category, low, args, kwargs)
    if target is not None:
        args = _convert(args, device_type, target, region)
        kwargs = _convert(kwargs, device_type, target, region)
    STATE.autocast = None
    try:
        return fn(*args, **kwargs)
    finally:
        STATE.autocast = region


function.autocast_inputs = cast_inputs
function.autocast_composite = run_composite
