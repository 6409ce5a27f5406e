"""PyTorch's autocast op policy (torch 2.13, aten/src/ATen/autocast_mode.{h,cpp}), by
tapegrad op name, for each device type.

Categories: ``LOWER`` ops run in the autocast dtype (float16/bfloat16), ``FP32`` ops run in
float32, ``PROMOTE`` ops run in the widest floating dtype of their inputs, ``BANNED`` ops
raise under autocast (CUDA's binary_cross_entropy). Every other op runs in its inputs'
dtype, and tapegrad promotes mixed inputs of those to the widest, as PyTorch's kernels do.
Only floating tensors of the autocast's device type are cast, and float64 never is.
Names are registry names (``tg.core.registry.OPS``): a public primitive (``exp``) or a
composite (``linear``); PyTorch ops tapegrad lacks are left out. A category may be a
function of the op's ``(args, kwargs)`` returning one (or None).

A composite's body runs with autocast off (PyTorch computes most ops in one kernel that
autocast does not enter), so PyTorch ops that are compositions of listed ops get the
category their result has in PyTorch: on the CPU, einsum, tensordot and inner are
compositions of bmm, and the RNN cells of linear, so they are LOWER here (CUDA lists them).
``COMPOSED`` ops are compositions of listed ops in both libraries: their bodies run under
autocast, each inner op cast by its own category (matrix_power: inverse in float32, the
products in the low dtype).
"""
LOWER, FP32, PROMOTE, BANNED = "lower", "fp32", "promote", "banned"
COMPOSED = "composed"   # not cast; the body runs under autocast (see below)

#: ops both CPU and CUDA run in the low dtype
_LOWER_BOTH = ("conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "bmm", "mm",
               "baddbmm", "addmm", "addbmm", "linear", "matmul", "prelu",
               "scaled_dot_product_attention")

#: CUDA's (and XPU's) lists: AT_FORALL_LOWER_PRECISION_FP, AT_FORALL_FP32,
#: AT_FORALL_FP32_SET_OPT_DTYPE and norm's fp32_append_dtype, AT_FORALL_PROMOTE
_CUDA_LOWER = _LOWER_BOTH + ("addmv", "addr", "einsum", "mv", "linalg.multi_dot",
                             "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell")
_CUDA_FP32 = ("acos", "asin", "cosh", "erfinv", "exp", "expm1", "log", "log10", "log2",
              "log1p", "reciprocal", "rsqrt", "sinh", "tan", "pow", "softplus", "layer_norm",
              "group_norm", "norm", "cosine_similarity", "poisson_nll_loss",
              "cosine_embedding_loss", "nll_loss", "hinge_embedding_loss", "kl_div",
              "l1_loss", "smooth_l1_loss", "huber_loss", "mse_loss", "margin_ranking_loss",
              "triplet_margin_loss", "multi_margin_loss", "binary_cross_entropy_with_logits",
              "cdist", "logsumexp",
              # fp32_set_opt_dtype
              "prod", "softmax", "log_softmax", "cumprod", "cumsum", "linalg.vector_norm",
              "linalg.matrix_norm", "sum",
              # composite in PyTorch of log_softmax and nll_loss, both fp32 there
              "cross_entropy")
_CUDA_PROMOTE = ("addcdiv", "addcmul", "atan2", "bilinear", "cross", "dot", "index_put",
                 "tensordot", "scatter_add")

#: CPU's lists (AutocastCPU in autocast_mode.cpp)
_CPU_FP32 = ("binary_cross_entropy", "prod", "quantile", "nanquantile", "cdist", "trace",
             "cholesky", "inverse", "pinverse", "adaptive_avg_pool3d", "mse_loss",
             "cosine_embedding_loss", "nll_loss", "hinge_embedding_loss", "poisson_nll_loss",
             "smooth_l1_loss", "cross_entropy", "l1_loss", "huber_loss",
             "margin_ranking_loss", "triplet_margin_loss", "multi_margin_loss", "kl_div",
             "binary_cross_entropy_with_logits", "linalg.solve", "linalg.cholesky",
             "linalg.svdvals", "linalg.eigvalsh", "qr", "svd", "linalg.qr", "linalg.svd",
             "linalg.eigh", "linalg.lstsq")
_CPU_PROMOTE = ("stack", "cat", "index_copy")


def _einsum(args, kwargs):
    """LOWER when operands are contracted (PyTorch then calls bmm), else the inputs' dtype:
    one operand, or an outer or elementwise product, is no bmm."""
    eq, ops = (args[0], args[1:]) if args else (kwargs.get("equation"), ())
    if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
        ops = ops[0]
    if not isinstance(eq, str) or len(ops) < 2:
        return None
    eq = eq.replace(" ", "").replace(".", "")
    lhs, arrow, out = eq.partition("->")
    letters = lhs.replace(",", "")
    if not arrow:
        out = "".join(c for c in letters if letters.count(c) == 1)
    return LOWER if set(letters) - set(out) else None


def _inner(args, kwargs):
    """LOWER when a matrix is involved (a tensordot, so a mm); vectors take dot, scalars
    mul: their inputs' dtype."""
    dims = [getattr(a, "ndim", 0) for a in args[:2]]
    return LOWER if len(dims) == 2 and min(dims) >= 1 and max(dims) >= 2 else None


def _matrix_power(args, kwargs):
    """COMPOSED for |n| >= 2 (products, of the inverse for n < 0); n in (-1, 0, 1) is an
    inverse or a copy: the inputs' dtype."""
    n = args[1] if len(args) > 1 else kwargs.get("n", 0)
    return COMPOSED if isinstance(n, int) and abs(n) >= 2 else None


#: compositions of LOWER ops in PyTorch (see the module docstring); a function decides
#: from the arguments where PyTorch's composition depends on them
_CPU_COMPOSED = {"tensordot": LOWER, "rnn_tanh_cell": LOWER, "rnn_relu_cell": LOWER,
                 "einsum": _einsum, "inner": _inner, "matrix_power": _matrix_power,
                 "linalg.multi_dot": COMPOSED, "linalg.pinv": COMPOSED}


def _table(*groups):
    table = {}
    for names, category in groups:
        table.update(dict.fromkeys(names, category))
    return table


#: device type -> {op name: category}
POLICIES = {
    "cpu": {**_table((_LOWER_BOTH, LOWER), (_CPU_FP32, FP32), (_CPU_PROMOTE, PROMOTE)),
            **_CPU_COMPOSED},
    "cuda": _table((_CUDA_LOWER, LOWER), (_CUDA_FP32, FP32), (_CUDA_PROMOTE, PROMOTE),
                   (("binary_cross_entropy",), BANNED)),
}

#: the dtype each device type's autocast uses when none is given (PyTorch's)
DEFAULT_DTYPE = {"cpu": "bfloat16", "cuda": "float16"}

BANNED_MESSAGE = (
    "{op}: binary_cross_entropy (and nn.BCELoss) is unsafe to autocast on CUDA: many models "
    "put a sigmoid right before it, which float16 rounds to exactly 0 or 1. Combine the two "
    "with binary_cross_entropy_with_logits (nn.BCEWithLogitsLoss), which is safe to autocast.")
