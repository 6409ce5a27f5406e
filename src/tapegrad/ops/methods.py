"""Tensor methods that are not ops of their own (PyTorch's names): in-place ``clamp_`` and
``masked_fill_``, the ``new_*`` creation helpers, ``type_as``/``view_as``/``reshape_as``,
``is_contiguous``, ``Tensor.where``, and the random in-place fills (``uniform_``,
``normal_``, ...) drawn from the generator of the tensor's device."""
from .. import backend, creation
from ..core.errors import ShapeError
from ..core.tensor import Tensor, _make
from ._util import xp_of
from .elementwise import where, Clamp
from .shape import reshape, setitem


def clamp_(self, min=None, max=None):
    """In-place ``clamp``."""
    if min is None and max is None:
        raise ValueError("clamp_: at least one of min and max must be given")
    return self._inplace(Clamp, (min, max), {})


def masked_fill_(self, mask, value):
    """In-place ``masked_fill``: ``value`` where ``mask`` (broadcast to this shape) is True."""
    m = mask._data if isinstance(mask, Tensor) else \
        mask if backend.is_array(mask) else backend.asarray(mask)
    if m.dtype != backend.bool_:
        raise RuntimeError(f"masked_fill_(): only supports boolean masks, but got mask with "
                           f"dtype {m.dtype}")
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ShapeError(f"masked_fill_(): only supports a 0-dimensional value tensor, but "
                         f"got tensor with {value.ndim} dimension(s).")
    try:
        m = xp_of(m).broadcast_to(m, self.shape)
    except ValueError:
        raise ShapeError(f"masked_fill_(): the mask of shape {list(m.shape)} can't be "
                         f"broadcast to the tensor of shape {list(self.shape)}") from None
    setitem(self, m, value)
    return self


# -- creation helpers and views (methods only) -------------------------------------------------
def _like(self, dtype, device):
    """The factory arguments of a ``new_*`` method: this tensor's dtype and device unless
    others are given."""
    return {"dtype": backend.as_dtype(dtype) or self.dtype,
            "device": self.device if device is None else device}


def new_zeros(self, *size, dtype=None, device=None, requires_grad=False, **kw):
    """Zeros of ``size`` with this tensor's dtype and device (unless given)."""
    return creation.zeros(*size, requires_grad=requires_grad, **_like(self, dtype, device))


def new_ones(self, *size, dtype=None, device=None, requires_grad=False, **kw):
    """Ones of ``size`` with this tensor's dtype and device (unless given).

    Args:
        *size: ints or one sequence of ints.
        dtype (optional): the result's dtype (this tensor's by default).
        device (optional): the result's device (this tensor's by default).
        requires_grad (bool): make the result a leaf that requires grad.

    Returns:
        Tensor: a new tensor of ones.
    """
    return creation.ones(*size, requires_grad=requires_grad, **_like(self, dtype, device))


def new_empty(self, *size, dtype=None, device=None, requires_grad=False, **kw):
    """Like PyTorch's uninitialised tensor, but zero-filled (deterministic)."""
    return creation.zeros(*size, requires_grad=requires_grad, **_like(self, dtype, device))


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False, **kw):
    """Filled in ``fill_value``'s own dtype, then cast (-1 wraps to 255 in uint8, as in
    PyTorch, where NumPy refuses it)."""
    like = _like(self, dtype, device)
    t = creation.full(size, fill_value, dtype=backend.asarray(fill_value).dtype,
                      device=like["device"]).to(like["dtype"])
    return t.requires_grad_(True) if requires_grad else t


def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    """A copy of ``data`` with this tensor's dtype and device (unless given)."""
    return creation.tensor(data, requires_grad=requires_grad, **_like(self, dtype, device))


def type_as(self, other):
    """``self.to(other.dtype)``: this tensor converted to ``other``'s dtype."""
    return self.to(other.dtype)


def view_as(self, other):
    """``self.view(other.shape)``: this tensor with ``other``'s shape.

    Raises:
        tg.ShapeError: the element counts differ.
    """
    return reshape(self, other.shape)


def reshape_as(self, other):
    """``self.reshape(other.shape)``: this tensor with ``other``'s shape.

    Raises:
        tg.ShapeError: the element counts differ.
    """
    return reshape(self, other.shape)


def is_contiguous(self, memory_format=None):
    """Always True: every tapegrad tensor can be viewed/reshaped as if contiguous
    (``contiguous()`` returns the tensor itself)."""
    return True


def tensor_where(self, condition, other):
    """``x.where(cond, y)`` is ``tg.where(cond, x, y)``."""
    return where(condition, self, other)


# -- random in-place fills ---------------------------------------------------------------------
def _fill(self, arr):
    """Overwrite this tensor with ``arr`` (recorded as a write of a constant when needed)."""
    setitem(self, Ellipsis, _make(xp_of(self).asarray(arr).astype(self.dtype)))
    return self


def _rng(self, generator):
    """What to draw from: ``generator``, else the default generator of this tensor's
    device (so the numbers are made where the tensor is)."""
    from ..random import rng
    return rng(generator, self.device)


def uniform_(self, from_=0.0, to=1.0, *, generator=None, **kw):
    """Fill with U[from, to) draws from tapegrad's generator (``from`` may be passed as
    ``from_=`` since ``from`` is a Python keyword)."""
    lo = kw.pop("from", from_)
    return _fill(self, _rng(self, generator).uniform(lo, to, self.shape))


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    """Fill in place with N(mean, std**2) draws from the generator of this tensor's device.

    Args:
        mean (float): the mean.
        std (float): the standard deviation.
        generator (tg.Generator, optional): draw from this stream instead.

    Returns:
        Tensor: ``self``.
    """
    return _fill(self, _rng(self, generator).normal(mean, std, self.shape))


def bernoulli_(self, p=0.5, *, generator=None):
    """Fill with 1 with probability ``p`` (a number or a tensor broadcast to this shape)."""
    p = p._data if isinstance(p, Tensor) else p
    return _fill(self, _rng(self, generator).random(self.shape) < p)


def exponential_(self, lambd=1.0, *, generator=None):
    """Fill in place with Exponential(lambd) draws (density ``lambd * exp(-lambd * x)``, mean
    ``1/lambd``) from the generator of this tensor's device.

    Args:
        lambd (float): the rate.
        generator (tg.Generator, optional): draw from this stream instead.

    Returns:
        Tensor: ``self``.
    """
    return _fill(self, _rng(self, generator).exponential(1.0 / lambd, self.shape))


def random_(self, from_=0, to=None, *, generator=None, **kw):
    """Integers uniform in [from, to); ``random_(to)`` means [0, to); ``random_()`` means
    [0, 2**mantissa] for floats (every integer exactly representable) and [0, max] for ints."""
    lo = kw.pop("from", from_)
    if to is None and ("from" in kw or from_ != 0 or lo != 0):
        lo, to = 0, lo
    if to is None:
        dt = self.dtype
        if backend.is_floating(dt):
            to = 2 ** (xp_of(self).finfo(dt).nmant + 1) + 1
        elif dt.kind == "b":
            to = 2
        else:
            to = int(xp_of(self).iinfo(dt).max)
    return _fill(self, _rng(self, generator).integers(lo, to, self.shape))


for _f in (new_zeros, new_ones, new_empty, new_full, new_tensor, type_as, view_as, reshape_as,
           is_contiguous, clamp_, masked_fill_, uniform_, normal_, bernoulli_, exponential_,
           random_):
    setattr(Tensor, _f.__name__, _f)
Tensor.where = tensor_where
