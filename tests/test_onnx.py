"""tg.onnx.export: files checked with onnxruntime against tapegrad's own outputs (float32,
1e-5), each exported at batch 2 and run at batches 1 and 5 (and other sequence lengths where
the sequence axis is dynamic too); the graph's ops, names and dynamic dims; eval-mode
export of models in training mode; the keywords; errors by type and message."""
import inspect
import io
import math
import subprocess
import sys

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.onnx
from tapegrad import nn
from tapegrad.nn import functional as F

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in _flat(o)]
    return [] if out is None else [out.numpy()]


def _export(model, example, **kw):
    buf = io.BytesIO()
    tg.onnx.export(model, example, buf, dynamo=False, **kw)
    return onnx.load_from_string(buf.getvalue())


def _run(proto, *inputs):
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, {n: x.numpy() for n, x in zip(names, inputs)})


def _check(model, example, *runs, **kw):
    """Export at ``example``, run at each of ``runs`` (lists of inputs): equal to tapegrad's
    eval-mode outputs."""
    proto = _export(model, example, **kw)
    model.eval()
    for inputs in runs:
        got = _run(proto, *inputs)
        with tg.no_grad():
            want = _flat(model(*inputs))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    return proto


def _ops(proto):
    return {n.op_type for n in proto.graph.node}


def _dims(vi):
    return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]


BATCH = {"x": {0: "batch"}}


# -- the five models of issue 17 ---------------------------------------------------------------
def test_mlp():
    tg.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 16), nn.Tanh(),
                      nn.Linear(16, 3))
    p = _check(m, tg.randn(2, 4), [tg.randn(5, 4)], [tg.randn(1, 4)], input_names=["x"],
               dynamic_axes=BATCH)
    assert _ops(p) == {"Gemm", "Relu", "Tanh"}       # dropout in eval is the identity
    assert _dims(p.graph.input[0]) == ["batch", 4] and _dims(p.graph.output[0]) == ["batch", 3]
    assert {i.name for i in p.graph.initializer} == {f"{k}.{w}" for k in (0, 3, 5)
                                                     for w in ("weight", "bias")}


def test_cnn_with_batchnorm_and_pooling():
    tg.manual_seed(1)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(8, 8, 3, stride=1, groups=2), nn.BatchNorm2d(8), nn.ReLU(),
                      nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    for _ in range(3):                        # running statistics away from 0 and 1
        m(tg.randn(6, 3, 10, 10) * 2 + 1)
    m[4].eval()
    _export(m, tg.randn(2, 3, 10, 10))       # traced in eval mode; each module's mode comes back
    assert m.training and m[1].training and not m[4].training
    p = _check(m, tg.randn(2, 3, 10, 10), [tg.randn(5, 3, 10, 10)], [tg.randn(1, 3, 10, 10)],
               input_names=["x"],
               dynamic_axes=BATCH)
    assert {"Conv", "MaxPool", "AveragePool", "Gemm"} <= _ops(p)
    assert _dims(p.graph.output[0]) == ["batch", 4]


class _LSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 6, num_layers=2, batch_first=True)
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        out, (h, c) = self.lstm(x)
        return self.head(out), h, c


def test_lstm_two_layers():
    tg.manual_seed(2)
    m = _LSTM()
    p = _check(m, tg.randn(2, 7, 3), [tg.randn(5, 7, 3)], [tg.randn(1, 7, 3)], input_names=["x"],
               dynamic_axes=BATCH)
    assert [n.op_type for n in p.graph.node].count("LSTM") == 2
    assert _dims(p.graph.output[1]) == [2, "batch", 6]
    # the sequence length can be dynamic too: ONNX's LSTM node loops over it
    _check(m, tg.randn(2, 7, 3), [tg.randn(5, 4, 3)], [tg.randn(1, 9, 3)], input_names=["x"],
           dynamic_axes={"x": {0: "batch", 1: "time"}})


def test_transformer_encoder_layer():
    tg.manual_seed(3)
    m = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, batch_first=True)
    p = _check(m, tg.randn(2, 6, 16), [tg.randn(5, 6, 16)], [tg.randn(1, 6, 16)],
               input_names=["src"],
               dynamic_axes={"src": {0: "batch"}})
    assert {"LayerNormalization", "Softmax", "MatMul"} <= _ops(p)
    assert "/self_attn/MatMul" in {n.name for n in p.graph.node}      # named by module


class GPTBlock(nn.Module):
    """Token and position embeddings, causal self-attention with a tril buffer and with
    scaled_dot_product_attention, an MLP with GELU, LayerNorms, a head."""

    def __init__(self, vocab=13, block=8, c=16, heads=4):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, c), nn.Embedding(block, c)
        self.ln1, self.ln2, self.lnf = nn.LayerNorm(c), nn.LayerNorm(c), nn.LayerNorm(c)
        self.qkv, self.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
        self.fc, self.out = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.head = nn.Linear(c, vocab, bias=False)
        self.drop = nn.Dropout(0.1)
        self.heads, self.c = heads, c
        self.register_buffer("mask", tg.tril(tg.ones(block, block)).view(1, 1, block, block))

    def forward(self, idx):
        b, t = idx.size()
        c, nh = self.c, self.heads
        x = self.drop(self.wte(idx) + self.wpe(tg.arange(0, t, dtype=tg.long)))
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, nh, c // nh).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = F.softmax(att.masked_fill(self.mask[:, :, :t, :t] == 0, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        y2 = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2)
        x = x + self.proj(y) + self.proj(y2.reshape(b, t, c))
        x = x + self.out(F.gelu(self.fc(self.ln2(x))))
        return F.log_softmax(self.head(self.lnf(x)), dim=-1)


def test_gpt_block():
    tg.manual_seed(4)
    m = GPTBlock()
    p = _check(m, tg.randint(0, 13, (2, 8)), [tg.randint(0, 13, (5, 8))],
               [tg.randint(0, 13, (1, 8))], input_names=["idx"],
               dynamic_axes={"idx": {0: "batch"}})
    assert {"Gather", "LayerNormalization", "Softmax", "LogSoftmax", "Erf"} <= _ops(p)
    assert _dims(p.graph.output[0]) == ["batch", 8, 13]
    # batch and length dynamic: positions (Range), the mask slice and the causal mask follow
    p = _check(m, tg.randint(0, 13, (2, 8)), [tg.randint(0, 13, (5, 3))],
               [tg.randint(0, 13, (1, 1))], input_names=["idx"],
               dynamic_axes={"idx": {0: "batch", 1: "T"}})
    assert "Range" in _ops(p) and _dims(p.graph.output[0]) == ["batch", "T", 13]


def test_a_model_in_training_mode_exports_eval_semantics_as_pytorch():
    """training=TrainingMode.EVAL (the default, PyTorch's): dropout is the identity, BatchNorm
    uses its running statistics and updates none of them; every module's mode comes back."""
    tg.manual_seed(9)
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 2))
    m(tg.randn(8, 3) * 3 + 1)                        # running statistics away from 0 and 1
    stats = [b.numpy().copy() for b in m.buffers()]
    assert m.training
    p = _export(m, tg.randn(2, 3), input_names=["x"], dynamic_axes=BATCH)
    assert m.training and all(k.training for k in m)
    for b, s in zip(m.buffers(), stats):
        np.testing.assert_array_equal(b.numpy(), s)
    x = tg.randn(3, 3)
    with tg.no_grad():
        want = m.eval()(x).numpy()
    np.testing.assert_allclose(_run(p, x)[0], want, rtol=1e-5, atol=1e-6)
    assert "Dropout" not in _ops(p)
    m.train()
    with pytest.raises(NotImplementedError, match=r"training=PRESERVE .* model\.eval\(\)"):
        _export(m, tg.randn(2, 3), training=tapegrad.onnx.TrainingMode.PRESERVE)
    m.eval()
    _export(m, tg.randn(2, 3), training=tapegrad.onnx.TrainingMode.PRESERVE)


# -- more ops, in-place updates, indexing -----------------------------------------------------
class _Zoo(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(3, 4, 3, padding=1)
        self.ct = nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1)
        self.gru = nn.GRU(4, 5, batch_first=True)
        self.bi = nn.LSTM(4, 3, bidirectional=True, batch_first=True)
        self.rnn = nn.RNN(4, 3, nonlinearity="relu", batch_first=True)
        self.mha = nn.MultiheadAttention(4, 2, batch_first=True)

    def forward(self, x, img, pad_mask):
        seq = self.c1(x).transpose(1, 2)
        cat = tg.cat([self.gru(seq)[0], self.bi(seq)[0], self.rnn(seq)[0]], dim=-1)
        a, w = self.mha(seq, seq, seq, key_padding_mask=pad_mask)
        y = self.ct(F.max_pool2d(img, 3, stride=2, padding=1, ceil_mode=True))
        z = F.avg_pool2d(img, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        up = F.interpolate(img, scale_factor=1.5, mode="bilinear")
        r = cat.relu()
        r.add_(1)                                  # in place: the graph takes the new value
        r[:, 0] = 5.0
        return (y, z, up, F.pad(seq, (1, 2)), tg.stack([a, a * 2], 1), cat[:, ::-1, 1:5],
                cat[:, [0, 2]], cat[:, [0, 1], [2, 3]], tg.clamp(cat, -0.1, 0.2),
                tg.where(cat > 0, cat, cat * 0.1), cat.cumsum(1), cat.argmax(-1),
                cat.amax(1), cat.mean((1, 2)), w, r, F.softplus(cat), cat.sigmoid() // 0.3)


def test_many_ops_with_a_dynamic_batch():
    tg.manual_seed(5)
    mask = tg.tensor([[False] * 5, [False, False, False, True, True]])
    mask5 = tg.cat([mask, mask, mask[:1]])
    p = _check(_Zoo(), (tg.randn(2, 3, 5), tg.randn(2, 4, 7, 7), mask),
               [tg.randn(5, 3, 5), tg.randn(5, 4, 7, 7), mask5],
               [tg.randn(1, 3, 5), tg.randn(1, 4, 7, 7), mask[1:]], input_names=["x", "img", "m"],
               dynamic_axes={k: {0: "batch"} for k in ("x", "img", "m")})
    assert {"GRU", "LSTM", "RNN", "ConvTranspose", "ScatterND", "GatherND"} <= _ops(p)


class _Sizes(nn.Module):
    """Sizes of both dynamic axes in reshapes, means, factories, masks and slices."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x, lengths):
        b, t, c = x.shape
        y = self.lin(x.view(b * t, c)).view(b, t, -1)
        z = y.reshape(b, t, 2, 2).permute(0, 2, 1, 3).reshape(b * 2, t * 2)
        mask = tg.arange(t)[None, :] < lengths[:, None]
        pooled = (y * mask[..., None]).sum(1) / lengths[:, None].float()
        return z, y.mean(1) + x.sum(1) / t, tg.zeros(b, 3) + 1, pooled, y[:, -1], y[:, t - 2]


def test_sizes_that_follow_two_dynamic_axes_are_computed_in_the_graph():
    tg.manual_seed(7)
    p = _check(_Sizes(), (tg.randn(2, 6, 4), tg.tensor([3, 6])),
               [tg.randn(5, 4, 4), tg.tensor([1, 2, 3, 4, 4])],
               [tg.randn(1, 9, 4), tg.tensor([7])], input_names=["x", "n"],
               dynamic_axes={"x": {0: "B", 1: "T"}, "n": {0: "B"}})
    assert _dims(p.graph.output[0]) == ["output_0_dim_0", "output_0_dim_1"]   # 2*B, 2*T
    assert {"ConstantOfShape", "Range", "Shape"} <= _ops(p)


def test_a_size_no_polynomial_gives_is_refused():
    class M(nn.Module):
        def forward(self, x):
            return x[:, x.shape[1] // 2]

    with pytest.raises(tg.onnx.OnnxExporterError, match=r"op 'getitem' .*floor division"):
        _export(M(), tg.randn(2, 6), input_names=["x"], dynamic_axes={"x": [1]})


def test_in_place_update_through_a_view_is_refused():
    class M(nn.Module):
        def forward(self, x):
            v = x[:, 1:]
            v.mul_(2)            # changes x, which is read below
            return x + 0

    with pytest.raises(tg.onnx.OnnxExporterError, match=r"op 'add'.*changed in place"):
        _export(M(), tg.randn(2, 3))


def test_float16_exports_as_float16_and_matches_the_reference_evaluator():
    """onnxruntime's CPU provider computes float16 ops in float32, so onnx's reference
    evaluator (NumPy in float16) is the runtime that shows the file's rounding is eager's."""
    from onnx.reference import ReferenceEvaluator
    tg.manual_seed(10)
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh()).half()
    x = tg.randn(2, 3).half()
    p = _export(m, x)
    assert p.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    (got,) = ReferenceEvaluator(p).run(None, {p.graph.input[0].name: x.numpy()})
    with tg.no_grad():
        want = m(x).numpy()
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=1e-3,
                               atol=1e-3)


# -- keywords ------------------------------------------------------------------------------------
def test_files_programs_and_keywords(tmp_path, capsys):
    tg.manual_seed(6)
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    x = tg.randn(2, 3)
    with tg.no_grad():
        want = m.eval()(x).numpy()
    path = tmp_path / "m.onnx"
    assert tg.onnx.export(m, (x,), str(path), dynamo=False, verbose=True) is None
    assert "Gemm" in capsys.readouterr().out
    np.testing.assert_allclose(_run(onnx.load(str(path)), x)[0], want, rtol=1e-5, atol=1e-6)
    prog = tg.onnx.export(m, x, verify=True)            # dynamo=True (default): a program
    np.testing.assert_allclose(prog(x)[0], want, rtol=1e-5, atol=1e-6)
    prog.save(tmp_path / "p.onnx")
    assert onnx.load(str(tmp_path / "p.onnx")).graph.node
    fwd = list(inspect.signature(m.forward).parameters)
    assert [i.name for i in prog.model_proto.graph.input] == fwd[:1]   # the forward's name
    # parameters as inputs, or also listed as inputs
    p = _export(m, x, export_params=False)
    names = {n for n, _ in m.named_parameters()} | {n for n, _ in m.named_buffers()}
    assert not names & {i.name for i in p.graph.initializer}
    assert [i.name for i in p.graph.input][1] == "0.weight"
    p = _export(m, x, keep_initializers_as_inputs=True)
    assert {i.name for i in p.graph.initializer} <= {i.name for i in p.graph.input}
    # constant folding computes BatchNorm's scale now; without it the graph does
    folded, plain = _export(m, x), _export(m, x, do_constant_folding=False)
    assert len(folded.graph.node) < len(plain.graph.node) and "Pow" in _ops(plain)
    np.testing.assert_allclose(_run(plain, x)[0], want, rtol=1e-5, atol=1e-6)
    for opset in (13, 18, 21):
        np.testing.assert_allclose(_run(_export(m, x, opset_version=opset), x)[0], want,
                                   rtol=1e-5, atol=1e-6)


def test_dynamic_shapes_keyword_list_axes_and_output_names():
    m = nn.Linear(3, 2)
    p = _export(m, tg.randn(2, 3), dynamic_shapes=({0: "n"},), output_names=["y"])
    assert _dims(p.graph.input[0]) == ["n", 3] and _dims(p.graph.output[0]) == ["n", 2]
    assert p.graph.output[0].name == "y"
    p = _export(m, tg.randn(2, 3), input_names=["a"], dynamic_axes={"a": [0]})
    assert _dims(p.graph.input[0]) == ["a_dynamic_axes_1", 3]     # PyTorch's names


def test_is_in_onnx_export():
    seen = []

    class M(nn.Module):
        def forward(self, x):
            seen.append(tg.onnx.is_in_onnx_export())
            return x * 2
    _export(M(), tg.randn(2))
    assert seen and all(seen) and not tg.onnx.is_in_onnx_export()


# -- errors ----------------------------------------------------------------------------------
def test_an_op_without_mapping_is_named_with_its_module():
    m = nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.Identity(), _Sorter()))
    with pytest.raises(tg.onnx.UnsupportedOperatorError,
                       match=r"op 'argsort_indices' .*in module '1\.1' \(_Sorter\).*no ONNX "
                             r"mapping"):
        _export(m, tg.randn(2, 3))


class _Sorter(nn.Module):
    def forward(self, x):
        return tg.sort(x, dim=-1)[0]


def test_a_random_draw_in_the_forward_is_refused_not_baked_in():
    class M(nn.Module):
        def forward(self, x):
            return x + tg.randn(2, 3)      # a graph would repeat one draw forever

    with pytest.raises(tg.onnx.OnnxExporterError,
                       match=r"op 'add' reads a constant float32\[2,3\] whose values change"):
        _export(M(), tg.randn(2, 3))
    with pytest.raises(tg.onnx.UnsupportedOperatorError, match=r"op 'dropout_mask'"):
        _export(lambda x: F.dropout(x, 0.5, training=True), tg.randn(2, 3))


def test_sizes_that_change_the_program_are_refused():
    class M(nn.Module):
        def forward(self, x):
            return x.squeeze() * 2     # batch 1 squeezes away, batch 2 doesn't

    with pytest.raises(tg.onnx.OnnxExporterError, match="changes when its dynamic axes"):
        _export(M(), tg.randn(1, 3), input_names=["x"], dynamic_axes={"x": [0]})


def test_value_reads_are_refused_in_the_exporters_words():
    class M(nn.Module):
        def forward(self, x):
            return x * x.sum().item()

    with pytest.raises(tg.onnx.OnnxExporterError, match=r"^tg\.onnx\.export: tensor\.item\(\)") \
            as e:
        _export(M(), tg.randn(2, 3))
    assert "fallback" not in str(e.value)


@pytest.mark.parametrize("kw, err, msg", [
    (dict(opset_version=12), ValueError, "opset_version must be an int from 13"),
    (dict(dynamic_axes={"nope": [0]}), ValueError, "'nope', which is neither an input"),
    (dict(input_names=["a"], dynamic_axes={"a": {5: "b"}}), IndexError, "dim 5 of a 2-d input"),
    (dict(training=tapegrad.onnx.TrainingMode.TRAINING), NotImplementedError, "eval mode"),
    (dict(custom_opsets={"x": 1}), NotImplementedError, "custom_opsets"),
    (dict(input_names=["a", "b"]), ValueError, "2 input_names for 1 inputs"),
])
def test_bad_keywords(kw, err, msg):
    with pytest.raises(err, match=msg):
        _export(nn.Linear(3, 2), tg.randn(2, 3), **kw)


def test_results_must_be_tensors_and_f_is_needed_without_dynamo():
    class M(nn.Module):
        def forward(self, x):
            return x * 2, 3
    with pytest.raises(TypeError, match=r"returns 3 \(int\)"):
        _export(M(), tg.randn(2))
    with pytest.raises(TypeError, match="f .* is required with dynamo=False"):
        tg.onnx.export(nn.Linear(2, 2), tg.randn(1, 2), dynamo=False)


def test_onnx_is_imported_only_when_used_and_a_missing_one_says_how_to_install(monkeypatch):
    code = "import sys, tapegrad as tg; tg.onnx.TrainingMode; print('onnx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ModuleNotFoundError, match=r'pip install "tapegrad\[onnx\]"'):
        tg.onnx.export(nn.Linear(2, 2), tg.randn(1, 2))


def test_a_model_on_a_gpu_exports_from_host_copies():
    from helpers import cuda_for_tests
    with cuda_for_tests():
        tg.manual_seed(8)
        m = _LSTM().to("cuda")
        x = tg.randn(2, 5, 3, device="cuda")
        proto = _export(m, x, input_names=["x"], dynamic_axes=BATCH)
        x5 = tg.randn(5, 5, 3)
        got = _run(proto, x5)
        with tg.no_grad():
            want = _flat([o.cpu() for o in m.eval()(x5.to("cuda"))])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
