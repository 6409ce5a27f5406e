"""``tg.amp.GradScaler``: loss scaling for float16 training, PyTorch's algorithm.

float16 gradients below ~6e-8 flush to zero; multiplying the loss by a large scale keeps them
representable. Before the optimizer steps, the gradients are divided by the scale; if any is
inf or NaN the step is skipped and the scale shrinks (``backoff_factor``), and after
``growth_interval`` steps in a row without one it grows (``growth_factor``).
"""
import collections
import math

from .. import backend
from ..core.modes import STATE
from ..core.tensor import Tensor

READY, UNSCALED, STEPPED = 0, 1, 2


def _new_state():
    return {"stage": READY, "found_inf": None}


class GradScaler:
    """``scaler.scale(loss).backward(); scaler.unscale_(opt)`` (optional, e.g. before
    clipping); ``scaler.step(opt)`` (skipped when a gradient is inf or NaN);
    ``scaler.update()``. ``enabled=False`` makes every method a pass-through. The scale is a
    float32 number, as PyTorch's; ``device`` only names where the scaled loss lives."""

    def __init__(self, device="cpu", init_scale=2.0 ** 16, growth_factor=2.0,
                 backoff_factor=0.5, growth_interval=2000, enabled=True):
        if growth_factor <= 1.0:
            raise ValueError(f"GradScaler: growth_factor must be > 1, got {growth_factor}")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"GradScaler: backoff_factor must be in (0, 1), got "
                             f"{backoff_factor}")
        if not isinstance(growth_interval, int) or growth_interval <= 0:
            raise ValueError(f"GradScaler: growth_interval must be a positive int, got "
                             f"{growth_interval!r}")
        self._device = str(backend.devices.resolve(device))
        self._enabled = bool(enabled)
        self._init_scale = float(init_scale)
        self._scale = _f32(init_scale)
        self._growth_factor, self._backoff_factor = float(growth_factor), float(backoff_factor)
        self._growth_interval = growth_interval
        self._growth_tracker = 0
        self._per_optimizer = collections.defaultdict(_new_state)

    def is_enabled(self):
        """Whether this scaler scales (``enabled=True``)."""
        return self._enabled

    def scale(self, outputs):
        """``outputs`` times the scale: a tensor, or tensors nested in lists and tuples."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * Tensor(backend.xp.asarray(self._scale, backend.float32)).to(
                outputs.device)
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise TypeError(f"GradScaler.scale: outputs must be a tensor or a list/tuple of "
                        f"tensors, got {type(outputs).__name__}")

    def unscale_(self, optimizer):
        """Divide ``optimizer``'s gradients by the scale in place, noting whether any is inf
        or NaN. At most once per optimizer between ``update()`` calls."""
        if not self._enabled:
            return
        _not_traced("unscale_")
        state = self._per_optimizer[id(optimizer)]
        if state["stage"] is UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since "
                               "the last update().")
        if state["stage"] is STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv = _f32(1.0 / self._scale)     # PyTorch: the reciprocal in float64, then float32
        found = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if g.dtype == backend.float16:
                    raise ValueError("Attempting to unscale FP16 gradients.")
                d = g._data
                if d.dtype == backend.bfloat16:   # multiplied in float32, then rounded
                    d[...] = (d.astype(backend.float32) * backend.float32.type(inv)).astype(
                        d.dtype)
                else:
                    d *= d.dtype.type(inv)
                found = found or not bool(backend.array_module(d).isfinite(d).all())
        state["found_inf"] = found
        state["stage"] = UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step(*args, **kwargs)`` unless a gradient is inf or NaN (gradients
        are unscaled first if ``unscale_`` was not called). Returns what step returned, or
        None when it was skipped."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is "
                               "enabled.")
        state = self._per_optimizer[id(optimizer)]
        if state["stage"] is STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is READY:
            self.unscale_(optimizer)
        result = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = STEPPED
        return result

    def update(self, new_scale=None):
        """Set the scale for the next iteration: ``new_scale`` if given, else shrink it by
        ``backoff_factor`` if this iteration found an inf/NaN, or grow it by
        ``growth_factor`` after ``growth_interval`` clean iterations in a row."""
        if not self._enabled:
            return
        if new_scale is not None:
            value = float(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
            self._scale = _f32(value)
        else:
            found = [s["found_inf"] for s in self._per_optimizer.values()
                     if s["found_inf"] is not None]
            if not found:
                raise RuntimeError("No inf checks were recorded prior to update().")
            if any(found):
                self._scale = _f32(self._scale * self._backoff_factor)
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    grown = _f32(self._scale * self._growth_factor)
                    if math.isfinite(grown):
                        self._scale = grown
                    self._growth_tracker = 0
        self._per_optimizer = collections.defaultdict(_new_state)

    def get_scale(self):
        """The current scale as a Python float (1.0 when disabled)."""
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self):
        """The factor the scale grows by."""
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        """Set the factor the scale grows by."""
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self):
        """The factor the scale shrinks by."""
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        """Set the factor the scale shrinks by."""
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self):
        """How many clean iterations in a row grow the scale."""
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        """Set how many clean iterations in a row grow the scale."""
        self._growth_interval = int(new_interval)

    def state_dict(self):
        """The scale and its schedule (an empty dict when disabled), PyTorch's keys."""
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned (a PyTorch GradScaler's too)."""
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        self._scale = _f32(float(state_dict["scale"]))
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])


def _f32(x):
    """``x`` rounded to float32, as a Python float (PyTorch keeps the scale in float32)."""
    return float(backend.xp.float32(x))


def _not_traced(what):
    if STATE.trace is not None:
        raise RuntimeError(f"GradScaler.{what}: skipping a step on an inf/NaN gradient is a "
                           f"decision on values, which tg.compile cannot replay; compile the "
                           f"forward and backward, and call the scaler outside the compiled "
                           f"function")
