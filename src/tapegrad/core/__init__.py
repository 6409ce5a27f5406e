"""The small core: Tensor, the recorder (Function/apply), the engine and grad modes."""
from .tensor import Tensor, Variable
from .function import Function, apply
from .registry import primitive, composite, OPS
from .engine import grad, backward
from .modes import no_grad, enable_grad, set_grad_enabled, is_grad_enabled, inference_mode
