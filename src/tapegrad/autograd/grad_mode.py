"""``torch.autograd.grad_mode``: PyTorch's path to the grad-mode context managers (defined in
``core/modes.py``)."""
from ..core.modes import no_grad, enable_grad, set_grad_enabled, inference_mode

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "inference_mode"]
