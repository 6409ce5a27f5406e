"""DLPack: tensors shared with NumPy, PyTorch, CuPy (and any DLPack library) without a copy.

    t = tg.from_dlpack(torch_tensor)     # a tapegrad tensor on the same memory
    a = np.from_dlpack(t)                # a NumPy array on t's memory
    u = torch.from_dlpack(t)             # a PyTorch tensor on t's memory

Importing binds ``Tensor.__dlpack__`` and ``Tensor.__dlpack_device__`` (the protocol's two
methods) and provides :func:`from_dlpack`; what differs between NumPy and CuPy lives in
``backend.dlpack``. As in PyTorch, writes through one side are seen on the other, and they
don't bump the other side's version counter (autograd can't see them: share tensors that
don't take part in a graph).
"""
from . import backend
from .backend import dlpack as _dl
from .core.tensor import Tensor, _value_read


def from_dlpack(ext_tensor, *, device=None, copy=None):
    """A tensor on the memory of ``ext_tensor`` (no copy), as ``torch.from_dlpack``.

    Args:
        ext_tensor: an object with ``__dlpack__`` and ``__dlpack_device__`` (a NumPy, CuPy or
            PyTorch array, a tapegrad tensor...) or a bare DLPack capsule of CPU memory
            (``torch.utils.dlpack.to_dlpack``).
        device: where the result should be; another device than ``ext_tensor``'s copies.
        copy: True always copies; False never does (a device move then raises ValueError);
            None (default) copies only to change device.

    The result does not require grad. Raises TypeError for an object that is neither an
    exporter nor a capsule, or for data that isn't numbers (complex); BufferError for memory
    on a device tapegrad doesn't have; a PyTorch tensor that requires grad is refused by
    PyTorch (BufferError: detach it first).
    """
    arr = _dl.from_dlpack(ext_tensor)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"from_dlpack: tapegrad tensors hold bool, integer and floating point "
                        f"numbers, not {arr.dtype}")
    if device is not None:
        dev = backend.devices.resolve(device)
        if dev != backend.device_of(arr):
            if copy is False:
                raise ValueError(f"from_dlpack: the array is on {backend.device_of(arr)} and "
                                 f"device={dev} asks for a move, which copy=False forbids")
            arr, copy = backend.to_device(arr, dev), None   # the move made the copy
    if copy:
        arr = arr.copy()
    return Tensor(arr)


def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
    """A DLPack capsule sharing this tensor's memory (the producer half of the protocol;
    importers such as ``np.from_dlpack`` and ``torch.from_dlpack`` call it).

    Args (the DLPack standard's): ``stream``, the importer's CUDA stream to order the
    exchange on (None on the CPU; -1 means no synchronisation); ``max_version``, the newest
    capsule version the importer reads; ``dl_device``, the device it wants; ``copy``: True
    to export a copy, False to forbid one, None to copy only when needed.

    Raises BufferError, as PyTorch does, for a tensor that requires grad (an importer would
    lose the graph: export ``t.detach()``), and for a negative-stride view with
    ``copy=False`` (see ``backend.dlpack.export``: such views are otherwise exported as a
    contiguous copy, since PyTorch can't import them).
    """
    if self.requires_grad:
        raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
    _value_read("__dlpack__")
    return _dl.export(self._data, stream=stream, max_version=max_version,
                      dl_device=dl_device, copy=copy)


def __dlpack_device__(self):
    """``(device type, index)`` in DLPack's codes: ``(1, 0)`` for the CPU, ``(2, i)`` for CUDA
    device ``i``."""
    return _dl.dlpack_device(self._data)


Tensor.__dlpack__ = __dlpack__
Tensor.__dlpack_device__ = __dlpack_device__
