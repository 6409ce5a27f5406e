"""``tg.special``: special functions by ``torch.special``'s names (erf, erfinv, gammaln,
digamma/psi, polygamma, multigammaln, i0/i0e/i1/i1e, ndtr/ndtri/log_ndtr, entr, erfcx,
expit/logit, xlogy/xlog1py, logsumexp/softmax/log_softmax, ...).

Each function is the op registered in ``tapegrad/ops`` (defined once there, forwards from
scipy.special); this module only gives them their ``torch.special`` names.
"""
from .core.registry import OPS


def _op(name):
    return OPS[name].fn


erf, erfc, erfinv = _op("erf"), _op("erfc"), _op("erfinv")
erfcx = _op("special.erfcx")
ndtr, ndtri, log_ndtr = _op("special.ndtr"), _op("special.ndtri"), _op("special.log_ndtr")
gammaln = _op("lgamma")
digamma = psi = _op("digamma")
polygamma = _op("polygamma")
i0 = _op("i0")
i0e, i1, i1e = _op("special.i0e"), _op("special.i1"), _op("special.i1e")
entr = _op("special.entr")
expit = _op("sigmoid")
logit = _op("logit")
xlogy, xlog1py = _op("xlogy"), _op("special.xlog1py")
exp2, expm1, log1p = _op("exp2"), _op("expm1"), _op("log1p")
sinc, round = _op("sinc"), _op("round")
logsumexp = _op("logsumexp")
softmax, log_softmax = _op("softmax"), _op("log_softmax")


def multigammaln(input, p):
    """The multivariate log-gamma of dimension p (``tg.mvlgamma``)."""
    return OPS["mvlgamma"].fn(input, p)


__all__ = ["erf", "erfc", "erfinv", "erfcx", "ndtr", "ndtri", "log_ndtr", "gammaln", "digamma",
           "psi", "polygamma", "multigammaln", "i0", "i0e", "i1", "i1e", "entr", "expit",
           "logit", "xlogy", "xlog1py", "exp2", "expm1", "log1p", "sinc", "round",
           "logsumexp", "softmax", "log_softmax"]
