"""One module per activation op; each forward calls the op in ``tg.nn.functional``."""
import inspect

from ..creation import full
from . import functional as F
from .module import Module
from .parameter import Parameter


def _module_doc(name, fn_name, params):
    """The docstring of a generated activation module: the op's maths, then its arguments."""
    op_doc = inspect.cleandoc(getattr(F, fn_name).__doc__ or "")
    lines = [f"Module form of ``F.{fn_name}``, elementwise unless it takes a ``dim``:", "",
             op_doc, ""]
    if params:
        lines.append("Args:")
        for k, default in params:
            if k == "inplace":
                lines.append("    inplace (bool): accepted for PyTorch's signature; tapegrad "
                             "returns a new tensor and leaves the input unchanged.")
            elif k == "dim" and default is None:
                lines.append(f"    dim (int, optional): passed to ``F.{fn_name}``; None is "
                             f"PyTorch's legacy implicit dim (0 for 0-, 1- and 3-d inputs, "
                             f"else 1).")
            else:
                lines.append(f"    {k}: passed to ``F.{fn_name}`` (default {default!r}).")
        lines.append("")
    lines += ["Raises:", f"    TypeError: more positional arguments than {name} takes, or an "
              f"unknown keyword."]
    return "\n".join(lines)


def _activation(name, fn_name, params=(), doc=None):
    """A Module class whose constructor takes ``params`` ((name, default) pairs, PyTorch's
    order) and whose forward is ``F.<fn_name>(x, **params)``."""
    names = [p for p, _ in params]
    defaults = dict(params)

    def __init__(self, *args, **kwargs):
        Module.__init__(self)
        if len(args) > len(names):
            raise TypeError(f"{name} takes at most {len(names)} arguments ({len(args)} given)")
        values = dict(defaults)
        values.update(zip(names, args))
        for k, v in kwargs.items():
            if k not in defaults:
                raise TypeError(f"{name} got an unexpected keyword argument '{k}'")
            values[k] = v
        for k in names:
            object.__setattr__(self, k, values[k])

    op_names = [k for k in names if k != "inplace"]  # what the op takes besides x

    def forward(self, x):
        if not op_names:
            return getattr(F, fn_name)(x)
        kw = {k: getattr(self, k) for k in op_names}
        if "dim" in kw and kw["dim"] is None:   # PyTorch's legacy implicit dim
            kw["dim"] = 0 if x.ndim in (0, 1, 3) else 1
        return getattr(F, fn_name)(x, **kw)

    def extra_repr(self):
        return ", ".join(f"{k}={getattr(self, k)!r}" for k in names
                         if not (k == "inplace" and not getattr(self, k)))

    cls = type(name, (Module,), {"__init__": __init__, "forward": forward,
                                 "extra_repr": extra_repr,
                                 "__doc__": doc or _module_doc(name, fn_name, params)})
    cls.__module__ = __name__
    return cls


ReLU = _activation("ReLU", "relu", [("inplace", False)])
ReLU6 = _activation("ReLU6", "relu6", [("inplace", False)])
LeakyReLU = _activation("LeakyReLU", "leaky_relu", [("negative_slope", 0.01), ("inplace", False)])
ELU = _activation("ELU", "elu", [("alpha", 1.0), ("inplace", False)])
SELU = _activation("SELU", "selu", [("inplace", False)])
CELU = _activation("CELU", "celu", [("alpha", 1.0), ("inplace", False)])
GELU = _activation("GELU", "gelu", [("approximate", "none")])
SiLU = _activation("SiLU", "silu", [("inplace", False)])
Mish = _activation("Mish", "mish", [("inplace", False)])
Hardtanh = _activation("Hardtanh", "hardtanh", [("min_val", -1.0), ("max_val", 1.0),
                                                ("inplace", False)])
Hardsigmoid = _activation("Hardsigmoid", "hardsigmoid", [("inplace", False)])
Hardswish = _activation("Hardswish", "hardswish", [("inplace", False)])
Softsign = _activation("Softsign", "softsign")
Tanhshrink = _activation("Tanhshrink", "tanhshrink")
Threshold = _activation("Threshold", "threshold", [("threshold", None), ("value", None),
                                                   ("inplace", False)])
GLU = _activation("GLU", "glu", [("dim", -1)])
Sigmoid = _activation("Sigmoid", "sigmoid")
Tanh = _activation("Tanh", "tanh")
Softmax = _activation("Softmax", "softmax", [("dim", None)])
LogSoftmax = _activation("LogSoftmax", "log_softmax", [("dim", None)])
Softmin = _activation("Softmin", "softmin", [("dim", None)])
Softplus = _activation("Softplus", "softplus", [("beta", 1.0), ("threshold", 20.0)])
LogSigmoid = _activation("LogSigmoid", "logsigmoid")


class PReLU(Module):
    """y = max(0, x) + weight * min(0, x), with one learnable slope (or one per channel)."""

    def __init__(self, num_parameters=1, init=0.25, dtype=None, device=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = Parameter(full((num_parameters,), float(init), dtype=dtype, device=device))

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"
