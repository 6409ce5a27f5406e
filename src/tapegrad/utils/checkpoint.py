"""``tg.utils.checkpoint``: activation checkpointing, as ``torch.utils.checkpoint``."""
from ..autograd.checkpoint import checkpoint, checkpoint_sequential  # noqa: F401
