"""Mixed precision: ``autocast`` (PyTorch's per-op dtype policy) and ``GradScaler`` (loss
scaling for float16). ``tg.autocast`` is ``tg.amp.autocast``."""
from .autocast_mode import autocast, is_autocast_enabled, get_autocast_dtype
from .grad_scaler import GradScaler
from .policy import POLICIES

__all__ = ["autocast", "GradScaler", "is_autocast_enabled", "get_autocast_dtype", "POLICIES"]
