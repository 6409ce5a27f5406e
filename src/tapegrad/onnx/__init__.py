"""ONNX export, as ``torch.onnx``: ``tg.onnx.export(model, args, "model.onnx")``.

The model's forward is traced in eval mode without gradients by tg.compile's tracer (the
same Program of primitive calls ``tg.compile`` replays), and each primitive becomes ONNX
nodes (Gemm/MatMul, Conv, MaxPool, LSTM, Softmax...). Parameters and buffers become named
initializers. A dynamic axis (``dynamic_axes``) stays dynamic: sizes that follow it are
computed in the graph from the inputs' shapes, never baked in (see ``_capture``).

The ``onnx`` package (``pip install "tapegrad[onnx]"``) is imported only when a function
here is called; ``verify=True`` also needs ``onnxruntime``.
"""
import enum

from ._capture import OnnxExporterError, UnsupportedOperatorError

__all__ = ["export", "is_in_onnx_export", "ONNXProgram", "TrainingMode", "OperatorExportTypes",
           "OnnxExporterError", "UnsupportedOperatorError"]


class TrainingMode(enum.IntEnum):
    """Which mode the model is exported in (torch.onnx.TrainingMode). tapegrad exports in
    eval mode: EVAL, or PRESERVE for a model already in eval mode."""
    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


class OperatorExportTypes(enum.IntEnum):
    """torch.onnx.OperatorExportTypes; tapegrad writes standard ONNX ops only (ONNX)."""
    ONNX = 0
    ONNX_ATEN = 1
    ONNX_ATEN_FALLBACK = 2
    ONNX_FALLTHROUGH = 3


class ONNXProgram:
    """What ``export`` returns with ``dynamo=True`` (PyTorch 2.13's default): the ModelProto
    (``model_proto``), ``save(path)``, and a call that runs it with onnxruntime."""

    def __init__(self, model_proto, input_names):
        self.model_proto = model_proto
        self._inputs = input_names
        self._session = None

    def save(self, destination, *, external_data=None, **_):
        """Write the model to a path or a binary file object."""
        from ._export import require, write
        write(require("onnx"), self.model_proto, destination, bool(external_data))

    def __call__(self, *args, **kwargs):
        """Run the graph on tensors (or arrays) with onnxruntime; a list of NumPy arrays."""
        from .. import backend
        from ..core.tensor import Tensor
        from ._export import require
        if self._session is None:
            ort = require("onnxruntime")
            self._session = ort.InferenceSession(self.model_proto.SerializeToString(),
                                                 providers=["CPUExecutionProvider"])
        vals = list(args) + list(kwargs.values())
        feed = {n: backend.to_host(v._data if isinstance(v, Tensor) else v)
                for n, v in zip(self._inputs, vals)}
        return self._session.run(None, feed)

    def __repr__(self):
        g = self.model_proto.graph
        return (f"ONNXProgram({len(g.node)} nodes, inputs {[i.name for i in g.input]}, "
                f"outputs {[o.name for o in g.output]})")


def is_in_onnx_export():
    """True while ``export`` traces a model (models may branch on it, as with PyTorch)."""
    from ._export import _STATE
    return _STATE["exporting"]


def export(model, args=(), f=None, *, kwargs=None, verbose=None, input_names=None,
           output_names=None, opset_version=17, dynamo=True, external_data=True,
           dynamic_shapes=None, custom_translation_table=None, report=False, optimize=True,
           verify=False, profile=False, dump_exported_program=False, artifacts_dir=".",
           export_params=True, keep_initializers_as_inputs=False, dynamic_axes=None,
           training=TrainingMode.EVAL, operator_export_type=OperatorExportTypes.ONNX,
           do_constant_folding=True, custom_opsets=None, export_modules_as_functions=False,
           autograd_inlining=True):
    """Export ``model`` (an nn.Module or a function of tensors) to ONNX, as torch.onnx.export.

    ``args``: the example inputs (a tensor, or a tuple; a dict last holds keyword
    arguments, as does ``kwargs``); tensors become graph inputs, anything else is baked in.
    ``f``: a path or a binary file object (None: nothing is written; use the result).
    ``input_names``/``output_names``: graph names (default: the forward's parameter names,
    and ``output`` or ``output_<k>``). ``dynamic_axes``: {name: {dim: axis name}} or {name:
    [dims]} for inputs and outputs; ``dynamic_shapes`` (torch.export's form, per argument
    {dim: name}) is read the same way. Every size that follows a dynamic axis is computed in
    the graph; the model is traced again at other sizes of each axis to find them.
    ``opset_version``: 13 up to what the installed onnx knows (default 17).
    ``do_constant_folding``: ops whose inputs are all parameters or constants are computed
    now and stored as initializers (BatchNorm's scale, summed LSTM biases).
    ``export_params=False``: parameters become graph inputs instead of initializers;
    ``keep_initializers_as_inputs``: initializers are also listed as inputs.
    ``verbose``: print the graph. ``verify``: run it with onnxruntime on the example inputs
    and compare with tapegrad's results (OnnxExporterError on a difference).
    ``dynamo``: tapegrad has one exporter (the tracer) for both; True returns an
    :class:`ONNXProgram`, False returns None, as PyTorch. ``external_data``: weights beyond
    protobuf's 2 GiB limit go to a ``<file>.data`` beside ``f``. ``training``: EVAL (or
    PRESERVE for a model in eval mode); the model is always traced in eval mode and its
    modes are restored after. ``optimize``, ``report``, ``profile``,
    ``dump_exported_program``, ``artifacts_dir`` and ``autograd_inlining`` are accepted and
    change nothing; ``custom_translation_table``, ``custom_opsets``,
    ``export_modules_as_functions`` and other operator export types are not supported.

    An op with no ONNX mapping raises UnsupportedOperatorError naming the op and the module
    that ran it.
    """
    from . import _export
    onnx = _export.require("onnx")
    _refuse(training, operator_export_type, custom_opsets, export_modules_as_functions,
            custom_translation_table, model)
    opset = 17 if opset_version is None else opset_version
    top = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not _export.MIN_OPSET <= opset <= top:
        raise ValueError(f"tg.onnx.export: opset_version must be an int from "
                         f"{_export.MIN_OPSET} to {top} (the installed onnx's newest), got "
                         f"{opset_version!r}")
    args, kwargs = _export.inputs_of(args, kwargs)
    if dynamic_shapes is not None:
        dynamic_axes = dict(dynamic_axes or {})
        dynamic_axes.update(_export.from_dynamic_shapes(dynamic_shapes, model, args, kwargs))
    proto, cap, feed = _export.build(model, args, kwargs, input_names, output_names, dynamic_axes,
                               opset, export_params, keep_initializers_as_inputs,
                               do_constant_folding)
    onnx.checker.check_model(proto)
    names = [i.name for i in proto.graph.input]
    if verify:
        _export.verify(proto, cap, feed)
    if verbose:
        print(onnx.helper.printable_graph(proto.graph))
    if f is not None:
        _export.write(onnx, proto, f, external_data)
    elif not dynamo:
        raise TypeError("tg.onnx.export: f (a path or file object) is required with "
                        "dynamo=False")
    return ONNXProgram(proto, names) if dynamo else None


def _refuse(training, op_type, custom_opsets, as_functions, table, model):
    if training not in (TrainingMode.EVAL, TrainingMode.PRESERVE, None, False):
        raise NotImplementedError(
            "tg.onnx.export: tapegrad exports in eval mode only (training=TrainingMode.EVAL); "
            "a training-mode graph would bake in dropout masks and update batch statistics")
    if training == TrainingMode.PRESERVE and getattr(model, "training", False):
        raise NotImplementedError("tg.onnx.export: training=PRESERVE with a model in training "
                                  "mode; call model.eval() first (tapegrad exports eval mode)")
    if op_type not in (OperatorExportTypes.ONNX, None):
        raise NotImplementedError("tg.onnx.export: operator_export_type other than ONNX; "
                                  "tapegrad writes standard ONNX ops only")
    for name, v in (("custom_opsets", custom_opsets),
                    ("export_modules_as_functions", as_functions),
                    ("custom_translation_table", table)):
        if v:
            raise NotImplementedError(f"tg.onnx.export: {name} is not supported by tapegrad's "
                                      f"exporter")
