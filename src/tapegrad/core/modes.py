"""Grad modes: one thread-local state that the recorder reads and nothing else.

Every thread starts with grad mode on, no tape recording and anomaly mode off,
whatever another thread (or import-time code) set.
"""
import functools
import threading


_WATCHERS = ("tapes", "anomaly", "fw_levels", "ckpt", "profile", "vmap", "trace", "autocast")


def _watcher(name):
    """A state attribute that, when set, refreshes ``special`` (so the recorder checks one
    flag, not six, on its fast path)."""
    key = "_" + name

    def get(self):
        return getattr(self, key)

    def set(self, value):
        setattr(self, key, value)
        self.special = any(getattr(self, "_" + w) not in (None, False, 0, ()) for w in _WATCHERS)
    return property(get, set)


class _State(threading.local):
    grad_enabled = True   # class attributes are each new thread's defaults
    special = False       # any of the watchers below is active
    _tapes = ()           # GradientTapes recording in this thread
    _anomaly = False      # detect_anomaly() is active
    _fw_levels = ()       # active forward-mode AD levels, outermost first
    _ckpt = None          # the checkpoint segment recording now
    _profile = None       # the active autograd profiler
    _vmap = 0             # batch size of the active vmap (0: none)
    _trace = None         # the tracer capturing ops into a graph (tg.compile, tg.Graph)
    _autocast = None      # tg.autocast's state (tapegrad.amp.autocast_mode.Region)
    # True while the engine runs a VJP rule on plain arrays (Function.array_vjp, in a
    # first-order pass): ctx.inputs and ctx.output are arrays and the ops the rule calls
    # take and return arrays. ``special`` is set with it, so those calls leave the
    # recorder's fast path at its first test
    arrays = False
    tapes, anomaly, fw_levels, ckpt, profile, vmap, trace, autocast = map(_watcher, _WATCHERS)


STATE = _State()


def is_grad_enabled():
    """True when ops run now are recorded for differentiation."""
    return STATE.grad_enabled


class _ModeContext:
    """Base for context managers that also work as decorators (with or without ())."""

    def __new__(cls, func=None, *args, **kwargs):
        self = super().__new__(cls)
        if callable(func) and not args and not kwargs and cls._bare_decorator:
            self.__init__()
            return self(func)
        return self

    _bare_decorator = True

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.__class__(*self._args()):
                return func(*args, **kwargs)
        return wrapper

    def _args(self):
        return ()


class no_grad(_ModeContext):
    """Context manager / decorator: ops inside are not recorded."""

    def __enter__(self):
        self._prev = STATE.grad_enabled
        STATE.grad_enabled = False

    def __exit__(self, *exc):
        STATE.grad_enabled = self._prev


class enable_grad(_ModeContext):
    """Context manager / decorator: ops inside are recorded (undoes an outer no_grad)."""

    def __enter__(self):
        self._prev = STATE.grad_enabled
        STATE.grad_enabled = True

    def __exit__(self, *exc):
        STATE.grad_enabled = self._prev


class set_grad_enabled(_ModeContext):
    """``set_grad_enabled(mode)`` switches grad mode now; used with ``with`` it restores the
    previous mode on exit. Also usable as a decorator: ``@set_grad_enabled(False)``."""

    _bare_decorator = False

    def __init__(self, mode=True):
        self.mode = bool(mode)
        self._prev = STATE.grad_enabled
        STATE.grad_enabled = self.mode

    def _args(self):
        return (self.mode,)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        STATE.grad_enabled = self._prev

    def __call__(self, func):
        STATE.grad_enabled = self._prev  # used as a decorator: don't switch at definition time
        return super().__call__(func)


inference_mode = no_grad
