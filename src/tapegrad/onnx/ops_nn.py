"""Converters for the network ops: linear (Gemm, MatMul), convolutions (Conv, ConvTranspose),
pooling (MaxPool, AveragePool), attention (MatMul, masks, Softmax) and the recurrent scan.

The recurrent scan becomes ONNX's own LSTM, GRU or RNN node, one per layer and direction,
as tapegrad's ``rnn_scan`` is one op per layer and direction: the sequence length and the
batch stay dynamic (an unrolled loop would bake in the length), and runtimes have fast
kernels for these nodes. The gates are reordered (PyTorch's i, f, g, o is ONNX's i, o, f, c;
r, z, n is z, r, h). The scan receives the input projection already made; when it comes
from a ``linear`` of the layer input (as nn.LSTM/GRU/RNN make it), the node takes that input
and W_ih directly, otherwise the projection with an identity W.
"""
from .. import backend
from ..graph.ir import Lit
from ._capture import Sym
from ._convert import Call, converts

xp = backend.xp


def _weight_t(c, k):
    """Argument k (a weight (N, K)) transposed: a folded initializer when it is known."""
    return c.derived(k, "T", lambda w: w.T) or c.node("Transpose", [c.x(k)], perm=[1, 0])


@converts("linear_op")
def linear(c):
    """Gemm for a 2-d input, else MatMul with W^T and Add."""
    dt = c.out_dtype
    x = c.arg(0, dt)
    bias = c.n_args > 2 and not (c.is_lit(2) and c.lit(2) is None)
    if len(c.shape(0)) == 2:
        ins = [x, c.x(1)] + ([c.x(2)] if bias else [])
        return c.node("Gemm", ins, transB=1)
    out = c.node("MatMul", [x, _weight_t(c, 1)])
    return c.node("Add", [out, c.x(2)]) if bias else out


@converts("matmul")
def matmul(c):
    """MatMul (NumPy's rules, as ONNX's)."""
    return c.node("MatMul", [c.arg(0, c.out_dtype), c.arg(1, c.out_dtype)])


def _pads(pad):
    (t, b), (l, r) = pad
    return [t, l, b, r]


@converts("conv2d_op")
def conv2d(c):
    """Conv with explicit pads, strides, dilations and groups."""
    ins = [c.x(0), c.x(1)]
    if not (c.is_lit(2) and c.lit(2) is None):
        ins.append(c.x(2))
    return c.node("Conv", ins, strides=list(c.param("stride")), pads=_pads(c.param("pad")),
                  dilations=list(c.param("dilation")), group=c.param("groups"),
                  kernel_shape=list(c.shape(1)[2:]))


@converts("conv2d_input_grad", dynamic=("x_shape",))
def conv_transpose2d(c):
    """The transposed convolution; output_padding from the traced input and output sizes."""
    s, d, pad = c.param("stride"), c.param("dilation"), c.param("pad")
    ins = [_value(n) for n in c.shape(0)[2:]]
    outs = [_value(n) for n in c.out_shape[2:]]
    ks = c.shape(1)[2:]
    extra = [o - ((i - 1) * st + dl * (k - 1) + 1 - p[0] - p[1])
             for i, o, st, dl, k, p in zip(ins, outs, s, d, ks, pad)]
    return c.node("ConvTranspose", [c.x(0), c.x(1)], strides=list(s), pads=_pads(pad),
                  dilations=list(d), group=c.param("groups"), kernel_shape=list(ks),
                  output_padding=extra)


def _value(n):
    return n.value if isinstance(n, Sym) else n


def _pool_attrs(c, geo):
    """Kernel, strides, pads and dilations; tapegrad's geometry pads the end so that the
    last (ceil-mode) window lies inside, which ONNX's floor rule then reproduces."""
    size = [_value(n) for n in c.shape(0)[2:]]
    pads = _pads(geo["pad"])
    for n, k, s, d, (a, z), o in zip(size, geo["kernel"], geo["stride"], geo["dilation"],
                                     geo["pad"], geo["out"]):
        if (n + a + z - d * (k - 1) - 1) // s + 1 != _value(o):
            raise c.unsupported(f"a pooling window layout ONNX can't express ({geo})")
    return dict(kernel_shape=list(geo["kernel"]), strides=list(geo["stride"]), pads=pads)


@converts("max_pool2d_op", dynamic=("geo",))
def max_pool2d(c):
    """MaxPool with tapegrad's padding (ceil mode included)."""
    geo = c.param("geo")
    return c.node("MaxPool", [c.x(0)], dilations=list(geo["dilation"]), **_pool_attrs(c, geo))


@converts("sum_pool2d", dynamic=("geo",))
def sum_pool2d(c):
    """The window sums: ReduceSum when one window covers the input, else AveragePool
    (counting the zero padding) times the window size."""
    geo = c.param("geo")
    size = tuple(c.shape(0)[2:])
    if tuple(geo["kernel"]) == size and _pads(geo["pad"]) == [0] * 4:
        return c.b.reduce("ReduceSum", c.x(0), [2, 3], True)
    dil = list(geo["dilation"])
    if dil != [1, 1] and c.b.opset < 19:
        raise c.unsupported("dilated average pooling (AveragePool's dilations need opset 19)")
    avg = c.node("AveragePool", [c.x(0)], count_include_pad=1,
                 dilations=dil if dil != [1, 1] else None, **_pool_attrs(c, geo))
    k = geo["kernel"][0] * geo["kernel"][1]
    return c.node("Mul", [avg, c.b.const(k, c.out_dtype)])


# -- attention ------------------------------------------------------------------------------
@converts("attention_weights")
def attention_weights(c):
    """softmax(q k^T * scale + mask, causal) over the last dim; with ``safe`` a row that is
    masked everywhere gives zeros (eager's rule) instead of Softmax's NaN."""
    dt, b = c.out_dtype, c.b
    rank = len(c.shape(1))
    kt = c.node("Transpose", [c.x(1)], perm=list(range(rank - 2)) + [rank - 1, rank - 2])
    s = c.node("Mul", [c.node("MatMul", [c.x(0), kt]), b.const(c.param("scale"), dt)])
    neg = b.const(-xp.inf, dt)
    masked = not (c.is_lit(2) and c.lit(2) is None)
    if masked:
        s = c.node("Where", [c.x(2), s, neg]) if c.dtype(2) == backend.bool_ else \
            c.node("Add", [s, c.arg(2, dt)])
    L, S = c.shape(0)[-2], c.shape(1)[-2]
    causal = c.param("causal")
    if causal:
        s = c.node("Where", [_causal(c, L, S), s, neg])
    tight = causal and (L <= S if isinstance(L, int) and isinstance(S, int) else
                        isinstance(L, Sym) and isinstance(S, Sym) and L.poly == S.poly)
    if not c.param("safe") or not (masked or causal) or (tight and not masked):
        return c.node("Softmax", [s], axis=-1)
    m = b.reduce("ReduceMax", s, [-1], True)
    dead = c.node("Equal", [m, neg])
    e = c.node("Exp", [c.node("Sub", [s, c.node("Where", [dead, b.const(0, dt), m])])])
    z = b.reduce("ReduceSum", e, [-1], True)
    return c.node("Div", [e, c.node("Where", [dead, b.const(1, dt), z])])


def _causal(c, L, S):
    """The (L, S) lower triangle, j <= i: a constant, or Range/LessOrEqual when the lengths
    follow the dynamic axes."""
    b = c.b
    if isinstance(L, int) and isinstance(S, int):
        return b.const(xp.tri(L, S, dtype=bool), backend.bool_)
    zero, one = b.const(0, backend.int64), b.const(1, backend.int64)
    rows = b.unsqueeze(c.node("Range", [zero, b.scalar_int(L, backend.int64), one]), [1])
    cols = b.unsqueeze(c.node("Range", [zero, b.scalar_int(S, backend.int64), one]), [0])
    return c.node("LessOrEqual", [cols, rows])


# -- the recurrent scan ---------------------------------------------------------------------
_GATES = {"LSTM": ("LSTM", [0, 3, 1, 2]), "GRU": ("GRU", [1, 0, 2]),
          "RNN_TANH": ("RNN", [0]), "RNN_RELU": ("RNN", [0])}


@converts("rnn_scan")
def rnn_scan(c):
    """One layer and direction: ONNX's LSTM/GRU/RNN node; the output as tapegrad's (the
    states (T, B, H), for LSTM flattened and followed by the final c flattened)."""
    mode, p = c.param("mode"), c.params
    if p.get("batch_sizes") is not None:
        raise c.unsupported("packed sequences (pack_padded_sequence): ONNX's recurrent nodes "
                            "take sequence lengths instead; export the padded batch")
    if not (c.is_lit(5) and c.lit(5) is None):
        raise c.unsupported("an LSTM with proj_size (ONNX's LSTM has no projection)")
    b = c.b
    op_type, blocks = _GATES[mode]
    hidden = c.shape(3)[1]
    g = len(blocks) * hidden
    perm = [blk * hidden + j for blk in blocks for j in range(hidden)]
    x, w, wb = _input_projection(c, perm, g)
    r = b.unsqueeze(_rows(c, 3, perm), [0])
    rb = _rows(c, 4, perm) if mode == "GRU" else b.const(xp.zeros(g), c.out_dtype)
    bias = b.unsqueeze(c.node("Concat", [wb, rb], axis=0), [0])
    h0 = b.unsqueeze(c.x(1), [0])
    ins = [x, w, r, bias, "", h0] + ([b.unsqueeze(c.x(2), [0])] if mode == "LSTM" else [])
    attrs = dict(hidden_size=hidden, direction="reverse" if p["reverse"] else "forward")
    if mode == "GRU":
        attrs["linear_before_reset"] = 1
    if mode == "RNN_RELU":
        attrs["activations"] = ["Relu"]
    outs = c.node(op_type, ins, outputs=3 if mode == "LSTM" else 2, **attrs)
    y = b.squeeze(outs[0], [1])
    if mode != "LSTM":
        return y
    flat = [c.node("Reshape", [v, b.ints([-1])]) for v in (y, outs[2])]
    return c.node("Concat", flat, axis=0)


def _rows(c, k, perm):
    """Argument k's rows (gate blocks) in ONNX's order."""
    return c.derived(k, "onnx_gates", lambda w: w[perm]) or \
        c.node("Gather", [c.x(k), c.b.ints(perm)], axis=0)


def _input_projection(c, perm, g):
    """(X, W [1, G, I], Wb [G]): the layer input and W_ih when the projection is a linear of
    it (maybe batch-first, then permuted), else the projection itself with an identity W."""
    made = c.conv.producers
    src = made.get(c.vid(0))
    swap = src is not None and src.name == "permute" and tuple(src.params["dims"]) == (1, 0, 2)
    lin = made.get(src.args[0]) if swap else src
    if lin is not None and lin.name == "linear_op" and \
            len(c.conv.prog.values[lin.args[0]].shape) == 3:
        sub = Call(c.conv, c.conv.at[lin.out], lin)
        x = c.conv.names[lin.args[0]]
        if swap:
            x = c.node("Transpose", [x], perm=[1, 0, 2])
        w = c.b.unsqueeze(_rows(sub, 1, perm), [0])
        has_b = len(lin.args) > 2 and type(lin.args[2]) is not Lit
        wb = _rows(sub, 2, perm) if has_b else c.b.const(xp.zeros(g), c.out_dtype)
        return x, w, wb
    eye = xp.eye(g, dtype=c.out_dtype)[perm]
    return c.x(0), c.b.initializer(eye[None], "rnn_gate_order"), \
        c.b.const(xp.zeros(g), c.out_dtype)




# -- resampling (F.interpolate, adaptive pooling) ----------------------------------------------
@converts("resample")
def resample(c):
    """y = M x along one dim, M the (n_out, n_in) map of the mode (nearest, linear, cubic,
    area): a MatMul with M made by resampling an identity matrix (the very op, so every
    index rule is eager's)."""
    from ..ops.resample import Resample
    from ..core.tensor import _make
    axis, n_in = c.param("axis"), c.shape(0)[c.param("axis")]
    if isinstance(n_in, Sym):
        raise c.unsupported("resampling along a dynamic axis (its map depends on the size)")
    eye = _make(xp.eye(n_in, dtype=c.out_dtype))
    m = backend.to_host(Resample.apply(eye, axis=-2, plan=c.param("plan"),
                                       transpose=c.param("transpose"))._data)
    rank = len(c.shape(0))
    d = axis % rank
    if d == rank - 2:
        return c.node("MatMul", [c.b.initializer(m, "resample_map"), c.x(0)])
    x = c.x(0)
    perm = [j for j in range(rank) if j != d] + [d]
    if d != rank - 1:
        x = c.node("Transpose", [x], perm=perm)
    y = c.node("MatMul", [x, c.b.initializer(xp.ascontiguousarray(m.T), "resample_map")])
    if d == rank - 1:
        return y
    back = sorted(range(rank), key=perm.__getitem__)
    return c.node("Transpose", [y], perm=back)
