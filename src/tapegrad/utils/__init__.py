"""Utilities: data loading (``tg.utils.data``); checkpoints are ``tg.save`` / ``tg.load``."""
from . import data  # noqa: F401
