"""``torch.backends.mps``: Apple's Metal; tapegrad has no MPS device."""


def is_available():
    """False: tapegrad has no MPS device."""
    return False


def is_built():
    """False: tapegrad has no MPS device."""
    return False
