"""tapegrad's random numbers: one generator per device, all seeded by ``manual_seed``.

The CPU's is a NumPy Generator. NumPy's legacy global state is never used, so other
libraries can't disturb (or be disturbed by) it. A GPU's is a :class:`DeviceGenerator`:
a NumPy seed stream on the host gives each draw its own seed and the device (CuPy's cuRAND)
makes the numbers, so its state is a small host object that saves and restores exactly
(checkpoint replays draw the same dropout masks on every device).
"""
from . import backend
from .backend import devices

_gen = [backend.default_rng()]
_device_gens = {}      # (DeviceType, index) -> DeviceGenerator
_last_seed = [None]    # manual_seed's value, for the device generators made after it


class DeviceGenerator:
    """Random numbers on one accelerator device, NumPy Generator method names
    (``random``, ``standard_normal``, ``integers``, ``uniform``, ``normal``,
    ``exponential``, ``permutation``) returning arrays on that device."""

    def __init__(self, dev, seed=None):
        self.device = dev
        self.seeds = backend.default_rng(seed)

    def _source(self):
        t = devices.device_type(self.device.type)
        return t.random_source(self.device.index, int(self.seeds.integers(2 ** 63)))

    def __getattr__(self, name):
        if name not in _METHODS:
            raise AttributeError(name)
        return getattr(self._source(), name)

    @property
    def bit_generator(self):
        """The NumPy-style bit generator whose ``state`` holds this device generator's seed stream
        (``get_rng_state``/``set_rng_state`` read and write it).
        """
        return self.seeds.bit_generator


_METHODS = frozenset(("random", "standard_normal", "integers", "uniform", "normal",
                      "exponential", "permutation"))


def manual_seed(seed):
    """Seed every tapegrad random function (factories, init, dropout, data shuffling) on
    every device: the CPU's generator and each GPU's, also those first used later."""
    seed = int(seed)
    _gen[0] = backend.default_rng(seed)
    _last_seed[0] = seed
    for g in _device_gens.values():
        g.seeds = backend.default_rng(seed)
    return _gen[0]


seed = manual_seed


def default_generator():
    """The CPU's default random stream (a NumPy ``Generator``), which factories, init and dropout
    draw from unless given a ``generator``; ``manual_seed`` replaces it.

    Returns:
        numpy.random.Generator: the current default stream.
    """
    return _gen[0]


def get_rng_state():
    """The CPU generator's state (a dict), for checkpointing and exact replays."""
    return _gen[0].bit_generator.state


def set_rng_state(state):
    """Restore the CPU generator's state saved by ``get_rng_state()`` (``torch.set_rng_state``).

    Args:
        state (dict): a state from ``get_rng_state()``; tapegrad's states are NumPy
            bit-generator dicts, not PyTorch's byte tensors.

    Raises:
        TypeError, ValueError: ``state`` is not such a state.
    """
    _gen[0].bit_generator.state = state


def device_generator(dev):
    """The generator of accelerator device ``dev`` (resolved), made on first use."""
    key = (devices.device_type(dev.type), dev.index)
    g = _device_gens.get(key)
    if g is None or g.device != dev:
        g = _device_gens[key] = DeviceGenerator(dev, _last_seed[0])
    return g


def device_generators():
    """The accelerator generators in use (for ``get_all_states``), current device types
    only."""
    live = devices.loaded_types()
    return [g for (t, _), g in _device_gens.items() if t in live]


def get_all_states():
    """The state of every generator in use, CPU and devices (what checkpoint restores)."""
    return [(None, get_rng_state())] + [(g, g.bit_generator.state) for g in device_generators()]


def set_all_states(states):
    """Restore every generator from ``get_all_states()`` (the CPU's and each device's).

    Args:
        states (list): ``(generator or None for the CPU, state)`` pairs from ``get_all_states``.
    """
    for g, state in states:
        if g is None:
            set_rng_state(state)
        else:
            g.bit_generator.state = state


class Generator:
    """An independent random stream (``torch.Generator``): ``Generator(seed)`` or
    ``Generator(device="cuda", seed=None)``, with ``manual_seed``, ``get_state`` and
    ``set_state``."""

    def __init__(self, seed=None, device=None):
        if isinstance(seed, (str, backend.device)):
            seed, device = None, seed
        self.device = devices.resolve(device)
        self.manual_seed(seed) if seed is not None else self._make(None)

    def _make(self, seed):
        self.rng = (backend.default_rng(seed) if self.device.type == "cpu"
                    else DeviceGenerator(self.device, seed))

    def manual_seed(self, seed):
        """Restart this stream from ``seed``.

        Args:
            seed (int): the seed.

        Returns:
            Generator: ``self``.

        Raises:
            TypeError, ValueError: ``seed`` cannot be converted to an int.
        """
        self._make(int(seed))
        return self

    def get_state(self):
        """This stream's state, to restore later with ``set_state`` (a NumPy bit-generator dict)."""
        return self.rng.bit_generator.state

    def set_state(self, state):
        """Restore a state from ``get_state()``.

        Args:
            state (dict): a state returned by ``get_state``.
        """
        self.rng.bit_generator.state = state


def rng(generator=None, device=None):
    """What to draw from: ``generator``'s stream, else the default generator of ``device``
    (the CPU's when it is None)."""
    if generator is not None:
        if isinstance(generator, Generator):
            if device is not None and generator.device != backend.device(device):
                raise RuntimeError(f"a generator of device {generator.device} can't draw "
                                   f"numbers for device {device}")
            return generator.rng
        return generator
    if device is None or device.type == "cpu":
        return _gen[0]
    return device_generator(device)
