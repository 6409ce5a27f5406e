"""Autograd entry points: grad/backward, user Functions, gradient checks, anomaly mode."""
from ..core.engine import grad
from ..core.tensor import Variable  # noqa: F401  (PyTorch's old name: a Tensor)
from ..core.errors import GraphFreedError, InplaceModifiedError, GradcheckError
from ..core.modes import STATE, no_grad, enable_grad, set_grad_enabled, is_grad_enabled
from .function import Function, FunctionCtx, once_differentiable
from .custom_op import CustomOp, custom_op
from .checkpoint import checkpoint, checkpoint_sequential
from .profiler import profile
from .gradcheck import gradcheck, gradgradcheck


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """``tg.autograd.backward(loss)``: the functional form of ``loss.backward()``."""
    from ..core.tensor import Tensor
    if isinstance(tensors, Tensor):
        tensors, grad_tensors = [tensors], [grad_tensors]
    grad_tensors = grad_tensors or [None] * len(tensors)
    for t, g in zip(tensors, grad_tensors):
        t.backward(g, retain_graph=True if retain_graph is None and len(tensors) > 1
                   else retain_graph, create_graph=create_graph, inputs=inputs)


class detect_anomaly:
    """Context manager: record where each op was called, check every backward gradient for
    NaN/Inf and raise naming the op (and its file:line) that produced it. Slow; for debugging."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self._prev = STATE.anomaly
        STATE.anomaly = self.check_nan
        return self

    def __exit__(self, *exc):
        STATE.anomaly = self._prev


def set_detect_anomaly(mode):
    """Turn anomaly mode on or off globally (``torch.autograd.set_detect_anomaly``); see
    ``detect_anomaly``.

    Args:
        mode (bool): True to record call sites and check backward gradients for NaN/Inf.
    """
    STATE.anomaly = bool(mode)


def is_anomaly_enabled():
    """Whether anomaly mode (``detect_anomaly`` / ``set_detect_anomaly``) is on."""
    return STATE.anomaly


__all__ = ["grad", "backward", "Function", "CustomOp", "custom_op", "checkpoint", "profile",
           "checkpoint_sequential", "FunctionCtx", "once_differentiable", "gradcheck",
           "gradgradcheck", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "GraphFreedError",
           "InplaceModifiedError", "GradcheckError"]
