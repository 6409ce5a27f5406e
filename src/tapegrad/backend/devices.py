"""Devices: where an array lives and which array module computes on it.

``device`` is PyTorch's ``torch.device``. Each device type (``cpu``, ``cuda``) is served by
a :class:`DeviceType`: its array module (NumPy, CuPy), how to recognise its arrays, and how
to move, seed and synchronise them. CPU arrays are NumPy's, so CPU code never goes through
here on its fast paths; ``cuda`` is loaded (CuPy imported) the first time it is asked for.
"""
import numpy

_CPU_ARRAY = numpy.ndarray


class device:
    """A device: ``device("cpu")``, ``device("cuda")``, ``device("cuda:1")``,
    ``device("cuda", 1)`` or ``device(1)`` (CUDA device 1), as ``torch.device``. Compares
    equal to its string form; ``device("cuda")`` (no index: the current CUDA device when
    used) is not equal to ``device("cuda:0")``, as in PyTorch."""

    __slots__ = ("type", "index")

    def __new__(cls, spec, index=None):
        if isinstance(spec, device):
            if index is not None:
                raise TypeError("device(): an index can't be given with a device object")
            return spec
        if isinstance(spec, int) and not isinstance(spec, bool):
            spec, index = "cuda", spec
        if not isinstance(spec, str):
            raise TypeError(f"device(): expected a string like 'cpu' or 'cuda:0', a device or an "
                            f"int, got {type(spec).__name__}")
        kind, _, num = spec.strip().partition(":")
        if num:
            if index is not None:
                raise ValueError(f"device(): the index is given twice ({spec!r} and {index})")
            if not num.isdigit():
                raise ValueError(f"device(): invalid device string {spec!r} (expected 'cpu', "
                                 f"'cuda' or 'cuda:<index>')")
            index = int(num)
        if kind not in ("cpu", "cuda"):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device "
                               f"string: {spec}")
        if index is not None:
            index = int(index)
            if index < 0:
                raise ValueError(f"device(): the device index must be >= 0, got {index}")
            if kind == "cpu" and index != 0:
                raise ValueError(f"device(): the CPU has only index 0, got {index}")
            if kind == "cpu":
                index = None
        self = object.__new__(cls)
        object.__setattr__(self, "type", kind)
        object.__setattr__(self, "index", index)
        return self

    def __setattr__(self, name, value):
        raise AttributeError("device objects are immutable")

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except (ValueError, RuntimeError):
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __reduce__(self):
        return (device, (str(self),))


CPU = device("cpu")


class DeviceType:
    """What tapegrad needs from an accelerator's array library. Subclasses: the CPU (NumPy),
    CUDA (CuPy, in ``backend.cuda``) and the test-only fake in ``backend.fake``."""

    name = None
    module = None          # the array module (numpy, cupy)
    array_type = None      # the class of its arrays

    def count(self):
        return 1

    def index_of(self, arr):
        return None

    def current(self):
        return None

    def put(self, arr, index):
        """``arr`` (a NumPy array, or one of this type's) on device ``index``."""
        raise NotImplementedError

    def to_host(self, arr):
        """A NumPy copy of one of this type's arrays."""
        raise NotImplementedError

    def use(self, index):
        """A context in which new arrays are allocated on device ``index``."""
        import contextlib
        return contextlib.nullcontext()

    def synchronize(self, index=None):
        pass

    def memory_allocated(self, index=None):
        return 0

    def random_source(self, index, seed):
        """Draws random arrays on device ``index`` from ``seed`` (see ``tapegrad.random``)."""
        raise NotImplementedError


class Cpu(DeviceType):
    name = "cpu"
    module = numpy
    array_type = numpy.ndarray

    def put(self, arr, index):
        return arr

    def to_host(self, arr):
        return arr


_TYPES = {"cpu": Cpu(), "cuda": None}   # cuda: loaded on first use
_LOADERS = {}                            # name -> callable returning a DeviceType
_LISTENERS = []                          # told whether an accelerator type is loaded


def on_change(listener):
    """Call ``listener(in_use)`` whenever an accelerator device type is loaded or dropped
    (the recorder uses it to leave its CPU fast path while another device is in use)."""
    _LISTENERS.append(listener)


def _tell():
    in_use = any(t is not None for k, t in _TYPES.items() if k != "cpu")
    for listener in _LISTENERS:
        listener(in_use)


def register(name, loader):
    """Serve device type ``name`` by ``loader()`` from now on (a DeviceType, made lazily);
    ``loader=None`` restores the default. Returns the previous loader (tests use this to put
    a fake CUDA in place and take it back)."""
    prev = _LOADERS.get(name)
    if loader is None:
        _LOADERS.pop(name, None)
    else:
        _LOADERS[name] = loader
    _TYPES[name] = None
    _tell()
    return prev


def device_type(name):
    """The DeviceType serving ``name`` (loading it: for ``cuda`` this imports CuPy and raises
    a clear error when CuPy or a GPU is missing)."""
    t = _TYPES.get(name)
    if t is None:
        loader = _LOADERS.get(name)
        if loader is None:
            from . import cuda
            loader = cuda.CudaType
        t = _TYPES[name] = loader()
        _tell()
    return t


def loaded_types():
    """The device types in use so far (CUDA only once something asked for it)."""
    return [t for t in _TYPES.values() if t is not None]


def type_of_array(arr):
    """The DeviceType whose array ``arr`` is (None for things that are not arrays)."""
    if type(arr) is _CPU_ARRAY:
        return _TYPES["cpu"]
    for t in _TYPES.values():
        if t is not None and t.name != "cpu" and isinstance(arr, t.array_type):
            return t
    if isinstance(arr, (_CPU_ARRAY, numpy.generic)):
        return _TYPES["cpu"]
    return None


def device_of(arr):
    """The device of array ``arr``."""
    if type(arr) is _CPU_ARRAY:
        return CPU
    t = type_of_array(arr)
    if t is None:
        raise TypeError(f"not an array: {type(arr).__name__}")
    if t.name == "cpu":
        return CPU
    return device(t.name, t.index_of(arr))


def resolve(spec):
    """``spec`` (a device, string or int; None means the CPU) with its index filled in."""
    d = CPU if spec is None else device(spec)
    if d.type == "cpu":
        return CPU
    t = device_type(d.type)
    index = t.current() if d.index is None else d.index
    if index >= t.count():
        raise RuntimeError(f"device {d}: there is no such {d.type} device ({t.count()} "
                           f"available; valid indices are 0..{t.count() - 1})")
    return device(d.type, index)


def to_device(arr, dev):
    """``arr`` on device ``dev`` (resolved): the same array when it is already there."""
    src = type_of_array(arr)
    if dev.type == "cpu":
        return arr if src.name == "cpu" else src.to_host(arr)
    t = device_type(dev.type)
    if src is t and t.index_of(arr) == dev.index:
        return arr
    if src.name != "cpu" and src is not t:
        arr = src.to_host(arr)
    return t.put(arr, dev.index)
