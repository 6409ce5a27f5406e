"""``torch.nn.modules.activation``: the activations and MultiheadAttention
(``tg.nn``'s classes, imported from where they live)."""
from ..activation import (ReLU, ReLU6, LeakyReLU, PReLU, ELU, SELU, CELU, GELU, SiLU, Mish,
                          Hardtanh, Hardsigmoid, Hardswish, Softsign, Tanhshrink, Threshold, GLU,
                          Sigmoid, Tanh, Softmax, LogSoftmax, Softmin, Softplus, LogSigmoid)
from ..attention import MultiheadAttention

__all__ = ["ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU",
           "Mish", "Hardtanh", "Hardsigmoid", "Hardswish", "Softsign", "Tanhshrink",
           "Threshold", "GLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Softmin",
           "Softplus", "LogSigmoid", "MultiheadAttention"]
