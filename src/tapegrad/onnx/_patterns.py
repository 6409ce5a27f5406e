"""Fusions: runs of traced primitives that one ONNX op computes.

The composites layer_norm, softmax and log_softmax record their arithmetic (sum, div, sub,
pow...); the graph gets LayerNormalization (opset 17 and later), Softmax and LogSoftmax
instead. A run is matched backwards from its last op; its inner ops are converted as usual
too and pruned when nothing else reads them, so a partial match costs nothing in the file.
"""
from ..graph.ir import Lit
from ._capture import Sym


class _Match:
    def __init__(self, conv):
        self.conv = conv

    def made(self, v, name):
        """The op named ``name`` that made value ``v``, or None."""
        op = self.conv.producers.get(v) if type(v) is int else None
        return op if op is not None and op.name == name else None

    def lit(self, op, k):
        """Op ``op``'s number argument k (None unless it is a plain number)."""
        a = op.args[k] if op is not None and len(op.args) > k else None
        if type(a) is not Lit or ("arg", self.conv.at[op.out], k) in self.conv.cap.syms:
            return None
        return a.value

    def shape(self, v):
        """Value ``v``'s shape (ints and Syms), or None for a number."""
        return self.conv.cap.shape(v) if type(v) is int else None


def fuse(conv, op):
    """The ONNX name of ``op``'s result computed by one fused op, or None."""
    m = _Match(conv)
    for f in (_layer_norm, _softmax, _log_softmax):
        out = f(m, op)
        if out is not None:
            return out
    return None


def _reduced(m, op, x, keep=True):
    """The dims ``op`` (a sum/amax/max_shift) reduces of ``x``, or None."""
    if op is None or op.args[0] != x or op.params.get("keepdim", True) is not keep:
        return None
    dims = op.params.get("dims")
    return tuple(dims) if isinstance(dims, (tuple, list)) else None


def _core(m, mul):
    """(x, k, eps) when ``mul`` is (x - mean) * (var + eps) ** -0.5 over x's last k dims."""
    if mul is None or mul.name != "mul":
        return None
    d, rstd = mul.args
    p = m.made(rstd, "pow")
    a = m.made(p.args[0], "add") if p is not None and m.lit(p, 1) == -0.5 else None
    eps = m.lit(a, 1)
    var = m.made(a.args[0], "div") if isinstance(eps, float) else None
    s2 = m.made(var.args[0], "sum") if var is not None else None
    sq = m.made(s2.args[0], "mul") if s2 is not None else None
    sub = m.made(d, "sub")
    if sq is None or sq.args != [d, d] or sub is None:
        return None
    x = sub.args[0]
    mean = m.made(sub.args[1], "div")
    s1 = m.made(mean.args[0], "sum") if mean is not None else None
    shape = m.shape(x)
    dims = _reduced(m, s1, x)
    if shape is None or dims is None or _reduced(m, s2, sq.out) != dims:
        return None
    k = len(dims)
    n = 1
    for s in shape[len(shape) - k:]:
        n = None if isinstance(s, Sym) or n is None else n * s
    if dims != tuple(range(len(shape) - k, len(shape))) or n is None or \
            m.lit(var, 1) != n or m.lit(mean, 1) != n:
        return None
    return x, k, eps


def _layer_norm(m, op):
    """y = core * weight + bias (each optional) -> LayerNormalization."""
    b = m.conv.b
    if b.opset < 17 or op.name not in ("mul", "add"):
        return None
    tries = []
    inner = m.made(op.args[0], "mul")
    if op.name == "add":
        tries += [(m.made(inner.args[0], "mul") if inner else None,
                   inner.args[1] if inner else None, op.args[1]), (inner, None, op.args[1])]
    else:
        tries += [(op, None, None), (inner, op.args[1], None)]
    for mul, w, bias in tries:
        found = _core(m, mul)
        if found is None:
            continue
        x, k, eps = found
        ns = m.shape(x)[-k:]
        if any(v is not None and (type(v) is not int or m.shape(v) != ns) for v in (w, bias)):
            continue
        dt = m.conv.prog.values[op.out].dtype
        if m.conv.prog.values[x].dtype != dt:
            continue
        names = m.conv.names
        scale = names[w] if w is not None else b.const(_ones(ns), dt)
        ins = [names[x], scale] + ([names[bias]] if bias is not None else [])
        return b.node("LayerNormalization", ins, axis=-k, epsilon=eps)
    return None


def _ones(shape):
    from .. import backend
    return backend.xp.ones(shape)


def _softmax(m, op):
    """exp(x - amax(x)) / sum(...) over one dim -> Softmax."""
    if op.name != "div":
        return None
    e = m.made(op.args[0], "exp")
    s = m.made(op.args[1], "sum")
    z = m.made(e.args[0], "sub") if e is not None else None
    if z is None or s is None or s.args[0] != e.out:
        return None
    return _over_one_dim(m, z, "amax", e, s, "Softmax")


def _log_softmax(m, op):
    """z - log(sum(exp(z))) with z = x - max_shift(x) over one dim -> LogSoftmax."""
    if op.name != "sub":
        return None
    z = m.made(op.args[0], "sub")
    lg = m.made(op.args[1], "log")
    s = m.made(lg.args[0], "sum") if lg is not None else None
    e = m.made(s.args[0], "exp") if s is not None else None
    if z is None or e is None or e.args[0] != z.out:
        return None
    return _over_one_dim(m, z, "max_shift", e, s, "LogSoftmax")


def _over_one_dim(m, z, shift, e, s, op_type):
    """``op_type`` of x when z = x - shift(x) and the sum s of e = exp(z) reduce one dim."""
    dims = _reduced(m, m.made(z.args[1], shift), z.args[0])
    if dims is None or len(dims) != 1 or _reduced(m, s, e.out) != dims:
        return None
    return m.conv.b.node(op_type, [m.conv.names[z.args[0]]], axis=dims[0])
