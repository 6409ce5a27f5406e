"""The op registry: every public op by name, with its samples for the tests and its docs for
the op table. ``@primitive`` and ``@composite`` register an op, create ``tg.<name>`` and bind
the Tensor method and operators, so the core never imports the ops.
"""
import functools
import re

from . import function
from .errors import ShapeError, OP_PREFIX, argument_error
from .function import apply
from .modes import STATE


class OpInfo:
    """What the registry knows of one public op (tests and the README table read it)."""

    def __init__(self, name, fn, primitive, method, samples, aliases, doc):
        self.name, self.fn, self.primitive, self.method = name, fn, primitive, method
        self.samples, self.aliases, self.doc = samples, aliases, doc

    @property
    def kind(self):
        return "primitive" if self.primitive is not None else "composite"


OPS = {}


def register(name, fn, primitive=None, method=False, samples=None, aliases=(), dunders=(),
             rdunders=(), doc=None):
    """Register op ``fn`` under ``name``: record its OpInfo (docstring, samples, kind) and bind
    it as the Tensor method ``name`` and its aliases (when ``method``), and as the operator
    ``dunders`` (``__add__``) and reflected ``rdunders`` (``__radd__``). The method is ``fn``
    itself, so ``Tensor.<name>`` shows the op's docstring.

    Returns:
        ``fn``, renamed ``name``.
    """
    OPS[name] = OpInfo(name, fn, primitive, method, samples, aliases,
                       doc or (primitive or fn).__doc__)
    fn.__name__ = name
    fn.__qualname__ = name
    names = (name,) + tuple(aliases)
    if method:
        for n in names:
            setattr(function.Tensor, n, fn)
    for d in dunders:
        setattr(function.Tensor, d, fn)
    for d in rdunders:
        setattr(function.Tensor, d, _reflected(fn, d))
    return fn


def _reflected(fn, dunder):
    def r(self, other):
        return fn(other, self)
    r.__name__ = dunder
    r.__doc__ = f"Reflected ``{fn.__name__}``: ``x.{dunder}(y)`` is ``{fn.__name__}(y, x)``."
    return r


def primitive(name, method=False, samples=None, aliases=(), dunders=(), rdunders=(),
              public=True):
    """Class decorator: name a Function, register it, expose ``tg.<name>`` (and the method)."""
    def deco(cls):
        cls.name = name
        if public:
            def fn(*args, **params):
                return apply(cls, args, params)
            fn.__doc__ = cls.__doc__
            register(name, fn, cls, method, samples, aliases, dunders, rdunders)
        return cls
    return deco


def composite(name, method=False, samples=None, aliases=(), dunders=(), rdunders=()):
    """Function decorator: register a composite op (its gradients come from primitives).
    An error raised by an op it calls names the composite, the op the user called
    (``softmax: dimension out of range``, not ``amax: ...``)."""
    def deco(fn):
        return register(name, _named_errors(fn, name), None, method, samples, aliases,
                        dunders, rdunders)
    return deco


_RENAMED = (IndexError, TypeError, ValueError, RuntimeError, NotImplementedError, ShapeError)
_CAUGHT = _RENAMED + (AttributeError,)   # AttributeError: "'str' object has no attribute"


def _named_errors(fn, name):
    """``fn`` whose errors name ``name``, the op the user called: tapegrad's own ("op:
    message") with ``name`` for the op they name; those in Python's or NumPy's words caused
    by an argument holding no numbers (``softmax("a")``) as a TypeError naming ``name`` and
    the argument; others that name no op (a helper's: "tapegrad tensors hold numbers...")
    with ``name(): `` in front."""
    @functools.wraps(fn)
    def op(*args, **kwargs):
        try:
            if STATE.special and STATE.autocast is not None:   # tg.autocast's policy
                return function.autocast_composite(name, fn, args, kwargs)
            return fn(*args, **kwargs)
        except _CAUGHT as e:
            renamed = argument_error(name, fn, args, kwargs, e)
            if renamed is e:
                renamed = _renamed(e, name)
            if renamed is e:
                raise
            raise renamed from None
    return op


def _renamed(e, name):
    """``e`` with its leading op name replaced by ``name``, or ``name(): `` put in front of
    a message that names no op (``e`` itself when it already names ``name``, or is not one
    of the plain error types tapegrad raises)."""
    if type(e) not in _RENAMED or len(e.args) != 1 or not isinstance(e.args[0], str):
        return e
    msg = e.args[0]
    short = name.rsplit(".", 1)[-1]
    m = OP_PREFIX.match(msg)
    if m is None:
        if re.search(rf"(?<!\w){re.escape(short)}(?!\w)", msg):
            return e  # names it in its own words ("stack expects each tensor...")
        new = type(e)(f"{name}(): {msg}")
    elif m.group(1).rsplit(".", 1)[-1] == short:
        return e      # (already this op, perhaps by its namespaced name: linalg.slogdet)
    else:
        new = type(e)(f"{name}{m.group(2) or ''}: {msg[m.end():]}")
    new.__traceback__ = e.__traceback__
    return new


def elementwise_jvp(ctx, t):
    """JVP of a unary elementwise op: the Jacobian is diagonal, so it equals the VJP."""
    return ctx.fn.vjp(ctx, t)


def linear_jvp(ctx, *tangents):
    """JVP of an op linear in its inputs: the op applied to the tangents (zeros for inputs
    without one)."""
    inputs = ctx._saved or (None,) * len(tangents)
    ts = tuple(t if t is not None else
               function.zeros_like(x) if isinstance(x, function.Tensor) else 0
               for t, x in zip(tangents, inputs))
    return apply(ctx.fn, ts, ctx.params)
