"""``tg.cuda``: NVIDIA GPUs, as ``torch.cuda``. Needs CuPy (``pip install "tapegrad[cuda12]"``
or ``"tapegrad[cuda13]"``); nothing here imports it before one of these functions runs.
"""
from .backend import devices
from . import random as _random


def _cuda():
    return devices.device_type("cuda")


def is_available():
    """True when CuPy is installed and sees at least one GPU (never raises)."""
    try:
        _cuda()
    except RuntimeError:
        return False
    return True


def device_count():
    """The number of GPUs (0 without CuPy or a GPU)."""
    return _cuda().count() if is_available() else 0


def current_device():
    """The index of the current CUDA device (where ``device("cuda")`` allocates)."""
    return _cuda().current()


class device:
    """``with tg.cuda.device(1):``: make CUDA device 1 the current one inside the block."""

    def __init__(self, index):
        d = devices.device(index) if not isinstance(index, int) else devices.device("cuda", index)
        self.index = d.index

    def __enter__(self):
        self._ctx = _cuda().use(self.index)
        self._ctx.__enter__()

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def set_device(index):
    """Make CUDA device ``index`` the current one."""
    d = devices.device(index) if not isinstance(index, int) else devices.device("cuda", index)
    t = _cuda()
    t.use(d.index).__enter__()


def synchronize(device=None):
    """Wait until every queued GPU kernel (of ``device``, default all) has finished."""
    t = _cuda()
    t.synchronize(None if device is None else devices.resolve(device).index)


def memory_allocated(device=None):
    """Bytes of GPU memory held by live arrays on ``device`` (the current one by default)."""
    t = _cuda()
    return t.memory_allocated(None if device is None else devices.resolve(device).index)


def manual_seed(seed):
    """Seed the generator of the current CUDA device (``tg.manual_seed`` seeds all)."""
    _random.device_generator(devices.resolve("cuda")).seeds = _random.backend.default_rng(
        int(seed))


def manual_seed_all(seed):
    """Seed the generators of every CUDA device."""
    for i in range(device_count()):
        _random.device_generator(devices.device("cuda", i)).seeds = \
            _random.backend.default_rng(int(seed))


def get_rng_state(device="cuda"):
    """The state of a CUDA device's generator (for an exact replay later)."""
    return _random.device_generator(devices.resolve(device)).bit_generator.state


def set_rng_state(state, device="cuda"):
    """Restore a CUDA device's generator from ``get_rng_state()``.

    Args:
        state (dict): a state returned by ``tg.cuda.get_rng_state(device)``.
        device (str, int or tg.device): the device (the current CUDA device by default).

    Raises:
        RuntimeError: CUDA is unavailable, or there is no such device.
    """
    _random.device_generator(devices.resolve(device)).bit_generator.state = state
