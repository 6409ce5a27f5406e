"""``tg.accelerator``: the device-agnostic API of ``torch.accelerator``.

tapegrad's one accelerator type is CUDA (through CuPy, ``tg.cuda``), so every function here
asks ``tg.cuda``. On a machine without CuPy or a GPU, ``is_available()`` is False,
``current_accelerator()`` is None and ``device_count()`` is 0, as PyTorch's CPU builds say;
the functions that need a device then raise PyTorch's RuntimeError.

    device = tg.accelerator.current_accelerator() if tg.accelerator.is_available() else "cpu"
"""
from . import cuda
from .backend import devices

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index",
           "set_device_index", "device_index", "synchronize", "memory_allocated"]


def is_available():
    """True when an accelerator (a CUDA GPU seen by CuPy) can be used."""
    return cuda.is_available()


def current_accelerator(check_available=False):
    """``device(type='cuda')`` when a GPU is available, else None (``check_available`` is
    PyTorch's: it makes the answer None also when the accelerator is built but unusable,
    which is the only case tapegrad has)."""
    return devices.device("cuda") if cuda.is_available() else None


def device_count():
    """The number of accelerator devices (0 without one)."""
    return cuda.device_count()


def _need(what):
    if not cuda.is_available():
        raise RuntimeError(f"accelerator.{what}: cannot access an accelerator device when none "
                           f"is available (tg.accelerator.is_available() is False)")


def current_device_index():
    """The index of the current accelerator device."""
    _need("current_device_index")
    return cuda.current_device()


def set_device_index(device):
    """Make ``device`` (an index, ``"cuda:1"`` or a ``tg.device``) the current one."""
    _need("set_device_index")
    cuda.set_device(device)


class device_index:
    """``with tg.accelerator.device_index(1):`` makes device 1 current inside the block
    (``None`` leaves the current device alone)."""

    def __init__(self, device):
        self.index = device

    def __enter__(self):
        if self.index is not None:
            _need("device_index")
            self._ctx = cuda.device(self.index)
            self._ctx.__enter__()

    def __exit__(self, *exc):
        if self.index is not None:
            return self._ctx.__exit__(*exc)


def synchronize(device=None):
    """Wait for every queued kernel on ``device`` (default: all)."""
    _need("synchronize")
    cuda.synchronize(device)


def memory_allocated(device=None):
    """Bytes held by live arrays on ``device`` (the current one by default)."""
    _need("memory_allocated")
    return cuda.memory_allocated(device)


current_device_idx = current_device_index   # PyTorch's deprecated spellings
set_device_idx = set_device_index
