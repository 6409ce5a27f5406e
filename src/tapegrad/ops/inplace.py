"""In-place variants: ``x.add_(y)`` runs the out-of-place op and writes the result into x's
memory, bumping its version counter (see Tensor._inplace for the recording rules)."""
from ..core.tensor import Tensor
from .elementwise import Add, Sub, Mul, Div, Pow, Neg
from .shape import setitem


def _binary(fn, name):
    def method(self, other, *, alpha=None):
        if alpha is not None:
            other = other * alpha
        return self._inplace(fn, (other,), {})
    method.__name__ = name
    method.__doc__ = f"In-place ``{fn.name}``: writes the result into this tensor."
    return method


for _fn, _names in ((Add, ("add_", "__iadd__")), (Sub, ("sub_", "__isub__")),
                    (Mul, ("mul_", "__imul__")), (Div, ("div_", "__itruediv__")),
                    (Pow, ("pow_", "__ipow__"))):
    for _n in _names:
        setattr(Tensor, _n, _binary(_fn, _n))


def neg_(self):
    """In place ``self = -self`` (recorded: gradients flow through it as through ``neg``).

    Returns:
        Tensor: ``self``.
    """
    return self._inplace(Neg, (), {})


def fill_(self, value):
    """Set every element to ``value`` (a number or a one-element tensor)."""
    setitem(self, Ellipsis, value)
    return self


def zero_(self):
    """Set every element to 0, in place.

    Returns:
        Tensor: ``self``.
    """
    return fill_(self, 0)


def copy_(self, src):
    """Copy ``src`` (broadcast to this shape) into this tensor."""
    if not isinstance(src, Tensor):
        src = Tensor(src)
    setitem(self, Ellipsis, src)
    return self


Tensor.neg_ = neg_
Tensor.fill_ = fill_
Tensor.zero_ = zero_
Tensor.copy_ = copy_
