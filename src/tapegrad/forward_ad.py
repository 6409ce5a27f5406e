"""Forward-mode AD. Inside ``dual_level()``, a dual tensor carries a tangent, and every op
pushes tangents through its JVP rule as it runs (no reverse pass involved), so a JVP
costs a small constant times the forward pass:

    with fwAD.dual_level():
        x = fwAD.make_dual(primal, tangent)
        y = f(x)
        value, jvp = fwAD.unpack_dual(y)

Levels nest (``jvp`` of ``jvp``) and must be exited innermost first. Forward over reverse
works: a gradient computed with ``create_graph=True`` inside a level carries tangents, giving
Hessian-vector products in one pass.
"""
import collections
import itertools

from . import backend
from .core.function import Function, zeros_like
from .core.registry import primitive, linear_jvp
from .core.modes import STATE
from .core.tensor import Tensor, _make

_levels = itertools.count(1)
UnpackedDualTensor = collections.namedtuple("UnpackedDualTensor", ["primal", "tangent"])


def enter_dual_level():
    """Start a new forward AD level and return its id."""
    level = next(_levels)
    STATE.fw_levels = STATE.fw_levels + (level,)
    return level


def exit_dual_level(level=None):
    """Leave the innermost forward-AD level (``torch.autograd.forward_ad.exit_dual_level``):
    tangents attached inside it are dropped. ``dual_level()`` calls it on exit.

    Args:
        level (int, optional): the level to exit; it must be the innermost one.

    Raises:
        RuntimeError: no level is active, or ``level`` is not the innermost one.
    """
    levels = STATE.fw_levels
    if not levels:
        raise RuntimeError("exit_dual_level: no forward AD level is active")
    if level is not None and level != levels[-1]:
        raise RuntimeError("Trying to exit a forward AD level that was not the last one that "
                           "was created; exit nested levels innermost first")
    STATE.fw_levels = levels[:-1]


class dual_level:
    """Context manager for a forward AD level: ``with fwAD.dual_level(): ...``."""

    def __enter__(self):
        self.level = enter_dual_level()
        return self.level

    def __exit__(self, *exc):
        exit_dual_level(self.level)


def _current(level):
    if not STATE.fw_levels:
        raise RuntimeError("forward AD needs an active level: use `with "
                           "tg.forward_ad.dual_level():`")
    return STATE.fw_levels[-1] if level is None else level


@primitive("alias", public=False)
class Alias(Function):
    """y = x (a view): the primal side of a dual tensor; dy/dx = identity."""

    view = True

    @staticmethod
    def forward(ctx, x):
        """A view of ``x`` (no copy)."""
        return x.view()

    @staticmethod
    def vjp(ctx, g):
        """The identity: the cotangent ``g`` goes to ``x`` unchanged."""
        return g

    jvp = linear_jvp


def make_dual(tensor, tangent, *, level=None):
    """A view of ``tensor`` that carries ``tangent`` at the current (or given) level.
    Gradients flow back to ``tensor`` as usual."""
    level = _current(level)
    if not isinstance(tangent, Tensor):
        tangent = Tensor(tangent)
    if not backend.is_floating(tensor.dtype):
        raise TypeError(f"make_dual: the primal must be floating, got {tensor.dtype}")
    if tangent.shape != tensor.shape:
        raise ValueError(f"make_dual: the tangent has shape {list(tangent.shape)} but the primal "
                         f"has shape {list(tensor.shape)}; they must be equal")
    if tangent.dtype != tensor.dtype:
        tangent = tangent.to(tensor.dtype)
    out = Alias.apply(tensor)
    fw = dict(tensor._fw or {})
    fw[level] = tangent
    out._fw = fw
    return out


def unpack_dual(tensor, *, level=None):
    """(primal, tangent) of a dual tensor; the tangent is None if it has none at the level."""
    if not STATE.fw_levels:
        return UnpackedDualTensor(tensor, None)
    level = _current(level)
    tangent = (tensor._fw or {}).get(level)
    primal = Alias.apply(tensor)
    if tensor._fw:
        rest = {k: v for k, v in tensor._fw.items() if k != level}
        primal._fw = rest or None
    return UnpackedDualTensor(primal, tangent)


# -- the seed's form: DualTensor and ForwardADContext -------------------------------------------
class DualTensor:
    """A value and its tangent (derivative along one direction), as in TenfloweRS."""

    def __init__(self, value, tangent=None):
        self._value = value if isinstance(value, Tensor) else Tensor(value)
        if tangent is None:
            tangent = zeros_like(self._value)
        self._tangent = tangent if isinstance(tangent, Tensor) else Tensor(tangent)

    def value(self):
        """The primal value (a Tensor)."""
        return self._value

    def tangent(self):
        """The tangent: the derivative of the value along the chosen direction (a Tensor of the
        value's shape).
        """
        return self._tangent

    def __repr__(self):
        return f"DualTensor(value={self._value!r}, tangent={self._tangent!r})"


class ForwardADContext:
    """Runs any tapegrad op on DualTensors: ``ctx.sin(x)``, ``ctx.mul(a, b)``, ..., each
    returning a DualTensor of the result and its tangent."""

    def __getattr__(self, name):
        from .core.registry import OPS
        info = OPS.get(name)
        if info is None:
            raise AttributeError(f"ForwardADContext: no op named '{name}'")

        def run(*args, **kwargs):
            with dual_level():
                args = [make_dual(a.value(), a.tangent()) if isinstance(a, DualTensor) else a
                        for a in args]
                out = info.fn(*args, **kwargs)
                primal, tangent = unpack_dual(out)
            return DualTensor(primal, tangent)
        run.__name__ = name
        return run
