"""Tensor: an array, the node that made it, its gradient and a version counter.

The ops package binds methods and operators onto Tensor when it is imported, so this
module knows no op. ``node`` is the op that produced the tensor (``grad_fn``), or the
LeafNode where a leaf's gradients arrive, or None for a tensor outside any graph.
"""
import warnings
import weakref

from .. import backend
from . import function as _function
from . import printing
from .function import apply, next_seq, Cast, ToDevice
from .registry import OPS
from .modes import STATE
from .node import LeafNode, POST_HOOKS

xp = backend.xp
ndarray = backend.ndarray
_new = object.__new__


def _make(data, node=None):
    """Wrap an array without checks (the fast constructor ops use)."""
    t = _new(Tensor)
    t._data = data
    t.node = node
    t._grad = None
    t._vc = [0]
    t._base = None
    t._src = None
    t._fw = None
    return t


def _to_array(data, dtype=None, copy=False, device=None):
    """Convert user data to an array: Python floats become float32 (PyTorch's default),
    NumPy arrays keep their dtype, and non-numeric data is a TypeError. ``device``
    (resolved) moves the result there; by default arrays stay where they are (a CuPy array
    gives a CUDA tensor) and Python data goes to the CPU."""
    if isinstance(data, Tensor):
        arr = data._data
    elif isinstance(data, (ndarray, backend.generic)):
        arr = data
    elif backend.is_array(data):
        arr = data     # another device's array
    else:
        if hasattr(data, "__array__") or hasattr(data, "__dlpack__"):
            arr = xp.asarray(data)
        else:
            arr = xp.asarray(_unwrap_nested(data))
            if dtype is None and arr.dtype == backend.float64:
                arr = arr.astype(backend.DEFAULT_FLOAT)
    if not backend.is_numeric(arr.dtype):
        raise TypeError(f"tapegrad tensors hold numbers, not {arr.dtype} data "
                        f"(got {type(data).__name__}); convert it to a numeric array first")
    dtype = backend.as_dtype(dtype)
    if device is not None:
        moved = backend.to_device(arr, device)
        copy = copy and moved is arr
        arr = moved
    if dtype is not None and arr.dtype != dtype:
        return arr.astype(dtype)
    if copy:
        return arr.copy()
    if not isinstance(arr, ndarray) and not backend.is_array(arr):
        return xp.array(arr)
    return arr


def _unwrap_nested(data):
    if isinstance(data, (list, tuple)):
        if any(isinstance(d, Tensor) for d in data):
            return [_unwrap_nested(d) for d in data]
        return data
    if isinstance(data, Tensor):
        return data._data
    return data


def _value_read(what):
    """A Python value is being read from a tensor: a tracer (tg.compile) must know, since a
    replay could not repeat a decision made on it."""
    if STATE.special and STATE.trace is not None:
        STATE.trace.value_read(what)


def _check_grad_dtype(dtype):
    if not backend.is_floating(dtype):
        raise TypeError(
            f"only floating point tensors can require gradients, but this tensor is {dtype}; "
            f"convert it first, e.g. x.to(tg.float32) or tg.tensor(data, dtype=tg.float32)")


class Tensor:
    """An n-dimensional array that records the ops applied to it.

    ``Tensor(data, dtype=None, requires_grad=False)`` wraps ``data`` without copying when
    it already is an array (``tg.tensor`` always copies). ``Variable`` is the same class.
    """

    __slots__ = ("_data", "node", "_grad", "_vc", "_base", "_src", "_fw", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, data=None, dtype=None, requires_grad=False):
        if data is None:
            data = []
        self._data = _to_array(data, dtype)
        self.node = None
        self._grad = None
        self._vc = [0]
        self._base = None
        self._src = None
        self._fw = None  # forward-mode tangents: {level: tangent}
        if requires_grad:
            self.requires_grad_(True)

    # -- the array ----------------------------------------------------------------------
    @property
    def shape(self):
        """The size of each dimension, a tuple of ints (``torch.Size`` in PyTorch; tapegrad gives the
        plain tuple, which compares and unpacks the same way).
        """
        return self._data.shape

    @property
    def dtype(self):
        """The element type: ``tg.float32``, ``tg.float64``, ``tg.int64``, ``tg.bool``, ..."""
        return self._data.dtype

    @property
    def ndim(self):
        """The number of dimensions (0 for a scalar tensor); the same as ``dim()``."""
        return self._data.ndim

    @property
    def device(self):
        """Where the tensor's memory is: ``device(type='cpu')`` or ``device(type='cuda',
        index=0)``."""
        d = self._data
        return backend.CPU if type(d) is ndarray else backend.device_of(d)

    @property
    def is_cuda(self):
        """Whether the tensor lives on a CUDA device."""
        return self.device.type == "cuda"

    @property
    def is_cpu(self):
        """Whether the tensor lives in host memory."""
        return self.device.type == "cpu"

    def get_device(self):
        """The CUDA device index, -1 on the CPU (PyTorch's convention)."""
        d = self.device
        return -1 if d.index is None else d.index

    def dim(self):
        """The number of dimensions (0 for a scalar tensor).

        Returns:
            int: ``len(self.shape)``.
        """
        return self._data.ndim

    def is_floating_point(self):
        """Whether the dtype is a floating one (float16/32/64, bfloat16)."""
        return backend.is_floating(self._data.dtype)

    def is_complex(self):
        """False: tapegrad has no complex dtypes."""
        return False

    def size(self, dim=None):
        """The shape, or the size of one dimension.

        Args:
            dim (int, optional): a dimension (negative counts from the end).

        Returns:
            tuple of ints when ``dim`` is None, else the int size of dimension ``dim``.

        Raises:
            IndexError: ``dim`` is out of range.
            TypeError: ``dim`` is not an integer.
        """
        shape = self._data.shape
        if dim is None:
            return shape
        if type(dim) is not int:
            if isinstance(dim, bool) or not hasattr(dim, "__index__"):
                raise TypeError(f"size: dim must be an int, not {type(dim).__name__}")
            dim = dim.__index__()
        n = len(shape)
        if not -n <= dim < n:
            raise IndexError(f"size: dimension {dim} given but the tensor has no dimensions"
                             if n == 0 else f"size: dimension out of range (expected to be in "
                             f"range of [{-n}, {n - 1}], but got {dim})")
        return shape[dim]

    def numel(self):
        """The number of elements: the product of the shape (1 for a scalar tensor)."""
        return self._data.size

    nelement = numel

    def element_size(self):
        """The size in bytes of one element (4 for float32)."""
        return self._data.itemsize

    @property
    def data(self):
        """A tensor sharing this one's memory and version counter, outside the graph."""
        return self.detach()

    @data.setter
    def data(self, value):
        arr = value._data if isinstance(value, Tensor) else _to_array(value)
        self._data = arr
        self._vc[0] += 1

    @property
    def _version(self):
        return self._vc[0]

    # -- gradients ----------------------------------------------------------------------
    @property
    def requires_grad(self):
        """Whether gradients flow to this tensor: a leaf made with ``requires_grad=True`` or a
        result recorded from one.

        Setting it on a leaf is ``requires_grad_(flag)``.

        Raises:
            RuntimeError: set on a non-leaf (a result of a recorded op).
            TypeError: set to True on a tensor whose dtype is not floating.
        """
        n = self.node
        return n is not None and not n.watch

    @requires_grad.setter
    def requires_grad(self, flag):
        n = self.node
        if n is not None and not n.is_leaf:   # (requires_grad_(True) on one is a no-op)
            raise RuntimeError(
                f"you can only change requires_grad flags of leaf tensors; this one was made "
                f"by '{n.name}' and already requires grad. Setting it cannot send gradients "
                f"anywhere new; use t.detach() for a copy outside the graph.")
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad=True):
        """Turn recording of this leaf's gradient on or off, in place.

        Args:
            requires_grad (bool): True to make it a leaf that receives ``.grad``.

        Returns:
            Tensor: ``self``.

        Raises:
            RuntimeError: this tensor is the result of a recorded op (only leaves can change),
                or was computed under ``no_grad()`` from inputs that require grad.
            TypeError: ``requires_grad=True`` on a tensor whose dtype is not floating.
        """
        n = self.node
        if n is not None and not n.is_leaf:
            if requires_grad:
                return self
            raise RuntimeError(
                f"you can only change requires_grad flags of leaf tensors; this one was made "
                f"by '{n.name}'. Use t.detach() for a copy outside the graph.")
        if not requires_grad:
            self.node = None
            return self
        _check_grad_dtype(self._data.dtype)
        if self._src is not None and self._src[1] == "no_grad":
            raise RuntimeError(
                f"this tensor was computed by '{self._src[0]}' under no_grad() from inputs that "
                f"require grad; setting requires_grad=True on it cannot send gradients back to "
                f"them. Compute it with grad mode on (outside no_grad), or call "
                f".detach().requires_grad_() if you really want a new leaf.")
        if n is None or n.watch:
            self.node = LeafNode(self, next_seq())
        return self

    @property
    def is_leaf(self):
        """Whether this tensor is a leaf of the graph: made by the user (or by an op under
        ``no_grad``) rather than recorded from tensors that require grad. Only leaves get
        ``.grad`` filled by backward (unless ``retain_grad()``).
        """
        n = self.node
        return n is None or n.is_leaf

    @property
    def grad_fn(self):
        """The tape node that made this tensor (its op's backward), or None for a leaf."""
        n = self.node
        return None if n is None or n.is_leaf else n

    @property
    def grad(self):
        """The gradient accumulated by ``backward()``: a tensor of this shape and dtype, or None.

        Reading it on a non-leaf warns (it stays None unless ``retain_grad()``) as PyTorch does.
        Assigning it takes a tensor or array of the same shape and dtype, or None.

        Raises:
            ValueError: an assigned gradient of another shape.
            TypeError: an assigned gradient of another dtype.
        """
        n = self.node
        if n is not None and not n.is_leaf and self._grad is None and not n.warned_grad:
            n.warned_grad = True
            warnings.warn(
                "The .grad attribute of a tensor that is not a leaf is being read; it is None "
                "because backward fills .grad only for leaves. Call .retain_grad() on it "
                "before backward if you want its gradient.", UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                value = Tensor(value)
            if value.shape != self.shape:
                raise ValueError(f"assigned grad has shape {list(value.shape)}, but the tensor "
                                 f"has shape {list(self.shape)}")
            if value.dtype != self.dtype:
                raise TypeError(f"assigned grad has dtype {value.dtype}, but the tensor has "
                                f"dtype {self.dtype}")
        self._grad = value

    def zero_grad(self):
        """Set .grad to None (the seeds' name; PyTorch's modules do the same)."""
        self._grad = None

    def retain_grad(self):
        """Keep this non-leaf tensor's gradient in .grad after backward (no-op on leaves)."""
        n = self.node
        if n is None:
            raise RuntimeError("can't retain_grad on a tensor that does not require grad")
        if not n.is_leaf:
            if n.retains is None:
                n.retains = []
                n.marked = True
            n.retains.append(weakref.ref(self))
        return self

    @property
    def retains_grad(self):
        """Whether ``retain_grad()`` was called on this non-leaf (always False on leaves)."""
        n = self.node
        return bool(n is not None and not n.is_leaf and n.retains and
                    any(r() is self for r in n.retains))

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a non-None return
        replaces the gradient. Returns a handle with ``remove()``."""
        n = self.node
        if n is None or n.watch:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require grad")
        if n.hooks is None:
            n.hooks = []
            if not n.is_leaf:
                n.marked = True
        n.hooks.append(hook)
        return _HookHandle(n.hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(self)`` right after backward has accumulated this leaf's gradient into
        ``.grad``. That happens as soon as the leaf's last contribution has arrived, while
        the rest of the pass goes on (DistributedDataParallel starts communicating there),
        so such a leaf is updated even if a later part of the pass raises. Returns a handle
        with ``remove()``. Raises RuntimeError for a non-leaf or a tensor that doesn't
        require grad."""
        n = self.node
        if n is None or not n.is_leaf or n.watch:
            raise RuntimeError("post accumulate grad hooks can only be registered on leaf "
                               "tensors that require grad")
        if n.post_hooks is None:
            n.post_hooks = []
        n.post_hooks.append(hook)
        POST_HOOKS[0] += 1
        return _HookHandle(n.post_hooks, hook, POST_HOOKS)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into the ``.grad`` of every leaf that requires grad."""
        from .engine import backward
        backward(self, gradient, retain_graph, create_graph, inputs)

    def detach(self):
        """A tensor sharing memory and version counter with this one, outside any graph."""
        t = _make(self._data)
        t._vc = self._vc  # shares memory and version counter, but is not a view for autograd
        t._src = ("detach", "detach")
        return t

    def detach_(self):
        """Cut this tensor from the graph in place: it becomes a leaf that does not require grad.

        Returns:
            Tensor: ``self``.

        Raises:
            RuntimeError: this tensor is a view of a tensor in a graph (use ``detach()``).
        """
        if self.node is not None and not self.node.is_leaf and self._base is not None:
            raise RuntimeError("can't detach_() a view of a tensor in a graph; use detach()")
        self.node = None
        self._src = ("detach", "detach")
        return self

    def has_nan(self):
        """True if any element is NaN."""
        d = self._data
        return backend.is_floating(d.dtype) and bool(backend.array_module(d).isnan(d).any())

    def has_inf(self):
        """True if any element is +-inf."""
        d = self._data
        return backend.is_floating(d.dtype) and bool(backend.array_module(d).isinf(d).any())

    # -- conversion ---------------------------------------------------------------------
    def numpy(self, force=False):
        """The array behind this tensor. It shares memory; it is read-only when the tensor
        takes part in a graph, so writes can't silently corrupt gradients. A tensor on a
        GPU raises TypeError (as in PyTorch): copy it with ``.cpu()`` first, or pass
        ``force=True`` for a host copy."""
        _value_read("numpy")
        arr = self._data
        if type(arr) is not ndarray and self.device.type != "cpu":
            if not force:
                raise TypeError(f"can't convert {self.device} device type tensor to numpy. "
                                f"Use Tensor.cpu() to copy the tensor to host memory first.")
            return backend.to_host(arr)
        if self.node is not None:
            arr = arr.view()
            arr.flags.writeable = False
        return arr.copy() if force else arr

    def _host(self):
        """The values as a NumPy array (a copy when the tensor is on a GPU)."""
        d = self._data
        return d if type(d) is ndarray else backend.to_host(d)

    def __array__(self, dtype=None, copy=None):
        _value_read("__array__")
        arr = self.numpy()
        if dtype is not None and arr.dtype != dtype:
            if copy is False:
                raise ValueError(f"cannot convert a {arr.dtype} tensor to {dtype} without a copy")
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy ufuncs on tensors run the matching tapegrad op, so ``np.exp(t)`` stays
        differentiable; an unknown ufunc on a tensor that requires grad is a TypeError
        rather than a silently graph-less array."""
        name = _UFUNC_OPS.get(ufunc.__name__, ufunc.__name__)
        info = OPS.get(name)
        if method == "__call__" and not kwargs and info is not None:
            return info.fn(*inputs)
        return _numpy_fallback(ufunc.__name__, inputs, lambda *a: getattr(ufunc, method)(
            *a, **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        name = _FUNCTION_OPS.get(func.__name__)
        if name is not None and name in OPS:
            return OPS[name].fn(*args, **kwargs)
        return _numpy_fallback(func.__name__, args, lambda *a: func(*a, **_unwrap_kw(kwargs)))

    def item(self):
        """The value of a one-element tensor as a Python number.

        Returns:
            float, int or bool, by the dtype.

        Raises:
            ValueError: the tensor has more than one element.
        """
        _value_read("item")
        if self._data.size != 1:
            raise ValueError(f"a Tensor with {self._data.size} elements cannot be converted "
                             f"to a Python scalar")
        return self._host().reshape(()).item()

    def tolist(self):
        """The values as (nested) Python lists of numbers; a Python number for a 0-d tensor."""
        _value_read("tolist")
        return self._host().tolist()

    def __float__(self):
        _value_read("__float__")
        return float(self.item())

    def __int__(self):
        _value_read("__int__")
        return int(self.item())

    def __bool__(self):
        _value_read("__bool__")
        if self._data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self._data.size} elements is "
                               f"ambiguous; use .any() or .all()")
        return bool(self._host().reshape(()).item())

    def __index__(self):
        _value_read("__index__")
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    __hash__ = object.__hash__

    def __repr__(self):
        arr = self._host()
        body = printing.array_str(arr, indent=len("tensor("))
        extra = [f"dtype={self._data.dtype}"]
        if printing.shows_size(arr):
            extra.insert(0, f"size={tuple(arr.shape)}")
        if type(self._data) is not ndarray and self.device.type != "cpu":
            extra.insert(0, f"device='{self.device}'")
        n = self.node
        if n is not None and not n.is_leaf:
            extra.append(f"grad_fn=<{n.name}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return f"tensor({body}, {', '.join(extra)})"

    def __format__(self, spec):
        """A 0-d tensor formats as its number (``'{:+.2f}'.format(loss)``), as PyTorch's;
        other tensors take only the empty spec (their repr)."""
        if self._data.ndim == 0:
            return format(self.item(), spec)
        if spec:
            raise TypeError(f"unsupported format string {spec!r} passed to Tensor.__format__: "
                            f"only a 0-d tensor formats as a number (this one has shape "
                            f"{list(self._data.shape)}; format t.item() or t.tolist())")
        return repr(self)

    def __deepcopy__(self, memo):
        n = self.node
        if n is not None and not n.is_leaf:
            raise RuntimeError(
                f"only leaf tensors support deepcopy; this one was made by '{n.name}' and "
                f"belongs to a graph. Deep-copy t.detach() instead (or drop the cached "
                f"activation from the object you are copying).")
        t = Tensor(self._data.copy())
        if self.requires_grad:
            t.requires_grad_(True)
        if self._grad is not None:
            t._grad = Tensor(self._grad._data.copy())
        memo[id(self)] = t
        return t

    def __reduce_ex__(self, protocol):
        self.__deepcopy__({})  # same graph check as deepcopy
        dev = self.device
        return (_rebuild, (self._host(), self.requires_grad) + (() if dev.type == "cpu"
                                                                 else (str(dev),)))

    # -- in-place updates ---------------------------------------------------------------
    def _check_inplace(self, opname):
        """In-place on a leaf that requires grad (or a view of one) is an error in grad mode."""
        if not STATE.grad_enabled:
            return
        n = self.node
        if n is not None and n.is_leaf and not n.watch:
            raise RuntimeError(
                f"a leaf Variable that requires grad is being used in an in-place operation "
                f"('{opname}'). Update parameters inside `with tg.no_grad():` or use an optimizer.")
        b = self._base
        if b is not None and b.node is not None and b.node.is_leaf and not b.node.watch:
            raise RuntimeError(
                f"a view of a leaf Variable that requires grad is being used in an in-place "
                f"operation ('{opname}'); the base has shape {list(b.shape)}. Do it inside "
                f"`with tg.no_grad():`, or build a new tensor (tg.where / scatter) instead.")

    def _write(self, arr, opname):
        """Store ``arr`` into this tensor's memory (seen by views) and bump the version."""
        if arr.shape != self._data.shape:
            raise RuntimeError(f"{opname}: output with shape {list(self._data.shape)} doesn't "
                               f"match the broadcast shape {list(arr.shape)}")
        if arr.dtype != self._data.dtype and not xp.can_cast(arr.dtype, self._data.dtype,
                                                             "same_kind"):
            raise RuntimeError(f"{opname}: result type {arr.dtype} can't be cast to the "
                               f"desired output type {self._data.dtype}")
        if not backend.is_writeable(self._data):
            raise RuntimeError(f"{opname}: this tensor's memory is read-only (an expanded or "
                               f"broadcast view, or a read-only NumPy array); clone() it first")
        backend.array_module(self._data).copyto(self._data, arr, casting="same_kind")
        self._vc[0] += 1
        if STATE.special and STATE.trace is not None:
            STATE.trace.write(self, arr)

    def _inplace(self, fn, args, params):
        """Apply op ``fn`` to (self, *args) and store the result in self, recording it."""
        opname = fn.name + "_"
        self._check_inplace(opname)
        recording = STATE.grad_enabled and (self.node is not None or any(
            isinstance(a, Tensor) and a.node is not None for a in args))
        if not recording:
            ctx_args = (self,) + tuple(args)
            with _no_grad_quiet():
                out = apply(fn, ctx_args, params)
            self._write(out._data, opname)
            self._fw = out._fw  # forward-mode tangents follow the new value
            return self
        if self._base is not None and (self._base.node is not None or self.node is not None):
            raise RuntimeError(
                f"in-place '{opname}' on a view of a tensor that takes part in a graph is not "
                f"supported; assign through the base instead (base[idx] = value), or build the "
                f"result out of place (tg.where, torch-style scatter, cat).")
        # the value the op's backward refers to (copied only if the rule reads it)
        old = _make(self._data.copy() if fn.save_inputs else self._data, self.node)
        old._fw = self._fw
        out = apply(fn, (old,) + tuple(args), params)
        self._write(out._data, opname)
        self.node = out.node
        self._fw = out._fw
        self._src = None
        return self


_UFUNC_OPS = {"power": "pow", "equal": "eq", "not_equal": "ne", "less": "lt",
              "less_equal": "le", "greater": "gt", "greater_equal": "ge", "absolute": "abs",
              "negative": "neg", "true_divide": "div", "divide": "div", "subtract": "sub",
              "multiply": "mul"}
_FUNCTION_OPS = {"sum": "sum", "mean": "mean", "max": "amax", "min": "amin", "amax": "amax",
                 "amin": "amin", "matmul": "matmul", "where": "where", "clip": "clamp",
                 "concatenate": "cat", "stack": "stack", "reshape": "reshape",
                 "squeeze": "squeeze", "expand_dims": "unsqueeze", "exp": "exp", "log": "log",
                 "tanh": "tanh", "sqrt": "sqrt", "abs": "abs", "maximum": "maximum",
                 "minimum": "minimum", "dot": "dot", "outer": "outer", "einsum": "einsum"}


def _unwrap(v):
    if isinstance(v, Tensor):
        return v._data
    if isinstance(v, (list, tuple)):
        return type(v)(_unwrap(x) for x in v)
    return v


def _unwrap_kw(kwargs):
    return {k: _unwrap(v) for k, v in kwargs.items()}


def _needs_grad(v):
    if isinstance(v, Tensor):
        return v.node is not None
    if isinstance(v, (list, tuple)):
        return any(_needs_grad(x) for x in v)
    return False


def _numpy_fallback(name, args, call):
    """A NumPy function tapegrad has no op for: fine on plain data (the result is an
    ndarray), a TypeError when a gradient would silently be lost."""
    if _needs_grad(args):
        raise TypeError(f"numpy.{name} has no tapegrad equivalent and would drop the gradient "
                        f"of a tensor that requires grad; use a tapegrad op, or pass "
                        f"t.detach().numpy() if you don't need the gradient")
    return call(*_unwrap(tuple(args)))


class _no_grad_quiet:
    def __enter__(self):
        self._prev = STATE.grad_enabled
        STATE.grad_enabled = False

    def __exit__(self, *exc):
        STATE.grad_enabled = self._prev


class _HookHandle:
    def __init__(self, hooks, hook, counter=None):
        self._hooks, self._hook, self._counter = hooks, hook, counter

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)
            if self._counter is not None:
                self._counter[0] -= 1


def _rebuild(data, requires_grad, device=None):
    t = Tensor(data if device is None else backend.to_device(data, backend.devices.resolve(
        device)))
    if requires_grad:
        t.requires_grad_(True)
    return t


Variable = Tensor
_function.Tensor, _function._make = Tensor, _make


def to(self, *args, device=None, dtype=None, non_blocking=False, copy=False,
       memory_format=None):
    """This tensor on another device and/or as another dtype, as PyTorch's ``to``:
    ``t.to("cuda")``, ``t.to(tg.float64)``, ``t.to(device, dtype)``, ``t.to(other)`` (other's
    device and dtype). Differentiable: gradients flow back to this tensor's device and dtype.
    Returns ``self`` when nothing changes (unless ``copy=True``)."""
    device, dtype = parse_to_args(args, device, dtype)
    out = self
    if device is not None and device != self.device:
        out = ToDevice.apply(self, device=device)
    if dtype is not None and dtype != out._data.dtype:
        out = Cast.apply(out, dtype=dtype)
    if copy and out is self:
        out = OPS["clone"].fn(self)
    return out


def parse_to_args(args, device=None, dtype=None):
    """(device resolved or None, dtype or None) from ``to``'s positional forms: a device or
    device string, a dtype, a tensor (its device and dtype), or (device, dtype)."""
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif isinstance(a, (backend.device, int)) and not isinstance(a, bool) or \
                isinstance(a, str) and _is_device_string(a):
            device = a
        elif a is not None:
            dtype = a
    return (None if device is None else backend.devices.resolve(device),
            backend.as_dtype(dtype))


def _is_device_string(s):
    try:
        backend.device(s)
        return True
    except (ValueError, RuntimeError):
        return False


def cuda(self, device=None, non_blocking=False):
    """This tensor on a CUDA device (the current one by default)."""
    return to(self, "cuda" if device is None else
              backend.device("cuda", device) if isinstance(device, int) else device)


def cpu(self):
    """This tensor in host memory (``self`` when it is there already)."""
    return to(self, backend.CPU)


Tensor.to = to
Tensor.cuda = cuda
Tensor.cpu = cpu
Tensor.type = lambda self, dtype=None: str(self.dtype) if dtype is None else to(self, dtype)
for _name, _dt in (("float", backend.float32), ("double", backend.float64),
                   ("half", backend.float16), ("bfloat16", backend.bfloat16),
                   ("long", backend.int64), ("int", backend.int32),
                   ("short", backend.int16), ("bool", backend.bool_), ("byte", backend.uint8)):
    setattr(Tensor, _name, (lambda dt: lambda self: to(self, dt))(_dt))
    getattr(Tensor, _name).__doc__ = (f"``self.to(tg.{_dt})``: a copy converted to {_dt} "
                                      f"(``self`` when it is {_dt} already); differentiable "
                                      f"between floating dtypes.")
Tensor.contiguous = lambda self: self
Tensor.contiguous.__doc__ = ("``self``: tapegrad tensors are always usable as contiguous "
                             "(views and reshapes copy when they must).")
Tensor.type.__doc__ = """The dtype's name as a string, or a copy converted to ``dtype``.

Args:
    dtype (optional): a tapegrad dtype or its name; when given, ``type(dtype)`` is
        ``self.to(dtype)``.

Returns:
    str without ``dtype``: the dtype's own name (``"float32"``; PyTorch's legacy
    ``"torch.FloatTensor"`` names have no meaning here), else a Tensor.
"""
