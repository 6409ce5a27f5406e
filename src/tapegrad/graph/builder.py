"""tg.Graph: the seed's static-graph front door, lowered onto the compiled mode's IR.

    graph = tg.Graph()
    x = graph.placeholder("x", [None, 784])            # None: any size
    y = graph.placeholder("y", [None], dtype=tg.int64)
    w = graph.variable("w", tg.randn(784, 10) * 0.01)
    loss = graph.softmax_cross_entropy(graph.matmul(x, w), y)
    (gw,) = graph.gradients(loss, [w])
    train = tg.optim.SGD(lr=0.1).apply_gradients([(w, gw)])
    graph.run([loss, train], feed={x: X, y: Y})

Building only records symbolic nodes. ``run`` evaluates the nodes the fetches need with
the ordinary tensor ops under tg.compile (one compiled program per fetch list, traced again
per feed signature), so every op of the registry is a graph method, ``gradients`` are the
ops' own VJPs (recorded with create_graph, so gradients of gradients work) and the program
is the same IR with the same passes as tg.compile.
"""
from .. import backend
from ..core.engine import grad as _grad
from ..core.registry import OPS
from ..core.modes import no_grad
from ..core.tensor import Tensor, _make, _to_array
from .compiled import Compiled


class Node:
    """A symbolic value of a Graph. Operators and op methods build new nodes."""

    __slots__ = ("graph", "kind", "op", "args", "kwargs", "name", "shape", "dtype", "index")

    def __init__(self, graph, kind, op=None, args=(), kwargs=None, name=None, shape=None,
                 dtype=None, index=None):
        self.graph, self.kind, self.op, self.args = graph, kind, op, tuple(args)
        self.kwargs, self.name, self.shape = kwargs or {}, name, shape
        self.dtype, self.index = dtype, index

    def __getattr__(self, name):
        if name in OPS and OPS[name].method:
            return lambda *a, **k: self.graph._op(name, (self,) + a, k)
        raise AttributeError(f"graph node has no attribute or op method '{name}'")

    def __repr__(self):
        return f"<graph node {self.graph._label(self)}>"

    __hash__ = object.__hash__


def _binary(op, reflected=False):
    def f(self, other):
        args = (other, self) if reflected else (self, other)
        return self.graph._op(op, args, {})
    return f


for _d, _op in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "div"),
                ("pow", "pow"), ("matmul", "matmul")):
    setattr(Node, f"__{_d}__", _binary(_op))
    setattr(Node, f"__r{_d}__", _binary(_op, True))
Node.__neg__ = lambda self: self.graph._op("neg", (self,), {})
Node.__getitem__ = lambda self, key: self.graph._op("__getitem__", (self, key), {})


class Graph:
    """A static graph: placeholders fed per run, variables that persist, ops, gradients.
    ``Graph(device="cuda")`` keeps its variables and constants on that device and moves
    what is fed there (a replay runs on one device)."""

    def __init__(self, device=None):
        self.nodes = []
        self._compiled = {}
        self.device = backend.devices.resolve(device)

    # -- building -----------------------------------------------------------------------
    def _add(self, node):
        self.nodes.append(node)
        return node

    def placeholder(self, name, shape, dtype=None):
        """An input fed at run time; a None dimension takes any size. Without ``dtype`` it
        takes the dtype of what is fed (class labels arrive as int64; Python floats as
        float32); with one, a feed of another dtype is a TypeError."""
        dt = backend.as_dtype(dtype)
        return self._add(Node(self, "placeholder", name=name, shape=tuple(shape), dtype=dt))

    def variable(self, name, value, dtype=None):
        """A trainable tensor owned by the graph (a copy of ``value``), updated by assign or
        an optimizer's apply_gradients. ``.value`` reads it."""
        t = value.detach() if isinstance(value, Tensor) else Tensor(value, dtype=dtype)
        arr = backend.to_device(t._data, self.device)
        t = Tensor(arr.copy() if dtype is None or arr is not t._data else arr)
        if dtype is not None:
            t = Tensor(t._data.astype(dtype))
        if backend.is_floating(t.dtype):
            t.requires_grad_(True)
        return self._add(Node(self, "variable", name=name, shape=t.shape, dtype=t.dtype,
                              index=t))

    def constant(self, value):
        """Add a constant node holding ``value`` (copied to the graph's device).

        Args:
            value (Tensor, array or number): the constant.

        Returns:
            Node: the new node, usable as an argument of later ops.
        """
        t = value if isinstance(value, Tensor) else Tensor(value)
        t = Tensor(backend.to_device(t._data, self.device))
        return self._add(Node(self, "constant", shape=t.shape, dtype=t.dtype, index=t))

    def _op(self, op, args, kwargs):
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, Node) and a.graph is not self:
                raise ValueError(f"Graph.{op}: an argument belongs to another graph")
        return self._add(Node(self, "op", op=op, args=args, kwargs=kwargs))

    def __getattr__(self, name):
        if name in OPS:
            return lambda *a, **k: self._op(name, a, k)
        raise AttributeError(f"Graph has no op or attribute '{name}'")

    def softmax_cross_entropy(self, logits, labels):
        """Cross-entropy of (N, C) logits against integer labels, averaged over the batch."""
        return self._op("cross_entropy", (logits, labels), {})

    def gradients(self, loss, wrt):
        """d(loss)/d(each of wrt) as graph nodes built from the ops' VJPs (so they can be
        differentiated again). ``loss`` must be a scalar node."""
        wrt = list(wrt)
        for w in wrt:
            if not isinstance(w, Node) or w.graph is not self:
                raise ValueError("Graph.gradients: every target must be a node of this graph")
            if w.kind not in ("variable", "placeholder"):
                raise ValueError(f"Graph.gradients: gradients are taken with respect to "
                                 f"variables or placeholders, not {self._label(w)}")
        group = self._add(Node(self, "grads", args=(loss,) + tuple(wrt)))
        return [self._add(Node(self, "grad", args=(group,), index=i)) for i in range(len(wrt))]

    def assign(self, var, value):
        """A node that, when run, stores ``value`` into variable ``var``."""
        if var.kind != "variable":
            raise ValueError(f"Graph.assign: {self._label(var)} is not a variable")
        return self._add(Node(self, "assign", args=(var, value)))

    def apply_gradients(self, optimizer, pairs):
        """The update ``optimizer`` makes from [(variable, gradient node), ...]."""
        for w, _ in pairs:
            if w.kind != "variable" or w.graph is not self:
                raise ValueError("apply_gradients: each pair is (variable of this graph, node)")
            if not any(w.index is p for grp in optimizer.param_groups for p in grp["params"]):
                optimizer.add_param_group({"params": [w.index]})
        return self._add(Node(self, "update", op=optimizer, args=tuple(x for p in pairs for x in p)))

    # -- running ------------------------------------------------------------------------
    def run(self, fetches, feed=None):
        """Evaluate ``fetches`` (a node or a list of nodes) with placeholders bound by
        ``feed`` ({placeholder node or name: array}); returns NumPy arrays (None for
        assign/update nodes)."""
        single = isinstance(fetches, Node)
        flist = [fetches] if single else list(fetches)
        for f in flist:
            if not isinstance(f, Node):
                raise TypeError(f"Graph.run: fetches must be graph nodes, got {type(f).__name__}")
            if f.graph is not self:
                raise ValueError(f"Graph.run: fetch {self._label(f)} belongs to another graph; "
                                 f"run it with that graph's run()")
        holders = self._placeholders(flist)
        arrays = self._check_feed(holders, feed or {})
        key = tuple(id(f) for f in flist)
        fn = self._compiled.get(key)
        if fn is None:
            fn = self._compiled[key] = Compiled(self._program(flist, holders))
        grads_of = {id(w) for n in self.nodes if n.kind == "grads" for w in n.args[1:]}
        tensors = []
        for h, arr in zip(holders, arrays):
            t = _make(arr)
            if id(h) in grads_of and backend.is_floating(arr.dtype):
                t.requires_grad_(True)
            tensors.append(t)
        out = fn(*tensors)
        res = [None if o is None else o._data for o in out]
        return res[0] if single else res

    def compiled(self, fetches):
        """The Compiled function behind ``run(fetches)`` (its ``.graph`` is the IR)."""
        flist = [fetches] if isinstance(fetches, Node) else list(fetches)
        return self._compiled[tuple(id(f) for f in flist)]

    def _deps(self, n, seen):
        if id(n) in seen:
            return
        seen[id(n)] = n
        for a in list(n.args) + list(n.kwargs.values()):
            if isinstance(a, Node):
                self._deps(a, seen)
            elif isinstance(a, (list, tuple)):
                for b in a:
                    if isinstance(b, Node):
                        self._deps(b, seen)

    def _placeholders(self, flist):
        seen = {}
        for f in flist:
            self._deps(f, seen)
        return [n for n in self.nodes if n.kind == "placeholder" and id(n) in seen]

    def _check_feed(self, holders, feed):
        by_name = {}
        for k, v in feed.items():
            if isinstance(k, Node):
                if k.graph is not self:
                    raise ValueError(f"Graph.run: feed key {self._label(k)} belongs to "
                                     f"another graph")
                if k.kind != "placeholder":
                    raise ValueError(f"Graph.run: only placeholders can be fed, not "
                                     f"{self._label(k)}")
                by_name[id(k)] = v
            else:
                by_name[k] = v
        arrays = []
        for h in holders:
            v = by_name.get(id(h), by_name.get(h.name, _MISSING))
            if v is _MISSING:
                raise ValueError(f"Graph.run: placeholder '{h.name}' {_shape(h.shape)} is needed "
                                 f"by the fetches but was not fed; pass feed={{{h.name}: array}}")
            python_data = not isinstance(v, Tensor) and not backend.is_array(v)
            arr = v._data if isinstance(v, Tensor) else \
                v if backend.is_array(v) else _to_array(v)
            if python_data and h.dtype is not None and arr.dtype.kind == h.dtype.kind:
                arr = arr.astype(h.dtype)
            arr = backend.to_device(arr, self.device)
            if h.dtype is not None and arr.dtype != h.dtype:
                raise TypeError(f"Graph.run: placeholder '{h.name}' has dtype {h.dtype}, but "
                                f"the array fed for it has dtype {arr.dtype}; convert it "
                                f"(arr.astype(...)) before feeding")
            if len(arr.shape) != len(h.shape) or any(
                    d is not None and d != s for d, s in zip(h.shape, arr.shape)):
                raise ValueError(f"Graph.run: placeholder '{h.name}' has shape "
                                 f"{_shape(h.shape)}, but the array fed for it has shape "
                                 f"{list(arr.shape)}")
            arrays.append(arr)
        return arrays

    def _program(self, flist, holders):
        """The Python function of tensors that tg.compile traces for these fetches."""
        def program(*tensors):
            env = {id(h): t for h, t in zip(holders, tensors)}
            return [self._eval(f, env) for f in flist]
        return program

    def _eval(self, n, env):
        if id(n) in env:
            return env[id(n)]
        k = n.kind
        if k in ("variable", "constant"):
            r = n.index
        elif k == "op":
            args = [self._arg(a, env) for a in n.args]
            kwargs = {key: self._arg(a, env) for key, a in n.kwargs.items()}
            if n.op == "__getitem__":
                r = args[0][args[1]]
            else:
                r = OPS[n.op].fn(*args, **kwargs)
        elif k == "grads":
            loss = self._eval(n.args[0], env)
            wrt = [self._eval(w, env) for w in n.args[1:]]
            r = _grad(loss, wrt, create_graph=True, allow_unused=True, materialize_grads=True)
        elif k == "grad":
            r = self._eval(n.args[0], env)[n.index]
        elif k == "assign":
            var, val = n.args[0].index, self._eval(n.args[1], env)
            with no_grad():
                var._write(val._data if isinstance(val, Tensor) else backend.to_device(
                    backend.xp.asarray(val), self.device), "assign")
            r = None
        elif k == "update":
            opt, items = n.op, n.args
            pairs = [(items[i].index, self._eval(items[i + 1], env)) for i in range(0, len(items), 2)]
            for w, g in pairs:
                w._grad = g.detach()
            opt.step([w for w, _ in pairs])
            r = None
        else:
            raise RuntimeError(f"Graph.run: placeholder '{n.name}' was not fed")
        env[id(n)] = r
        return r

    def _arg(self, a, env):
        if isinstance(a, Node):
            return self._eval(a, env)
        if isinstance(a, (list, tuple)):
            return type(a)(self._arg(b, env) for b in a)
        return a

    # -- printing -----------------------------------------------------------------------
    def _label(self, n):
        i = next((k for k, m in enumerate(self.nodes) if m is n), "?")
        return f"%{n.name}" if n.name else f"%{i}"

    def __str__(self):
        lines = ["Graph {"]
        for n in self.nodes:
            lab = self._label(n)
            if n.kind == "placeholder":
                lines.append(f"  {lab} = placeholder {_shape(n.shape)} "
                             f"{n.dtype or 'any dtype'}")
            elif n.kind == "variable":
                lines.append(f"  {lab} = variable {list(n.shape)} {n.dtype}")
            elif n.kind == "constant":
                lines.append(f"  {lab} = constant {list(n.shape)} {n.dtype}")
            elif n.kind == "op":
                args = [self._show(a) for a in n.args]
                args += [f"{k}={self._show(v)}" for k, v in n.kwargs.items()]
                op = "getitem" if n.op == "__getitem__" else n.op
                lines.append(f"  {lab} = {op}({', '.join(args)})")
            elif n.kind == "grads":
                continue
            elif n.kind == "grad":
                grp = n.args[0]
                lines.append(f"  {lab} = gradient(d {self._label(grp.args[0])} / "
                             f"d {self._label(grp.args[1 + n.index])})")
            elif n.kind == "assign":
                lines.append(f"  {lab} = assign({self._label(n.args[0])}, "
                             f"{self._show(n.args[1])})")
            elif n.kind == "update":
                pairs = ", ".join(f"({self._label(n.args[i])}, {self._label(n.args[i + 1])})"
                                  for i in range(0, len(n.args), 2))
                lines.append(f"  {lab} = {type(n.op).__name__}.apply_gradients([{pairs}])")
        lines.append("}")
        return "\n".join(lines)

    __repr__ = __str__

    def _show(self, a):
        if isinstance(a, Node):
            return self._label(a)
        if isinstance(a, (list, tuple)):
            return "[" + ", ".join(self._show(b) for b in a) + "]"
        return repr(a)


_MISSING = object()


def _shape(shape):
    return "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"
