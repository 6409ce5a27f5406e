"""``torch.backends.mkldnn``: oneDNN; tapegrad uses none (``enabled`` is kept, no effect)."""

enabled = True   #: accepted, no effect


def is_available():
    """False: tapegrad has no oneDNN kernels."""
    return False
