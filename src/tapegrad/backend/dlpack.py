"""DLPack, the array-exchange protocol: what differs between NumPy and CuPy arrays in it.

An exporter's ``__dlpack__`` hands out a capsule describing its memory (pointer, shape,
strides, dtype, device); an importer wraps that memory without copying. Here: which array
module imports an object (by the device its ``__dlpack_device__`` names), how a tapegrad
array is exported, and the device code tapegrad reports. ``tapegrad.dlpack`` puts these on
``Tensor`` and ``tg.from_dlpack``.
"""
import numpy

from . import devices

# DLDeviceType codes (dlpack.h) for the devices tapegrad has
KDL_CPU = 1
KDL_CUDA = 2
KDL_CUDA_HOST = 3       # pinned host memory (PyTorch's pin_memory()): NumPy reads it
KDL_CUDA_MANAGED = 13   # unified memory: CuPy reads it
_NAMES = {1: "CPU", 2: "CUDA", 3: "CUDA host (pinned)", 4: "OpenCL", 7: "Vulkan", 8: "Metal",
          9: "VPI", 10: "ROCm", 11: "ROCm host", 13: "CUDA managed", 14: "oneAPI", 15: "WebGPU",
          16: "Hexagon", 17: "MAIA"}


def dlpack_device(arr):
    """``(device type, index)`` of ``arr`` as DLPack codes: ``(1, 0)`` on the CPU, ``(2, i)``
    on CUDA device ``i`` (what CuPy itself reports for its arrays)."""
    dev = devices.device_of(arr)
    return (KDL_CPU, 0) if dev.type == "cpu" else (KDL_CUDA, dev.index)


def export(arr, stream=None, max_version=None, dl_device=None, copy=None):
    """A DLPack capsule of ``arr`` (its own ``__dlpack__``, which shares its memory).

    Views with negative strides (``flip``, ``[::-1]``) are exported as C-contiguous copies
    unless ``copy=False``, as the DLPack standard allows ("copy only if needed"): PyTorch
    2.13 aborts the interpreter on negative strides (a C++ error, not an exception); with
    ``copy=False`` this raises BufferError instead. Raises BufferError for a stream on
    the CPU, TypeError for a stream that is not an int.
    """
    if stream is not None and (not isinstance(stream, int) or isinstance(stream, bool)):
        raise TypeError(f"Tensor.__dlpack__: stream must be an int or None, got "
                        f"{type(stream).__name__}")
    on_cpu = isinstance(arr, numpy.ndarray) and devices.device_of(arr).type == "cpu"
    if on_cpu:
        if stream not in (None, -1):   # -1: "no synchronisation", PyTorch's default
            raise BufferError(f"Tensor.__dlpack__: a CPU tensor is exported with stream=None, "
                              f"got stream={stream} (streams order work on CUDA devices)")
        stream = None
    if any(s < 0 for s in arr.strides):
        if copy is False:
            raise BufferError(f"Tensor.__dlpack__: this view has negative strides "
                              f"{arr.strides} (made by flip or [::-1]), which DLPack importers "
                              f"such as PyTorch can't take, and copy=False forbids a copy; "
                              f"export .contiguous() instead")
        arr = devices.type_of_array(arr).module.ascontiguousarray(arr)   # the copy asked for
        copy = None
    # only what was asked for: NumPy < 2.1 and older CuPy take no other keywords
    kw = {k: v for k, v in (("max_version", max_version), ("dl_device", dl_device),
                            ("copy", copy)) if v is not None}
    if stream is not None:
        kw["stream"] = stream
    return arr.__dlpack__(**kw)


class _Capsule:
    """A bare DLPack capsule (PyTorch's ``to_dlpack``) dressed as an exporter for NumPy's
    ``from_dlpack``; a capsule can't say its device, so it is taken to be on the CPU."""

    def __init__(self, capsule):
        self.capsule = capsule

    def __dlpack__(self, **kw):
        return self.capsule

    def __dlpack_device__(self):
        return (KDL_CPU, 0)


def from_dlpack(obj):
    """The array, sharing ``obj``'s memory, that ``obj`` (anything with ``__dlpack__``, or a
    bare DLPack capsule of CPU memory) exports: a NumPy array for CPU memory, a CuPy array
    for CUDA memory (imported with CuPy's ``from_dlpack``, which syncs on the producer's
    stream). Raises TypeError for objects that are neither, BufferError for other devices."""
    if not hasattr(obj, "__dlpack__"):
        if type(obj).__name__ != "PyCapsule":
            raise TypeError(f"from_dlpack: expected an object with __dlpack__ (a NumPy, CuPy "
                            f"or PyTorch array) or a DLPack capsule, got {type(obj).__name__}")
        obj = _Capsule(obj)
    kind, index = obj.__dlpack_device__()
    if kind in (KDL_CPU, KDL_CUDA_HOST):
        return numpy.from_dlpack(obj)
    if kind in (KDL_CUDA, KDL_CUDA_MANAGED):
        cuda = devices.device_type("cuda")      # a clear error when CuPy or a GPU is missing
        with cuda.use(index):
            return cuda.module.from_dlpack(obj)
    raise BufferError(f"from_dlpack: the array is on a {_NAMES.get(int(kind), 'unknown')} "
                      f"device (DLPack device type {int(kind)}); tapegrad imports CPU and CUDA "
                      f"memory only")
