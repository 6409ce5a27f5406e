"""Reverse mode: replay the recorded nodes that lead to the outputs, newest first.

Nodes are numbered in recording order, and an op's inputs always come from older nodes,
so popping a max-heap on that number visits each node after all its consumers, exactly
once, without recursion. VJPs run as ordinary tensor ops: with ``create_graph=True``
grad mode stays on and the backward pass is itself recorded.
"""
import heapq
import operator
import threading
import warnings

from .. import backend
from .countdown import Countdown
from . import function as _function
from .function import Cast, zeros_like
from .modes import STATE
from .node import POST_HOOKS
from .tensor import Tensor, _make

xp = backend.xp
ndarray = backend.ndarray
array_module = backend.array_module
_LOCK = threading.RLock()  # backward passes run one at a time; .grad updates never interleave
_warned_create_graph = []


def run_backward(roots, retain_graph, create_graph, targets=None, accumulate=True):
    """Propagate ``roots`` ([(node, grad)]) back through the graph.

    ``targets``: nodes whose incoming gradient to return (others are pruned away when
    ``accumulate`` is False). ``accumulate``: add into ``.grad`` of leaves requiring grad.
    Returns {node: gradient} for the targets reached. Leaves are updated only after the
    whole pass succeeded, except those with post-accumulate hooks: they are updated (and
    their hooks run) as soon as their last contribution has arrived.

    A first-order pass (no graph of the backward pass wanted, no forward-mode tangents, no
    trace, vmap, anomaly mode or profiler) carries plain arrays: the VJP rules that allow
    it (``Function.array_vjp``) run on arrays and build no tensors or nodes; the others get
    a tensor around their gradient.
    """
    st = STATE
    arrays = not (create_graph or st.special and (st.fw_levels or st.trace is not None or
                                                 st.vmap or st.anomaly or st.profile))
    needed = None if accumulate or targets is None else _leading_to(roots, targets)
    grads = {}
    heap = []
    leaf_grads = {}
    for node, g in roots:
        _add_root(node, g._data if arrays else g, grads, heap, leaf_grads)
    captured = {}
    shared = {id(g._data) for _, g in roots}  # the caller's arrays: never stored as .grad
    ready = None
    if accumulate and POST_HOOKS[0]:
        ready = Countdown(roots, leaf_grads, lambda n, g: _finish_early(n, g, create_graph,
                                                                          shared)) or None
    with _LOCK:
        prev = st.grad_enabled
        st.grad_enabled = create_graph
        try:
            with backend.errstate(divide="ignore", invalid="ignore", over="ignore"):
                _drain(heap, grads, leaf_grads, captured, targets, needed, retain_graph,
                       create_graph, ready, arrays)
        finally:
            st.grad_enabled = prev
        for node, g in leaf_grads.items():
            if arrays:
                g = _tensor(g)
            if node.hooks:
                g = _run_hooks(node, g)
            if targets is not None and node in targets:
                captured[node] = g
                shared.add(id(g._data))  # returned to the caller: .grad gets its own copy
            if accumulate and not node.watch:
                _accumulate(node, g, create_graph, shared)
                if node.post_hooks:
                    _run_post_hooks(node)
    return captured


def _add_root(node, g, grads, heap, leaf_grads):
    store = leaf_grads if node.is_leaf else grads
    if node in store:
        store[node] = store[node] + g
    else:
        store[node] = g
        if not node.is_leaf:
            heapq.heappush(heap, (-node.seq, node))


def _drain(heap, grads, leaf_grads, captured, targets, needed, retain_graph, create_graph,
           ready, arrays):
    heappop, heappush = heapq.heappop, heapq.heappush
    st = STATE
    special = st.special
    anomaly = st.anomaly
    check = anomaly or _function.DEVICES   # each gradient's device, when a GPU is in use
    prof = STATE.profile
    # sums of gradients: tensor ops when they must carry a graph or forward-mode tangents,
    # else arrays; those this pass allocated (``owned``) take later terms in place
    by_ops = create_graph or bool(STATE.fw_levels) or STATE.trace is not None
    owned = set()
    while heap:
        node = heappop(heap)[1]
        g = grads.pop(node)
        if owned:
            owned.discard(id(g))
        if node.marked:   # hooks, retained grads, freed or checkpointed
            g = _visit_marked(node, g, create_graph, arrays)
        if targets is not None:
            if node in targets:
                captured[node] = _tensor(g) if arrays else g
            if needed is not None and needed.isdisjoint(node.next):
                if not retain_graph:
                    node.release()
                continue
        fn = node.fn
        try:
            if arrays and fn.array_vjp:   # the rule on plain arrays (see STATE.arrays)
                st.arrays = st.special = True
                try:
                    if check and node.device is not None:
                        with backend.on_device(node.device):
                            out = fn.vjp(node, g)
                    else:
                        out = fn.vjp(node, g)
                finally:
                    st.arrays = False
                    st.special = special
            else:
                if arrays:
                    g = _tensor(g)
                if check and node.device is not None:   # allocate on the op's device
                    with backend.on_device(node.device):
                        out = fn.vjp(node, g) if prof is None else prof.run_backward(node, g)
                else:
                    out = fn.vjp(node, g) if prof is None else prof.run_backward(node, g)
        except Exception as e:
            e.add_note(f"(raised in the backward of '{node.name}'"
                       + (f", called at {node.where})" if node.where else ")"))
            raise
        nxt = node.next
        if type(out) is not tuple:
            out = (out,)
        if len(out) != len(nxt):
            raise RuntimeError(f"function '{node.name}' returned an incorrect number of gradients "
                               f"(expected {len(nxt)}, got {len(out)})")
        for n, gi in zip(nxt, out):
            if n is None or gi is None or needed is not None and n not in needed:
                continue
            if arrays:
                if type(gi) is not ndarray and isinstance(gi, Tensor):
                    gi = gi._data
                # (dtypes by identity: a quick test; _conform compares them by value)
                if check or gi.shape != n.shape or gi.dtype is not n.dtype:
                    gi = _conform(node, nxt, n, _tensor(gi), anomaly)._data
            elif (check or type(gi) is not Tensor or gi._data.shape != n.shape
                    or gi._data.dtype is not n.dtype):
                gi = _conform(node, nxt, n, gi, anomaly)
            if n.is_leaf:
                prev = leaf_grads.get(n)
                if prev is None:
                    leaf_grads[n] = gi
                    continue
                store = leaf_grads
            else:
                prev = grads.get(n)
                if prev is None:
                    grads[n] = gi
                    heappush(heap, (-n.seq, n))
                    continue
                store = grads
            if by_ops:
                store[n] = prev + gi
            elif arrays:
                if id(prev) in owned:
                    prev += gi
                else:
                    store[n] = prev = prev + gi
                    if type(prev) is ndarray:
                        owned.add(id(prev))
            elif id(prev) in owned:
                arr = prev._data
                arr += gi._data
            else:
                arr = prev._data + gi._data
                store[n] = prev = _make(arr if type(arr) is ndarray else _as_array(arr))
                owned.add(id(prev))
        if ready is not None:
            ready.count_down(node)
        if not retain_graph:
            node.release()


def _tensor(g):
    """A gradient carried as an array (or a NumPy scalar) as a tensor, for the rules, hooks
    and callers that take tensors."""
    return g if isinstance(g, Tensor) else _make(g if type(g) is ndarray else _as_array(g))


def _finish_early(n, g, create_graph, shared):
    """A leaf with post-accumulate hooks whose gradient is complete: its tensor hooks,
    accumulation (into its own buffer: parts of the pass still to run may hold ``g``'s
    array) and post hooks, now rather than at the end of the pass."""
    g = _tensor(g)
    if n.hooks:
        g = _run_hooks(n, g)
    shared.add(id(g._data))
    _accumulate(n, g, create_graph, shared)
    _run_post_hooks(n)


def _run_post_hooks(node):
    t = node.ref()
    if t is not None:
        for hook in list(node.post_hooks):
            hook(t)


def _visit_marked(node, g, create_graph, arrays):
    """A node with a checkpoint to recompute (first: that brings back what its segment set
    on it), freed saved values (raises), tensor hooks or retain_grad() requests: its
    gradient after the hooks (as it came: a tensor, or an array in an array-level pass)."""
    if node.consumed:
        node._check_alive("saved tensors")
    if node.ckpt is not None:
        node.ckpt.restore()
    if node.hooks or node.retains:
        t = _tensor(g)
        if node.hooks:
            t = _run_hooks(node, t)
        if node.retains:
            _retain(node, t, create_graph)
        g = t._data if arrays else t
    return g


def _conform(node, nxt, n, gi, anomaly):
    """The gradient ``gi`` for input ``n`` as a tensor of its dtype (cast if needed); a
    wrong shape is an error in the op's vjp; anomaly mode checks it is finite."""
    i = next(k for k, m in enumerate(nxt) if m is n)
    if not isinstance(gi, Tensor):
        gi = _make(_as_array(gi))
    want, got = _device_of_node(n), backend.device_of(gi._data)
    if want is not None and got != want:
        raise RuntimeError(
            f"function '{node.name}' returned an invalid gradient at index {i} - expected "
            f"device {want} but got {got}")
    if gi._data.shape != n.shape:
        raise RuntimeError(
            f"function '{node.name}' returned an invalid gradient at index {i} - got "
            f"{list(gi._data.shape)} but expected shape {list(n.shape)}")
    if gi._data.dtype != n.dtype:
        gi = Cast.apply(gi, dtype=n.dtype)
    if anomaly:
        _check_finite(node, i, gi)
    return gi


def _as_array(a):
    """An op's or hook's result as an array of its own device (NumPy scalars: 0-d)."""
    if isinstance(a, backend.generic):
        return xp.asarray(a)
    return a if backend.is_array(a) else xp.asarray(a)


def _device_of_node(n):
    """Where gradients for node ``n`` must arrive: its op's device, or its leaf's (None for
    a leaf no longer alive: nothing to check)."""
    if n.is_leaf:
        t = n.ref()
        return None if t is None else backend.device_of(t._data)
    return n.device or backend.CPU


def _leading_to(roots, targets):
    """The nodes from which some target can be reached (the rest need no gradient)."""
    seen = {None}    # (None stands for an input that takes no gradient)
    stack = [n for n, _ in roots]
    pop, push = stack.pop, stack.extend
    while stack:
        n = pop()
        if n not in seen:
            seen.add(n)
            push(n.next)
    seen.discard(None)
    needed = set(targets)
    isdisjoint = needed.isdisjoint
    for n in sorted(seen, key=_seq_of):  # inputs before the ops that consume them
        if not isdisjoint(n.next):
            needed.add(n)
    return needed


_seq_of = operator.attrgetter("seq")


def _run_hooks(node, g):
    for hook in list(node.hooks):
        r = hook(g)
        if r is not None:
            if not isinstance(r, Tensor):
                r = _make(_as_array(r))
            if r.shape != g.shape or r.dtype != g.dtype or r.device != g.device:
                raise RuntimeError(
                    f"hook '{getattr(hook, '__name__', hook)}' returned a gradient of shape "
                    f"{list(r.shape)}, dtype {r.dtype} and device {r.device}; expected shape "
                    f"{list(g.shape)}, dtype {g.dtype} and device {g.device}")
            g = r
    return g


def _retain(node, g, create_graph):
    for ref in node.retains:
        t = ref()
        if t is not None:
            gg = g if create_graph else g.detach()
            t._grad = gg if t._grad is None else t._grad + gg


def _check_finite(node, i, g):
    m = array_module(g._data)
    if not m.isfinite(g._data).all():
        kind = "nan" if m.isnan(g._data).any() else "inf"
        where = f" It was called at {node.where}." if node.where else ""
        raise RuntimeError(f"Function '{node.name}' returned {kind} values in its {i}th output "
                           f"during backward (detect_anomaly).{where}")


def _accumulate(node, g, create_graph, shared):
    t = node.ref()
    if t is None:
        return
    old = t._grad
    if create_graph:
        t._grad = g if old is None else old + g
        return
    if STATE.trace is not None:  # as ops, which the tracer records
        if old is None:
            if g._data.base is not None or id(g._data) in shared:
                g = g.clone()
            shared.add(id(g._data))
        t._grad = g if old is None else old + g
        return
    arr = g._data
    if old is None:
        # keep the buffer only if nobody else can see it: not a view, not the caller's
        # gradient, not already given to another leaf
        if arr.base is not None or not backend.is_writeable(arr) or id(arr) in shared:
            arr = arr.copy()
        shared.add(id(arr))
        t._grad = _make(arr)
    elif backend.is_writeable(old._data) and old._data.dtype == arr.dtype:
        d = old._data
        d += arr
        old._vc[0] += 1
    else:
        t._grad = _make(old._data + arr)


# -- the front doors -----------------------------------------------------------------------
def _seed(t, g, where):
    """The starting gradient for output ``t`` (ones for a single-element output)."""
    if g is None:
        if t._data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs, but this output has "
                f"shape {list(t.shape)}. Reduce it first (.sum() or .mean()), pass the gradient "
                f"explicitly ({where}), or use tg.func.jacobian for the full Jacobian.")
        d = t._data
        if type(d) is ndarray:
            return _make(xp.ones(d.shape, d.dtype))
        with backend.on_device(t.device):
            return _make(array_module(d).ones(d.shape, d.dtype))
    if not isinstance(g, Tensor):
        g = _make(backend.to_device(_as_array(g), t.device))
    if g.device != t.device:
        raise RuntimeError(f"the gradient is on {g.device} but the output is on {t.device}; "
                           f"they must be on the same device ({where})")
    if g.shape != t.shape:
        raise RuntimeError(f"Mismatch in shape: the gradient has a shape of {list(g.shape)} and "
                           f"the output has a shape of {list(t.shape)}; they must be equal")
    if not backend.is_floating(g.dtype):
        raise TypeError(f"the gradient must be a floating tensor, got {g.dtype}")
    if g.dtype != t.dtype:
        g = Cast.apply(g, dtype=t.dtype)
    return g


def _roots(outputs, grad_outputs, where):
    roots = []
    for i, (t, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(t, Tensor):
            raise TypeError(f"outputs must be tensors, got {type(t).__name__} at position {i}")
        if t.node is None:
            raise RuntimeError(_no_graph_message(t, i))
        roots.append((t.node, _seed(t, g, where)))
    return roots


def _no_graph_message(t, i):
    base = (f"element {i} of tensors does not require grad and does not have a grad_fn: ")
    src = t._src
    if src is None:
        why = ("it is a leaf created with requires_grad=False; create it with "
               "requires_grad=True (or call .requires_grad_()) before computing with it")
    elif src[1] == "no_grad":
        why = (f"it was computed by '{src[0]}' under no_grad() (grad mode off), so nothing was "
               f"recorded; compute it with grad mode on")
    elif src[1] == "detach":
        why = "it is the result of detach(), which cuts the graph"
    elif src[1] == "compiled":
        why = ("it was returned by a tg.compile'd function, whose results carry no graph (a "
               "replay records none); call backward inside the compiled function (compile the "
               "whole training step), or leave this part uncompiled")
    elif src[1] == "constant":
        why = f"'{src[0]}' is not differentiable (its result is a constant)"
    else:
        why = (f"none of the inputs of '{src[0]}' required grad; set requires_grad=True on the "
               f"parameters you want gradients for (setting it on this result trains nothing)")
    return base + why


def backward(tensor, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """``tensor.backward()``: accumulate gradients into the ``.grad`` of leaves."""
    if retain_graph is None:
        retain_graph = create_graph
    if create_graph and not _warned_create_graph:
        _warned_create_graph.append(True)
        warnings.warn("backward(create_graph=True) stores graphs in .grad, which keeps them (and "
                      "their memory) alive until .grad is reset; prefer tg.grad(..., "
                      "create_graph=True) for higher-order gradients.", UserWarning, stacklevel=3)
    roots = _roots([tensor], [gradient], "tensor.backward(gradient)")
    if inputs is None:
        run_backward(roots, retain_graph, create_graph)
        return
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    nodes = _input_nodes(inputs)
    got = run_backward(roots, retain_graph, create_graph, targets=set(nodes), accumulate=False)
    for t, n in zip(inputs, nodes):
        if n in got:
            g = got[n]
            t._grad = g if t._grad is None else t._grad + g


def _input_nodes(inputs):
    nodes = []
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"inputs[{i}] must be a Tensor, got {type(t).__name__}")
        if not backend.is_floating(t.dtype):
            raise TypeError(f"can only differentiate with respect to floating tensors, but input "
                            f"{i} has dtype {t.dtype}; convert it with .to(tg.float32)")
        if t.node is None:
            raise RuntimeError(f"One of the differentiated Tensors (input {i}, shape "
                               f"{list(t.shape)}) does not require grad (requires_grad=False); "
                               f"set requires_grad=True on it before computing the outputs")
        nodes.append(t.node)
    return nodes


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False, materialize_grads=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned as a tuple; ``.grad`` is
    neither read nor written. With ``create_graph=True`` the result is differentiable."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    if retain_graph is None:
        retain_graph = create_graph
    nodes = _input_nodes(inputs)
    roots = _roots(outputs, grad_outputs, "grad_outputs=")
    got = run_backward(roots, retain_graph, create_graph, targets=set(nodes), accumulate=False)
    result = []
    for i, (t, n) in enumerate(zip(inputs, nodes)):
        g = got.get(n)
        if g is None:
            if materialize_grads:
                g = zeros_like(t)
            elif not allow_unused:
                raise RuntimeError(
                    f"One of the differentiated Tensors (input {i}, shape {list(t.shape)}) "
                    f"appears to not have been used in the graph. Set allow_unused=True if this "
                    f"is the desired behavior.")
        elif not create_graph or type(g) is not Tensor:
            fw = g._fw  # forward-mode tangents survive (forward over reverse)
            g = _make(g._data, g.node if create_graph else None)
            g._fw = fw
        result.append(g)
    return tuple(result)
