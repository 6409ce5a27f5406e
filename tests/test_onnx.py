"""tg.onnx.export on whole models: files checked with onnxruntime against tapegrad's own
outputs (float32, 1e-5), each exported at batch 2 and run at batches 1 and 5 (and other
sequence lengths where the sequence axis is dynamic too); the graph's ops, names and dynamic
dims; eval-mode export of models in training mode. Keywords and errors: test_onnx_api.py."""
import math

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.onnx
from tapegrad import nn
from tapegrad.nn import functional as F

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx_helpers import BATCH, check, dims, export, flat, ops, run  # noqa: E402


# -- the five models of issue 17 ---------------------------------------------------------------
def test_mlp():
    tg.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 16), nn.Tanh(),
                      nn.Linear(16, 3))
    p = check(m, tg.randn(2, 4), [tg.randn(5, 4)], [tg.randn(1, 4)], input_names=["x"],
               dynamic_axes=BATCH)
    assert ops(p) == {"Gemm", "Relu", "Tanh"}       # dropout in eval is the identity
    assert dims(p.graph.input[0]) == ["batch", 4] and dims(p.graph.output[0]) == ["batch", 3]
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
    export(m, tg.randn(2, 3, 10, 10))       # traced in eval mode; each module's mode comes back
    assert m.training and m[1].training and not m[4].training
    p = check(m, tg.randn(2, 3, 10, 10), [tg.randn(5, 3, 10, 10)], [tg.randn(1, 3, 10, 10)],
               input_names=["x"],
               dynamic_axes=BATCH)
    assert {"Conv", "MaxPool", "AveragePool", "Gemm"} <= ops(p)
    assert dims(p.graph.output[0]) == ["batch", 4]


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
    p = check(m, tg.randn(2, 7, 3), [tg.randn(5, 7, 3)], [tg.randn(1, 7, 3)], input_names=["x"],
               dynamic_axes=BATCH)
    assert [n.op_type for n in p.graph.node].count("LSTM") == 2
    assert dims(p.graph.output[1]) == [2, "batch", 6]
    # the sequence length can be dynamic too: ONNX's LSTM node loops over it
    check(m, tg.randn(2, 7, 3), [tg.randn(5, 4, 3)], [tg.randn(1, 9, 3)], input_names=["x"],
           dynamic_axes={"x": {0: "batch", 1: "time"}})


def test_transformer_encoder_layer():
    tg.manual_seed(3)
    m = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, batch_first=True)
    p = check(m, tg.randn(2, 6, 16), [tg.randn(5, 6, 16)], [tg.randn(1, 6, 16)],
               input_names=["src"],
               dynamic_axes={"src": {0: "batch"}})
    assert {"LayerNormalization", "Softmax", "MatMul"} <= ops(p)
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
    p = check(m, tg.randint(0, 13, (2, 8)), [tg.randint(0, 13, (5, 8))],
               [tg.randint(0, 13, (1, 8))], input_names=["idx"],
               dynamic_axes={"idx": {0: "batch"}})
    assert {"Gather", "LayerNormalization", "Softmax", "LogSoftmax", "Erf"} <= ops(p)
    assert dims(p.graph.output[0]) == ["batch", 8, 13]
    # batch and length dynamic: positions (Range), the mask slice and the causal mask follow
    p = check(m, tg.randint(0, 13, (2, 8)), [tg.randint(0, 13, (5, 3))],
               [tg.randint(0, 13, (1, 1))], input_names=["idx"],
               dynamic_axes={"idx": {0: "batch", 1: "T"}})
    assert "Range" in ops(p) and dims(p.graph.output[0]) == ["batch", "T", 13]


def test_a_model_in_training_mode_exports_eval_semantics_as_pytorch():
    """training=TrainingMode.EVAL (the default, PyTorch's): dropout is the identity, BatchNorm
    uses its running statistics and updates none of them; every module's mode comes back."""
    tg.manual_seed(9)
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 2))
    m(tg.randn(8, 3) * 3 + 1)                        # running statistics away from 0 and 1
    stats = [b.numpy().copy() for b in m.buffers()]
    assert m.training
    p = export(m, tg.randn(2, 3), input_names=["x"], dynamic_axes=BATCH)
    assert m.training and all(k.training for k in m)
    for b, s in zip(m.buffers(), stats):
        np.testing.assert_array_equal(b.numpy(), s)
    x = tg.randn(3, 3)
    with tg.no_grad():
        want = m.eval()(x).numpy()
    np.testing.assert_allclose(run(p, x)[0], want, rtol=1e-5, atol=1e-6)
    assert "Dropout" not in ops(p)
    m.train()
    with pytest.raises(NotImplementedError, match=r"training=PRESERVE .* model\.eval\(\)"):
        export(m, tg.randn(2, 3), training=tapegrad.onnx.TrainingMode.PRESERVE)
    m.eval()
    export(m, tg.randn(2, 3), training=tapegrad.onnx.TrainingMode.PRESERVE)


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
    p = check(_Zoo(), (tg.randn(2, 3, 5), tg.randn(2, 4, 7, 7), mask),
               [tg.randn(5, 3, 5), tg.randn(5, 4, 7, 7), mask5],
               [tg.randn(1, 3, 5), tg.randn(1, 4, 7, 7), mask[1:]], input_names=["x", "img", "m"],
               dynamic_axes={k: {0: "batch"} for k in ("x", "img", "m")})
    assert {"GRU", "LSTM", "RNN", "ConvTranspose", "ScatterND", "GatherND"} <= ops(p)


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
    p = check(_Sizes(), (tg.randn(2, 6, 4), tg.tensor([3, 6])),
               [tg.randn(5, 4, 4), tg.tensor([1, 2, 3, 4, 4])],
               [tg.randn(1, 9, 4), tg.tensor([7])], input_names=["x", "n"],
               dynamic_axes={"x": {0: "B", 1: "T"}, "n": {0: "B"}})
    assert dims(p.graph.output[0]) == ["output_0_dim_0", "output_0_dim_1"]   # 2*B, 2*T
    assert {"ConstantOfShape", "Range", "Shape"} <= ops(p)


def test_a_model_on_a_gpu_exports_from_host_copies():
    from helpers import cuda_for_tests
    with cuda_for_tests():
        tg.manual_seed(8)
        m = _LSTM().to("cuda")
        x = tg.randn(2, 5, 3, device="cuda")
        proto = export(m, x, input_names=["x"], dynamic_axes=BATCH)
        x5 = tg.randn(5, 5, 3)
        got = run(proto, x5)
        with tg.no_grad():
            want = flat([o.cpu() for o in m.eval()(x5.to("cuda"))])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
