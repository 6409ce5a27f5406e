"""The ONNX graph being written: nodes, initializers, small constants, and the integers that
follow the dynamic axes, computed in the graph from the inputs' shapes (Shape, Gather, Mul,
Add, Concat) so that no size of the example inputs is baked in."""
import math
from fractions import Fraction

from .. import backend
from ._capture import OnnxExporterError, Sym

xp = backend.xp


class Builder:
    """Collects nodes and initializers; ``axis_src`` maps each dynamic axis name to the
    (graph input name, dim) its size is read from."""

    def __init__(self, onnx, opset, axis_src):
        self.onnx, self.helper, self.opset = onnx, onnx.helper, opset
        self.axis_src = axis_src
        self.nodes = []
        self.inits = {}          # name -> host array
        self.used = set()        # every name given out
        self.scope = ""          # "/module/path" of the op being converted, for node names
        self.where = "the model"  # that op, described for messages
        self._consts = {}        # small constants by value
        self._dims = {}          # Sym polynomial -> name of its 1-D int64 tensor

    # -- names and nodes ----------------------------------------------------------------
    def fresh(self, hint):
        """A name no tensor or node has yet, from ``hint``."""
        name, k = hint, 1
        while name in self.used:
            k += 1
            name = f"{hint}_{k}"
        self.used.add(name)
        return name

    def node(self, op_type, inputs, outputs=1, **attrs):
        """Append an ``op_type`` node; its output name (a list when ``outputs`` > 1)."""
        outs = [self.fresh(f"{self.scope}/{op_type}_output_{j}") for j in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.helper.make_node(op_type, list(inputs), outs,
                                                name=self.fresh(f"{self.scope}/{op_type}"),
                                                **attrs))
        return outs[0] if outputs == 1 else outs

    def initializer(self, arr, hint):
        """A named initializer holding ``arr`` (copied to the host)."""
        name = self.fresh(hint)
        self.inits[name] = xp.array(backend.to_host(arr), order="C")   # keeps 0-d arrays 0-d
        return name

    def const(self, value, dtype):
        """A small constant (a number or a list) of ``dtype``, shared by value."""
        arr = xp.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            self._consts[key] = self.initializer(arr, f"const_{_label(arr)}")
        return self._consts[key]

    def ints(self, values):
        """A 1-D int64 constant."""
        return self.const(list(values), backend.int64)

    # -- integers that follow the dynamic axes --------------------------------------------
    def dim(self, d):
        """A 1-D int64 tensor of one element holding ``d`` (an int, or a Sym computed from
        the inputs' shapes)."""
        if not isinstance(d, Sym):
            return self.ints([d])
        if d.poly is None:
            raise OnnxExporterError(
                f"tg.onnx.export: {self.where} needs the integer {d.value} in the graph, and "
                f"it follows the dynamic axes in no way the graph can compute ({d.seen} at the "
                f"traced sizes; a polynomial in the sizes can be computed, a floor division "
                f"can't); export with those axes static")
        key = tuple(sorted(d.poly.items()))
        if key in self._dims:
            return self._dims[key]
        den = math.lcm(*(Fraction(c).denominator for c in d.poly.values()))
        total, const = None, 0
        for mono, c in sorted(d.poly.items()):
            num = int(c * den)
            if not mono:
                const += num
                continue
            term = None
            for axis in mono:
                s = self._axis(axis)
                term = s if term is None else self.node("Mul", [term, s])
            if num != 1:
                term = self.node("Mul", [term, self.ints([num])])
            total = term if total is None else self.node("Add", [total, term])
        if const:
            total = self.node("Add", [total, self.ints([const])])
        if den != 1:
            total = self.node("Div", [total, self.ints([den])])
        self._dims[key] = total
        return total

    def _axis(self, axis):
        key = ("axis", axis)
        if key not in self._dims:
            src, d = self.axis_src[axis]
            self._dims[key] = self.node("Gather", [self.node("Shape", [src]), self.ints([d])])
        return self._dims[key]

    def shape(self, dims):
        """A 1-D int64 tensor holding the sizes ``dims`` (ints and Syms)."""
        if not any(isinstance(d, Sym) for d in dims):
            return self.ints(dims)
        parts, run = [], []
        for d in dims:
            if isinstance(d, Sym):
                if run:
                    parts.append(self.ints(run))
                    run = []
                parts.append(self.dim(d))
            else:
                run.append(d)
        if run:
            parts.append(self.ints(run))
        return self.node("Concat", parts, axis=0)

    def scalar_int(self, d, dtype):
        """``d`` (int or Sym) as a 0-d tensor of ``dtype``."""
        if not isinstance(d, Sym):
            return self.const(d, dtype)
        out = self.node("Reshape", [self.dim(d), self.ints([])])
        return out if dtype == backend.int64 else self.cast(out, dtype)

    # -- small helpers converters share ---------------------------------------------------
    def cast(self, name, dtype):
        """Cast ``name`` to ``dtype``."""
        return self.node("Cast", [name], to=self.onnx_type(dtype))

    def onnx_type(self, dtype):
        """The TensorProto type of a NumPy dtype."""
        try:
            return self.helper.np_dtype_to_tensor_dtype(xp.dtype(dtype))
        except (KeyError, TypeError, ValueError):
            raise OnnxExporterError(f"tg.onnx.export: ONNX has no type for {dtype}") from None

    def reduce(self, op_type, x, axes, keepdims):
        """Reduce* over ``axes`` (None: all), as the opset wants them (an input from opset 18,
        ReduceSum from 13; an attribute before)."""
        keep = int(bool(keepdims))
        if axes is None:
            return self.node(op_type, [x], keepdims=keep)
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.node(op_type, [x, self.ints(axes)], keepdims=keep)
        return self.node(op_type, [x], axes=list(axes), keepdims=keep)

    def unsqueeze(self, x, axes):
        """Unsqueeze at ``axes`` (an input since opset 13)."""
        return self.node("Unsqueeze", [x, self.ints(axes)])

    def squeeze(self, x, axes):
        """Squeeze ``axes`` (an input since opset 13)."""
        return self.node("Squeeze", [x, self.ints(axes)])


def _label(arr):
    if arr.size == 1:
        v = arr.reshape(-1)[0].item()
        v = f"{v:.6g}" if isinstance(v, float) else v
        return str(v).replace("-", "neg").replace(".", "_").replace("+", "")[:16]
    return "x".join(map(str, arr.shape)) or "scalar"
