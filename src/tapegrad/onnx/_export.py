"""tg.onnx.export's steps: normalize the arguments, trace (_capture), convert (_convert and
the ops_* converters), assemble the ModelProto, check it, write it."""
import contextlib
import inspect
import os

from .. import backend
from ..core.tensor import Tensor
from . import _capture, _convert, ops_math, ops_nn, ops_shape  # noqa: F401 (converters)
from ._builder import Builder
from ._capture import OnnxExporterError

MIN_OPSET = 13
_STATE = {"exporting": False}


def require(name):
    """Import an optional dependency (onnx, or onnxruntime to run a file), or say how to
    install it."""
    try:
        return __import__(name)
    except ImportError:
        how = 'pip install "tapegrad[onnx]"' if name == "onnx" else f"pip install {name}"
        raise ModuleNotFoundError(f"tg.onnx needs the '{name}' package, which is not installed: "
                                  f"{how}") from None


def inputs_of(args, kwargs):
    """(args tuple, kwargs dict): a lone tensor is a 1-tuple; a dict last in args holds the
    keyword arguments (PyTorch's convention)."""
    if isinstance(args, Tensor):
        args = (args,)
    elif isinstance(args, list):
        args = tuple(args)
    elif not isinstance(args, tuple):
        raise TypeError(f"tg.onnx.export: args must be a tensor or a tuple of the model's "
                        f"arguments, got {type(args).__name__}")
    kwargs = dict(kwargs or {})
    if args and isinstance(args[-1], dict) and not kwargs:
        args, kwargs = args[:-1], dict(args[-1])
    return args, kwargs


def names_for(model, args, kwargs, n, given, what):
    """Input or output names: the given ones, then defaults (the forward's parameter names
    for top-level tensor arguments, else input_<k>; output / output_<k>)."""
    given = list(given or [])
    if len(given) > n:
        raise ValueError(f"tg.onnx.export: {len(given)} {what}_names for {n} {what}s")
    if what == "output":
        default = ["output"] if n == 1 else [f"output_{k}" for k in range(n)]
    else:
        default = _arg_names(model, args, kwargs, n)
    names = given + default[len(given):]
    if len(set(names)) != len(names):
        raise ValueError(f"tg.onnx.export: {what} names must be unique, got {names}")
    return names


def _arg_names(model, args, kwargs, n):
    fwd = getattr(model, "forward", model)
    try:
        params = [p for p in inspect.signature(fwd).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    tops = list(args) + list(kwargs.values())
    if len(tops) == n and all(isinstance(a, Tensor) for a in tops) and len(params) >= len(args):
        return [p.name for p in params[:len(args)]] + list(kwargs)
    return [f"input_{k}" for k in range(n)]


def dynamic(dynamic_axes, in_names, out_names, in_shapes):
    """({axis name: [(input k, dim)]}, {output k: {dim: axis name}}) from ``dynamic_axes``."""
    axes, out_axes = {}, {}
    for key, spec in (dynamic_axes or {}).items():
        if key in in_names:
            k, ndim = in_names.index(key), len(in_shapes[in_names.index(key)])
        elif key in out_names:
            k, ndim = out_names.index(key), None
        else:
            raise ValueError(f"tg.onnx.export: dynamic_axes names '{key}', which is neither an "
                             f"input ({in_names}) nor an output ({out_names})")
        if isinstance(spec, dict):
            pairs = list(spec.items())
        elif isinstance(spec, (list, tuple)):
            pairs = [(d, f"{key}_dynamic_axes_{j + 1}") for j, d in enumerate(spec)]
        else:
            raise TypeError(f"tg.onnx.export: dynamic_axes['{key}'] must be a dict {{dim: "
                            f"name}} or a list of dims, got {type(spec).__name__}")
        for d, name in pairs:
            if not isinstance(d, int) or not isinstance(name, str):
                raise TypeError(f"tg.onnx.export: dynamic_axes['{key}'] maps int dims to str "
                                f"names, got {d!r}: {name!r}")
            if ndim is not None:
                if not -ndim <= d < ndim:
                    raise IndexError(f"tg.onnx.export: dynamic_axes['{key}'] names dim {d} of "
                                     f"a {ndim}-d input")
                axes.setdefault(name, []).append((k, d % ndim))
            else:
                out_axes.setdefault(k, {})[d] = name
    return axes, out_axes


def from_dynamic_shapes(spec, model, args, kwargs):
    """``dynamic_shapes`` (torch.export's form: per argument, by position or by name, None or
    {dim: name or Dim}) as a dynamic_axes dict keyed by argument name."""
    names = _arg_names(model, args, kwargs, len(args) + len(kwargs))
    if isinstance(spec, (list, tuple)):
        spec = dict(zip(names, spec))
    out = {}
    for key, dims in (spec or {}).items():
        if dims is None:
            continue
        if isinstance(dims, (list, tuple)):
            dims = {d: n for d, n in enumerate(dims) if n is not None}
        out[key] = {d: n if isinstance(n, str) else getattr(n, "__name__", f"{key}_dim_{d}")
                    for d, n in dims.items()}
    return out


@contextlib.contextmanager
def exporting(model):
    """Eval mode for every submodule (restored after, each to its own mode), and the flag
    is_in_onnx_export reads."""
    mods = list(model.modules()) if hasattr(model, "modules") else []
    modes = [m.__dict__.get("training", False) for m in mods]
    for m in mods:
        m.__dict__["training"] = False
    _STATE["exporting"] = True
    try:
        yield
    finally:
        _STATE["exporting"] = False
        for m, t in zip(mods, modes):
            m.__dict__["training"] = t


def param_names(model):
    """id(array) -> the model's name for each parameter and buffer."""
    out = {}
    if hasattr(model, "named_parameters"):
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if t is not None:
                out.setdefault(id(t._data), name)
    return out


def build(model, args, kwargs, in_names, out_given, dynamic_axes, opset, export_params,
          keep_inits, fold):
    """Trace and convert: (ModelProto, Capture, {input name: example array})."""
    onnx = require("onnx")
    tensors = []
    _capture._map_tensors((args, kwargs), lambda t: tensors.append(t) or t)
    in_names = names_for(model, args, kwargs, len(tensors), in_names, "input")
    cap0 = None
    with exporting(model):
        # output names are needed for dynamic_axes before the trace: count results first
        axes, _ = dynamic({k: v for k, v in (dynamic_axes or {}).items() if k in in_names},
                          in_names, [], [t.shape for t in tensors])
        cap0 = _capture.capture(model, args, kwargs, axes)
    n_out = len(cap0.prog.out_vids)
    _check_results(cap0.prog.outputs)
    out_names = names_for(model, args, kwargs, n_out, out_given, "output")
    _, out_axes = dynamic(dynamic_axes, in_names, out_names, [t.shape for t in tensors])
    src = {name: (in_names[k], d) for name, where in axes.items() for k, d in where[:1]}
    b = Builder(onnx, opset, src)
    conv = _convert.Converter(cap0, b, in_names, not export_params, fold, param_names(model))
    results = conv.run()
    proto = _assemble(onnx, b, conv, cap0, tensors, in_names, out_names, results, axes,
                      out_axes, keep_inits)
    feed = {n: backend.to_host(t._data) for n, t in zip(in_names, tensors)}
    feed.update((n, backend.to_host(a)) for n, a in conv.param_inputs)
    return proto, cap0, feed


def _check_results(spec):
    kind, x = spec
    if kind == "py":
        if x is not None:
            raise TypeError(f"tg.onnx.export: the model returns {x!r} ({type(x).__name__}) "
                            f"among its results; an ONNX graph returns tensors (None is "
                            f"left out)")
    elif kind != "t":
        for item in x:
            _check_results(item[1] if kind is dict else item)


def _assemble(onnx, b, conv, cap, tensors, in_names, out_names, results, axes, out_axes,
              keep_inits):
    helper = onnx.helper
    dims = {(k, d): name for name, where in axes.items() for k, d in where}
    graph_in = [_info(b, name, t.dtype, [dims.get((k, d), s) for d, s in enumerate(t.shape)])
                for k, (name, t) in enumerate(zip(in_names, tensors))]
    graph_in += [_info(b, name, arr.dtype, list(arr.shape)) for name, arr in conv.param_inputs]
    _name_results(b, results, out_names, in_names)
    graph_out = []
    for k, (name, vid) in enumerate(zip(out_names, cap.prog.out_vids)):
        shape = []
        for d, s in enumerate(cap.shape(vid)):
            given = out_axes.get(k, {}).get(d)
            if given is not None:
                shape.append(given)
            elif isinstance(s, _capture.Sym):
                mono = list(s.poly.items()) if s.poly else []
                shape.append(mono[0][0][0] if len(mono) == 1 and len(mono[0][0]) == 1 and
                             mono[0][1] == 1 else f"{name}_dim_{d}")
            else:
                shape.append(s)
        graph_out.append(_info(b, name, cap.prog.values[vid].dtype, shape))
    nodes, inits = _prune(b, out_names)
    init_protos = [onnx.numpy_helper.from_array(arr, name) for name, arr in inits.items()]
    if keep_inits:
        graph_in += [_info(b, name, arr.dtype, list(arr.shape)) for name, arr in inits.items()]
    graph = helper.make_graph(nodes, "tapegrad", graph_in, graph_out, init_protos)
    opsets = [helper.make_opsetid("", b.opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="tapegrad",
                              producer_version=_version())
    model.ir_version = helper.find_min_ir_version_for(opsets)
    return model


def _version():
    from .. import __version__
    return __version__


def _info(b, name, dtype, shape):
    return b.helper.make_tensor_value_info(name, b.onnx_type(dtype), shape)


def _name_results(b, results, out_names, in_names):
    """Give each result its output name: rename the node output that makes it, or add an
    Identity (for an input, an initializer, or a tensor returned twice)."""
    made = {o: n for n in b.nodes for o in n.output}
    taken = set()
    for j, (res, name) in enumerate(zip(results, out_names)):
        node = made.get(res)
        if node is None or res in taken or res in in_names:
            b.nodes.append(b.helper.make_node("Identity", [res], [name],
                                              name=b.fresh(f"/{name}/Identity")))
            continue
        taken.add(res)
        for n in b.nodes:
            n.input[:] = [name if i == res else i for i in n.input]
            n.output[:] = [name if o == res else o for o in n.output]
        for k in range(j + 1, len(results)):
            if results[k] == res:
                results[k] = name
        made = {o: n for n in b.nodes for o in n.output}


def _prune(b, outputs):
    """The nodes and initializers the outputs need, in order."""
    need = set(outputs)
    keep = []
    for n in reversed(b.nodes):
        if any(o in need for o in n.output):
            keep.append(n)
            need.update(i for i in n.input if i)
            for attr in n.attribute:      # subgraphs (none made today) would read more
                if attr.g.node:
                    need.update(i for sub in attr.g.node for i in sub.input)
    return keep[::-1], {k: v for k, v in b.inits.items() if k in need}


def write(onnx, model, f, external_data):
    """Write to a path or a binary file object; weights beyond protobuf's 2 GiB limit go to
    an external file beside a path (``external_data``)."""
    big = model.ByteSize() > 2 ** 31 - 2 ** 20
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        if big:
            if not external_data:
                raise ValueError("tg.onnx.export: the model is over protobuf's 2 GiB limit; "
                                 "pass external_data=True to write its weights beside it")
            onnx.save_model(model, path, save_as_external_data=True,
                            location=os.path.basename(path) + ".data")
        else:
            with open(path, "wb") as fh:
                fh.write(model.SerializeToString())
        return
    if not hasattr(f, "write"):
        raise TypeError(f"tg.onnx.export: f must be a path or a binary file object, got "
                        f"{type(f).__name__}")
    if big:
        raise ValueError("tg.onnx.export: the model is over protobuf's 2 GiB limit; write it to "
                         "a path with external_data=True")
    f.write(model.SerializeToString())


def verify(model, cap, feed, rtol=1e-4, atol=1e-5):
    """Run the file with onnxruntime on the example inputs and compare with tapegrad's."""
    ort = require("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, feed)
    want = []
    _capture._map_tensors(cap.result, lambda t: want.append(backend.to_host(t._data)) or t)
    xp = backend.xp
    for k, (g, w) in enumerate(zip(got, want)):
        if g.shape != w.shape or not xp.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True):
            diff = xp.abs(g.astype(float) - w.astype(float)).max() if g.shape == w.shape \
                else f"shape {g.shape} vs {w.shape}"
            raise OnnxExporterError(f"tg.onnx.export(verify=True): output {k} of the ONNX graph "
                                    f"differs from tapegrad's (max difference {diff})")
