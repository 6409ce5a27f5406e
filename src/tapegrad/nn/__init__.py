"""Neural networks: modules, layers, losses, initialisation (PyTorch's names)."""
from . import functional  # noqa: F401
