"""Every op, each defined once. Importing this package binds the ops onto Tensor."""
from ..core.registry import OPS
from . import (_util, elementwise, math, special, shape, index, pad, reduce,  # noqa: F401
               products, vector_norm, linalg, diag, solve, nn, activation, conv, pool, norm,
               loss, cross_entropy, nnfunc, inplace, sorting, extra, methods,
               spatial, norm_extra, pool_adaptive, conv_transpose1d, dropout_channel,
               margin_loss, likelihood_loss, attention,
               gamma, binary, layout, scatter, counting, sampling,
               decomp, svd, matops, resample, interpolate)
from . import rnn_cell  # noqa: F401,E402  (recurrent cells; rnn_scan)

globals().update({name: info.fn for name, info in OPS.items()})
for _info in list(OPS.values()):
    for _alias in _info.aliases:
        globals()[_alias] = _info.fn
from ._util import sum_to  # noqa: E402,F401

__all__ = sorted(set(OPS) | {a for i in OPS.values() for a in i.aliases})
