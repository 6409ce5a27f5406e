"""tapegrad: tensors on NumPy, a tape that records every op, gradients by replaying it.

    import tapegrad as tg
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x ** 2).sum().backward()
    x.grad  # tensor([2., 4.])
"""
from . import backend as _backend
from .backend import device
from .core.tensor import Tensor, Variable
from .core.engine import grad
from .core.errors import GraphFreedError, InplaceModifiedError, GradcheckError, ShapeError
from .core.function import result_type
from .core.modes import (no_grad, enable_grad, set_grad_enabled, is_grad_enabled,
                         inference_mode)
from . import ops
from .ops import *  # noqa: F401,F403  (every op: tg.exp, tg.matmul, ...)
from .creation import (tensor, as_tensor, from_numpy, zeros, ones, empty, full, arange,
                       linspace, eye, rand, randn, randint, randperm, zeros_like, ones_like,
                       empty_like, full_like, rand_like, randn_like, randint_like)
from .random import manual_seed, seed, get_rng_state, set_rng_state, Generator
from .tape import GradientTape, Tape, Gradients
from . import autograd, cuda, debug, linalg, nn, optim, utils, forward_ad, func, safetensors
from . import special, accelerator, backends, functional
from .core.printing import set_printoptions
from .compat import *  # noqa: F401,F403  (Size, finfo, iinfo, pi, set_num_threads, ...)
from .func import vmap
from .autograd import CustomOp, checkpoint
from .forward_ad import DualTensor, ForwardADContext
from .serialization import save, load
from .dlpack import from_dlpack
from . import onnx   # tg.onnx.export; the onnx package is imported on first use
from .graph import Graph, compile
from . import amp
from .amp import autocast

float16 = half = _backend.float16
bfloat16 = _backend.bfloat16
float32 = float = _backend.float32
float64 = double = _backend.float64
int8 = _backend.int8
int16 = short = _backend.int16
int32 = int = _backend.int32
int64 = long = _backend.int64
uint8 = _backend.uint8
bool = _backend.bool_
dtype = type(_backend.float32)

__version__ = "0.1.0"


def is_tensor(obj):
    """Whether ``obj`` is a tapegrad Tensor (``torch.is_tensor``).

    Args:
        obj: any object.

    Returns:
        bool: True for a Tensor (parameters and batched tensors included), False otherwise.
    """
    return isinstance(obj, Tensor)


def numel(t):
    """The number of elements of tensor ``t`` (``torch.numel``): the product of its shape.

    Args:
        t (Tensor): the tensor.

    Returns:
        int: ``t.numel()``.
    """
    return t.numel()


def get_default_dtype():
    """The dtype of floating tensors made from Python floats and of factories (float32)."""
    return _backend.DEFAULT_FLOAT


def set_default_dtype(d):
    """Make ``d`` (a floating dtype: ``tg.float64``, ``tg.float32``, ...) the dtype of new
    floating tensors, as ``torch.set_default_dtype``."""
    d = _backend.as_dtype(d)
    if d is None or not _backend.is_floating(d):
        raise TypeError(f"set_default_dtype: only floating dtypes are supported as the "
                        f"default, got {d}")
    _backend.DEFAULT_FLOAT = d
