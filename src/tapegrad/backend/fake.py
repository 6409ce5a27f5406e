"""A stand-in for CUDA that runs on NumPy, for tests on machines without a GPU.

``with fake_cuda():`` makes ``"cuda"`` devices (two of them) hold :class:`FakeArray`\\ s:
NumPy arrays tagged with a device index. Like CuPy's arrays they answer NumPy's functions
and ufuncs with arrays of their own device, return 0-d arrays where NumPy returns scalars,
and refuse a NumPy array mixed into their ops, or an array of another device. So every
place where tapegrad must carry, check or move a device is exercised on the CPU: an op
that allocates with NumPy instead of its inputs' module, or forgets to move something,
fails here as it would on a GPU. Not for users; it computes on the CPU.
"""
import contextlib
import types
import weakref

import numpy as np

from .devices import DeviceType, register

_current = [0]                         # the device new arrays are allocated on
_allocated = {}                        # device -> bytes owned by live fake arrays


class FakeArray(np.ndarray):
    """A NumPy array "on" fake CUDA device ``_index``."""

    _index = 0

    def __array_finalize__(self, obj):
        self._index = getattr(obj, "_index", _current[0])

    def __array_ufunc__(self, ufunc, method, *inputs, **kw):
        index = _check(ufunc.__name__, inputs, kw)
        return _tag(getattr(ufunc, method)(*_plain(inputs), **_plain_kw(kw)), index)

    def __array_function__(self, func, types_, args, kwargs):
        index = _check(func.__name__, args, kwargs)
        return _tag(func(*_plain(args), **_plain_kw(kwargs)), index)

    def __getitem__(self, key):
        return _tag(np.ndarray.__getitem__(self.view(np.ndarray), _plain(key)), self._index)

    def __setitem__(self, key, value):
        if isinstance(value, FakeArray) and value._index != self._index:
            _check("setitem", (self, value), {})
        np.ndarray.__setitem__(self.view(np.ndarray), _plain(key), _plain(value))

    def __repr__(self):
        return f"fake_cuda{self._index}_" + repr(self.view(np.ndarray))

    @property
    def __array_interface__(self):    # CuPy arrays have none: backend.data_ptr must be used
        raise AttributeError("fake CUDA arrays have no __array_interface__ (CuPy's neither)")

    @property
    def data(self):                   # CuPy's: a memory pointer object with .ptr
        return types.SimpleNamespace(ptr=self.view(np.ndarray).__array_interface__["data"][0])

    def __reduce__(self):
        raise TypeError("fake CUDA arrays can't be pickled; copy them to the host first")


def _is_plain(a):
    return isinstance(a, np.ndarray) and not isinstance(a, FakeArray)


def _walk(obj):
    if isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _walk(o)
    else:
        yield obj


def _check(name, args, kw, host_ok=False):
    """The device index of the fake arrays among ``args``; CuPy's errors for NumPy arrays
    mixed in (unless ``host_ok``: a constructor copying host data) and for arrays of two
    devices."""
    index = None
    for a in _walk(list(args) + list(kw.values())):
        if _is_plain(a) and not host_ok:
            raise TypeError(f"fake CUDA: {name}() got a NumPy array (shape {a.shape}) beside "
                            f"device arrays; CuPy refuses host arrays in device operations "
                            f"(Unsupported type <class 'numpy.ndarray'>)")
        if isinstance(a, FakeArray):
            if index is not None and a._index != index:
                raise ValueError(f"fake CUDA: {name}(): arrays on devices {index} and "
                                 f"{a._index} (CuPy: the device where the array resides is "
                                 f"different from the current device)")
            index = a._index
    return _current[0] if index is None else index


def _plain(obj):
    if isinstance(obj, FakeArray):
        return obj.view(np.ndarray)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(o) for o in obj)
    return obj


def _plain_kw(kw):
    return {k: _plain(v) for k, v in kw.items()}


def _tag(obj, index):
    """Results as fake arrays of device ``index`` (NumPy scalars as 0-d arrays, as CuPy)."""
    if isinstance(obj, FakeArray):
        return obj
    if isinstance(obj, np.ndarray):
        if obj.base is None and obj.nbytes:
            _allocated[index] = _allocated.get(index, 0) + obj.nbytes
            weakref.finalize(obj, _free, index, obj.nbytes)
        out = obj.view(FakeArray)
        out._index = index
        return out
    if isinstance(obj, np.generic):
        return _tag(np.asarray(obj), index)
    if isinstance(obj, (list, tuple)) and any(isinstance(o, (np.ndarray, np.generic))
                                              for o in obj):
        return type(obj)(_tag(o, index) for o in obj) if type(obj) in (list, tuple) else \
            type(obj)(*(_tag(o, index) for o in obj))
    return obj


def _free(index, nbytes):
    _allocated[index] -= nbytes


_FROM_HOST = frozenset(("asarray", "array", "asanyarray", "ascontiguousarray"))


class _Module:
    """NumPy's namespace answering with fake arrays (the fake's ``cupy``)."""

    def __init__(self, module):
        self._np = module
        self._subs = {}

    def __getattr__(self, name):
        if name == "ndarray":
            return FakeArray
        v = getattr(self._np, name)
        if isinstance(v, types.ModuleType):
            return self._subs.setdefault(name, _Module(v))
        if isinstance(v, (np.ufunc, type)) or not callable(v):
            return v   # ufuncs dispatch to FakeArray themselves; dtypes and constants as is

        def call(*args, **kw):
            # CuPy's array constructors copy host data to the device; its other functions
            # refuse host arrays
            index = _check(name, args, kw, host_ok=name in _FROM_HOST)
            return _tag(v(*_plain(args), **_plain_kw(kw)), index)
        call.__name__ = name
        return call


class FakeCuda(DeviceType):
    """The fake CUDA device type (``count`` devices)."""

    name = "cuda"
    array_type = FakeArray

    def __init__(self, count=2):
        self.module = _Module(np)
        self._count = count

    def count(self):
        return self._count

    def index_of(self, arr):
        return arr._index

    def current(self):
        return _current[0]

    @contextlib.contextmanager
    def use(self, index):
        prev, _current[0] = _current[0], index
        try:
            yield
        finally:
            _current[0] = prev

    def put(self, arr, index):
        return _tag(np.array(_plain(arr), copy=True), index)

    def to_host(self, arr):
        return np.array(arr.view(np.ndarray), copy=True)

    def memory_allocated(self, index=None):
        return _allocated.get(_current[0] if index is None else index, 0)

    def scatter_add(self, target, index, values):
        _check("scatter_add", (target, values), {})
        np.add.at(target.view(np.ndarray), _plain(index), _plain(values))

    def sliding_window_view(self, x, window_shape, axis=None):
        return _tag(np.lib.stride_tricks.sliding_window_view(_plain(x), window_shape, axis),
                    x._index)

    def as_strided(self, x, shape, strides):
        return _tag(np.lib.stride_tricks.as_strided(_plain(x), shape, strides), x._index)

    def random_source(self, index, seed):
        return _Source(np.random.default_rng(seed), index)


class _Source:
    """One draw's random numbers on a fake device (NumPy's Generator, results tagged)."""

    def __init__(self, gen, index):
        self.gen, self.index = gen, index

    def __getattr__(self, name):
        fn = getattr(self.gen, name)
        return lambda *a, **k: _tag(fn(*a, **k), self.index)


@contextlib.contextmanager
def fake_cuda(count=2):
    """Within this block ``"cuda"`` means the fake device type (``count`` devices)."""
    prev = register("cuda", lambda: FakeCuda(count))
    try:
        yield
    finally:
        register("cuda", prev)
