"""tg.onnx.export's keywords, files and programs, float16, and its refusals: errors by type
and message (an op without a mapping named with its module, random draws, sizes the graph
can't compute, in-place updates through views, value reads, bad keywords, the missing
onnx package)."""
import inspect
import subprocess
import sys

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.onnx
from tapegrad import nn
from tapegrad.nn import functional as F

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx_helpers import export, ops, dims, run  # noqa: E402


def test_a_size_no_polynomial_gives_is_refused():
    class M(nn.Module):
        def forward(self, x):
            return x[:, x.shape[1] // 2]

    with pytest.raises(tg.onnx.OnnxExporterError, match=r"op 'getitem' .*floor division"):
        export(M(), tg.randn(2, 6), input_names=["x"], dynamic_axes={"x": [1]})


def test_in_place_update_through_a_view_is_refused():
    class M(nn.Module):
        def forward(self, x):
            v = x[:, 1:]
            v.mul_(2)            # changes x, which is read below
            return x + 0

    with pytest.raises(tg.onnx.OnnxExporterError, match=r"op 'add'.*changed in place"):
        export(M(), tg.randn(2, 3))


def test_float16_exports_as_float16_and_matches_the_reference_evaluator():
    """onnxruntime's CPU provider computes float16 ops in float32, so onnx's reference
    evaluator (NumPy in float16) is the runtime that shows the file's rounding is eager's."""
    from onnx.reference import ReferenceEvaluator
    tg.manual_seed(10)
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh()).half()
    x = tg.randn(2, 3).half()
    p = export(m, x)
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
    np.testing.assert_allclose(run(onnx.load(str(path)), x)[0], want, rtol=1e-5, atol=1e-6)
    prog = tg.onnx.export(m, x, verify=True)            # dynamo=True (default): a program
    np.testing.assert_allclose(prog(x)[0], want, rtol=1e-5, atol=1e-6)
    prog.save(tmp_path / "p.onnx")
    assert onnx.load(str(tmp_path / "p.onnx")).graph.node
    fwd = list(inspect.signature(m.forward).parameters)
    assert [i.name for i in prog.model_proto.graph.input] == fwd[:1]   # the forward's name
    # parameters as inputs, or also listed as inputs
    p = export(m, x, export_params=False)
    names = {n for n, _ in m.named_parameters()} | {n for n, _ in m.named_buffers()}
    assert not names & {i.name for i in p.graph.initializer}
    assert [i.name for i in p.graph.input][1] == "0.weight"
    p = export(m, x, keep_initializers_as_inputs=True)
    assert {i.name for i in p.graph.initializer} <= {i.name for i in p.graph.input}
    # constant folding computes BatchNorm's scale now; without it the graph does
    folded, plain = export(m, x), export(m, x, do_constant_folding=False)
    assert len(folded.graph.node) < len(plain.graph.node) and "Pow" in ops(plain)
    np.testing.assert_allclose(run(plain, x)[0], want, rtol=1e-5, atol=1e-6)
    for opset in (13, 18, 21):
        np.testing.assert_allclose(run(export(m, x, opset_version=opset), x)[0], want,
                                   rtol=1e-5, atol=1e-6)


def test_dynamic_shapes_keyword_list_axes_and_output_names():
    m = nn.Linear(3, 2)
    p = export(m, tg.randn(2, 3), dynamic_shapes=({0: "n"},), output_names=["y"])
    assert dims(p.graph.input[0]) == ["n", 3] and dims(p.graph.output[0]) == ["n", 2]
    assert p.graph.output[0].name == "y"
    p = export(m, tg.randn(2, 3), input_names=["a"], dynamic_axes={"a": [0]})
    assert dims(p.graph.input[0]) == ["a_dynamic_axes_1", 3]     # PyTorch's names


def test_is_in_onnx_export():
    seen = []

    class M(nn.Module):
        def forward(self, x):
            seen.append(tg.onnx.is_in_onnx_export())
            return x * 2
    export(M(), tg.randn(2))
    assert seen and all(seen) and not tg.onnx.is_in_onnx_export()


# -- errors ----------------------------------------------------------------------------------
def test_an_op_without_mapping_is_named_with_its_module():
    m = nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.Identity(), _Sorter()))
    with pytest.raises(tg.onnx.UnsupportedOperatorError,
                       match=r"op 'argsort_indices' .*in module '1\.1' \(_Sorter\).*no ONNX "
                             r"mapping"):
        export(m, tg.randn(2, 3))


class _Sorter(nn.Module):
    def forward(self, x):
        return tg.sort(x, dim=-1)[0]


def test_a_random_draw_in_the_forward_is_refused_not_baked_in():
    class M(nn.Module):
        def forward(self, x):
            return x + tg.randn(2, 3)      # a graph would repeat one draw forever

    with pytest.raises(tg.onnx.OnnxExporterError,
                       match=r"op 'add' reads a constant float32\[2,3\] whose values change"):
        export(M(), tg.randn(2, 3))
    with pytest.raises(tg.onnx.UnsupportedOperatorError,
                       match=r"op 'dropout_mask' .*draws random numbers \(dropout in training"):
        export(lambda x: F.dropout(x, 0.5, training=True), tg.randn(2, 3))


def test_sizes_that_change_the_program_are_refused():
    class M(nn.Module):
        def forward(self, x):
            return x.squeeze() * 2     # batch 1 squeezes away, batch 2 doesn't

    with pytest.raises(tg.onnx.OnnxExporterError, match="changes when its dynamic axes"):
        export(M(), tg.randn(1, 3), input_names=["x"], dynamic_axes={"x": [0]})


def test_value_reads_are_refused_in_the_exporters_words():
    class M(nn.Module):
        def forward(self, x):
            return x * x.sum().item()

    with pytest.raises(tg.onnx.OnnxExporterError, match=r"^tg\.onnx\.export: tensor\.item\(\)") \
            as e:
        export(M(), tg.randn(2, 3))
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
        export(nn.Linear(3, 2), tg.randn(2, 3), **kw)


def test_results_must_be_tensors_and_f_is_needed_without_dynamo():
    class M(nn.Module):
        def forward(self, x):
            return x * 2, 3
    with pytest.raises(TypeError, match=r"returns 3 \(int\)"):
        export(M(), tg.randn(2))
    with pytest.raises(TypeError, match="f .* is required with dynamo=False"):
        tg.onnx.export(nn.Linear(2, 2), tg.randn(1, 2), dynamo=False)


def test_onnx_is_imported_only_when_used_and_a_missing_one_says_how_to_install(monkeypatch):
    code = "import sys, tapegrad as tg; tg.onnx.TrainingMode; print('onnx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ModuleNotFoundError, match=r"'onnxruntime' .*: pip install onnxruntime"):
        tg.onnx.export(nn.Linear(2, 2), tg.randn(1, 2), verify=True)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ModuleNotFoundError, match=r'pip install "tapegrad\[onnx\]"'):
        tg.onnx.export(nn.Linear(2, 2), tg.randn(1, 2))
