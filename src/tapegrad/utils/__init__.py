"""Utilities: data loading (``tg.utils.data``), activation checkpointing
(``tg.utils.checkpoint``); model checkpoints on disk are ``tg.save`` / ``tg.load``."""
from . import data, checkpoint  # noqa: F401
