"""Shared by tests/test_onnx*.py: export to bytes, run with onnxruntime, compare with
tapegrad's eval-mode outputs."""
import io

import numpy as np
import onnx
import onnxruntime as ort

import tapegrad as tg


def flat(out):
    """The tensors of a (nested) result as NumPy arrays, None left out."""
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in flat(o)]
    return [] if out is None else [out.numpy()]


def export(model, example, **kw):
    """tg.onnx.export to bytes; the loaded ModelProto."""
    buf = io.BytesIO()
    tg.onnx.export(model, example, buf, dynamo=False, **kw)
    return onnx.load_from_string(buf.getvalue())


def run(proto, *inputs):
    """Run ``proto`` with onnxruntime on tensors, in the graph's input order."""
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, {n: x.numpy() for n, x in zip(names, inputs)})


def check(model, example, *runs, **kw):
    """Export at ``example``, run at each of ``runs`` (lists of inputs): equal to tapegrad's
    eval-mode outputs."""
    proto = export(model, example, **kw)
    model.eval()
    for inputs in runs:
        got = run(proto, *inputs)
        with tg.no_grad():
            want = flat(model(*inputs))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    return proto


def ops(proto):
    """The set of op types in the graph."""
    return {n.op_type for n in proto.graph.node}


def dims(vi):
    """A value info's dims: names for dynamic ones, ints for the others."""
    return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]


BATCH = {"x": {0: "batch"}}
