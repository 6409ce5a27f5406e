"""The op registry: every public op by name, with its samples for the tests and its docs for
the op table. ``@primitive`` and ``@composite`` register an op, create ``tg.<name>`` and bind
the Tensor method and operators, so the core never imports the ops.
"""
from . import function
from .function import apply


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
    """Function decorator: register a composite op (its gradients come from primitives)."""
    def deco(fn):
        return register(name, fn, None, method, samples, aliases, dunders, rdunders)
    return deco


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
