"""tapegrad's random numbers: one NumPy Generator, seeded by ``manual_seed``. NumPy's legacy
global state is never used, so other libraries can't disturb (or be disturbed by) it."""
from . import backend

_gen = [backend.default_rng()]


def manual_seed(seed):
    """Seed every tapegrad random function (factories, init, dropout, data shuffling)."""
    _gen[0] = backend.default_rng(int(seed))
    return _gen[0]


seed = manual_seed


def default_generator():
    return _gen[0]


def get_rng_state():
    """The generator's state (a dict), for checkpointing and exact replays."""
    return _gen[0].bit_generator.state


def set_rng_state(state):
    _gen[0].bit_generator.state = state


class Generator:
    """An independent random stream (``torch.Generator``-like) with ``manual_seed``."""

    def __init__(self, seed=None):
        self.rng = backend.default_rng(seed)

    def manual_seed(self, seed):
        self.rng = backend.default_rng(int(seed))
        return self

    def get_state(self):
        return self.rng.bit_generator.state

    def set_state(self, state):
        self.rng.bit_generator.state = state


def rng(generator=None):
    """The NumPy Generator to draw from: ``generator``'s, else the default one."""
    if generator is None:
        return _gen[0]
    return generator.rng if isinstance(generator, Generator) else generator
