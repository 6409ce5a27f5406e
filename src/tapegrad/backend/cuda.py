"""NVIDIA GPUs through CuPy (an optional dependency: ``pip install "tapegrad[cuda12]"`` or
``"tapegrad[cuda13]"``). Imported the first time a CUDA device is asked for, never before.

Everything NumPy and CuPy do differently for tapegrad is here: recognising and moving
arrays, scatter-add, strided views, the current device, memory statistics and random
numbers. Products go to CuPy's ``matmul`` (cuBLAS); elementwise math to its ufuncs.
"""
from .devices import DeviceType

INSTALL = ('install CuPy for your CUDA version: pip install "tapegrad[cuda12]" (CUDA 12.x) '
           'or pip install "tapegrad[cuda13]" (CUDA 13.x)')


def _import_cupy():
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(f"CUDA was asked for, but CuPy is not installed ({e}); "
                           f"{INSTALL}") from None
    return cupy


class CudaType(DeviceType):
    """CUDA devices: arrays are ``cupy.ndarray``; device ``i`` is ``cupy.cuda.Device(i)``."""

    name = "cuda"

    def __init__(self):
        cupy = _import_cupy()
        try:
            n = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:   # CUDARuntimeError: no driver, driver too old, no device
            raise RuntimeError(f"CUDA was asked for and CuPy {cupy.__version__} is installed, "
                               f"but it found no usable NVIDIA GPU ({e}). Check the driver "
                               f"with nvidia-smi; if the GPU needs another CUDA version, "
                               f"{INSTALL}") from None
        if n == 0:
            raise RuntimeError(f"CUDA was asked for and CuPy {cupy.__version__} is installed, "
                               f"but it found no NVIDIA GPU")
        self.module = cupy
        self.array_type = cupy.ndarray
        self._count = n

    def count(self):
        return self._count

    def index_of(self, arr):
        return arr.device.id

    def current(self):
        return self.module.cuda.runtime.getDevice()

    def use(self, index):
        return self.module.cuda.Device(index)

    def put(self, arr, index):
        cupy = self.module
        with cupy.cuda.Device(index):
            if isinstance(arr, cupy.ndarray):     # another GPU: a peer copy
                return arr.copy() if arr.device.id == index else cupy.array(arr, copy=True)
            return cupy.asarray(arr)

    def to_host(self, arr):
        return self.module.asnumpy(arr)

    def synchronize(self, index=None):
        cupy = self.module
        for i in (range(self._count) if index is None else (index,)):
            cupy.cuda.Device(i).synchronize()

    def memory_allocated(self, index=None):
        """Bytes held by live arrays in CuPy's memory pool of the device."""
        cupy = self.module
        with cupy.cuda.Device(self.current() if index is None else index):
            return int(cupy.get_default_memory_pool().used_bytes())

    def scatter_add(self, target, index, values):
        import cupyx
        cupyx.scatter_add(target, index, values)

    def sliding_window_view(self, x, window_shape, axis=None):
        return self.module.lib.stride_tricks.sliding_window_view(x, window_shape, axis)

    def as_strided(self, x, shape, strides):
        return self.module.lib.stride_tricks.as_strided(x, shape, strides)

    def random_source(self, index, seed):
        return _CupySource(self.module, index, seed)


class _CupySource:
    """One draw's random numbers on a GPU, from CuPy's cuRAND generator seeded by ``seed``
    (NumPy Generator method names, which tapegrad's random functions call)."""

    def __init__(self, cupy, index, seed):
        self.cupy, self.index = cupy, index
        with cupy.cuda.Device(index):
            self.rs = cupy.random.RandomState(seed)

    def _run(self, name, *args, **kw):
        with self.cupy.cuda.Device(self.index):
            return getattr(self.rs, name)(*args, **kw)

    def random(self, size=None, dtype=float):
        return self._run("random_sample", size, dtype)

    def standard_normal(self, size=None, dtype=float):
        return self._run("standard_normal", size, dtype)

    def uniform(self, low=0.0, high=1.0, size=None):
        return self._run("uniform", low, high, size)

    def normal(self, loc=0.0, scale=1.0, size=None):
        return self._run("normal", loc, scale, size)

    def exponential(self, scale=1.0, size=None):
        return self._run("exponential", scale, size)

    def integers(self, low, high=None, size=None, dtype="int64"):
        return self._run("randint", low, high, size, dtype)

    def permutation(self, n):
        return self._run("permutation", n)
