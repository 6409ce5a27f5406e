"""GradientTape (alias Tape): the tape as an object, in the three styles the seeds use.

* ML Odyssey quick start: ``tape.enable()``, ops, ``tape.backward()`` (from the last
  recorded output, into ``.grad``), ``tape.disable()``, ``tape.clear()``.
* ML Odyssey docs: ``with tape:`` (or ``start_recording()``/``stop_recording()``); every
  floating tensor entering a recorded op is watched; ``grads = tape.backward(loss)`` maps
  each such tensor to its gradient (``grads[x]``, ``grads.get(x)``, ``grads.items()``).
* TensorFlow / TenfloweRS: ``tape.watch(t)``, ``tape.variable(data)``,
  ``tape.gradient(target, sources)``; ``persistent=True`` answers many times and records
  its own gradient computation, so gradients of gradients work.

All of them run the one engine behind ``Tensor.backward`` and ``tg.grad``.
"""
import collections
import math
import warnings

from . import backend
from .core import engine
from .core.function import next_seq, zeros_like
from .core.modes import STATE
from .core.node import LeafNode
from .core.tensor import Tensor, _make

TapeEntry = collections.namedtuple("TapeEntry", ["index", "op", "shape", "dtype", "inputs"])
LAST_TAPE = [None]


class Gradients(collections.abc.Mapping):
    """Gradients keyed by the tensors themselves (by identity, not by value)."""

    def __init__(self, pairs=()):
        self._d = {id(t): (t, g) for t, g in pairs}

    def __getitem__(self, t):
        try:
            return self._d[id(t)][1]
        except KeyError:
            raise KeyError("this tensor was not recorded on the tape (it never entered a "
                           "recorded op), so it has no gradient here") from None

    def get(self, t, default=None):
        pair = self._d.get(id(t))
        return default if pair is None else pair[1]

    def __contains__(self, t):
        return id(t) in self._d

    def __iter__(self):
        return (t for t, _ in self._d.values())

    def __len__(self):
        return len(self._d)

    def items(self):
        return [(t, g) for t, g in self._d.values()]

    def __repr__(self):
        return f"Gradients({len(self)} tensors)"


class GradientTape:
    """Records ops while enabled; computes gradients of what it recorded."""

    def __init__(self, persistent=False, watch_accessed_variables=True, release_on_exit=False):
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self.release_on_exit = release_on_exit  # free everything when the `with` block ends
        self._released = False
        self._reset()

    def _reset(self):
        self._nodes = []        # recorded nodes, in recording order
        self._seen = {}         # id(t) -> (t, node): tensors that entered recorded ops
        self._watched = {}      # id(t) -> (t, node): tensors watched explicitly
        self._used = False

    # -- recording ---------------------------------------------------------------------
    def enable(self):
        """Start recording (the ML Odyssey name)."""
        self._check_open()
        if self in STATE.tapes:
            raise ValueError("Tape is still recording: this GradientTape is already active, and "
                             "re-entering it is not allowed. Use a second tape for nesting.")
        STATE.tapes = STATE.tapes + (self,)
        LAST_TAPE[0] = self
        for t, node in list(self._watched.values()) + list(self._seen.values()):
            if node.watch and t.node is None:
                t.node = node
        return self

    start_recording = enable

    def disable(self):
        """Stop recording; what was recorded stays until backward, gradient or clear."""
        if self in STATE.tapes:
            STATE.tapes = tuple(t for t in STATE.tapes if t is not self)
        for t, node in list(self._watched.values()) + list(self._seen.values()):
            if node.watch and t.node is node:
                t.node = None  # watching ends with recording; the tape keeps the node
        return self

    stop_recording = disable

    @property
    def recording(self):
        """Whether this tape is recording now (entered or enabled, not stopped)."""
        return self in STATE.tapes

    def __enter__(self):
        return self.enable()

    def __exit__(self, *exc):
        self.release() if self.release_on_exit else self.disable()

    def _record(self, node, args):
        self._nodes.append(node)
        seen = self._seen
        for a in args:
            if isinstance(a, Tensor) and a.node is not None and id(a) not in seen:
                seen[id(a)] = (a, a.node)

    def watch(self, tensor):
        """Track ``tensor`` (or a list of tensors) so gradients with respect to it can be
        taken, without setting requires_grad. Non-floating tensors are skipped with a warning."""
        self._check_open()
        if isinstance(tensor, (list, tuple)):
            for t in tensor:
                self.watch(t)
            return
        if not backend.is_floating(tensor.dtype):
            warnings.warn(f"GradientTape.watch: a {tensor.dtype} tensor can't have gradients; "
                          f"it is not watched. Convert it with .float() first.", stacklevel=2)
            return
        if tensor.node is None:
            tensor.node = LeafNode(tensor, next_seq(), watch=True)
        self._watched[id(tensor)] = (tensor, tensor.node)

    def variable(self, data, dtype=None):
        """A new trainable tensor (requires_grad=True) watched by this tape."""
        from .creation import tensor
        t = data.detach() if isinstance(data, Tensor) else tensor(data, dtype=dtype)
        if not backend.is_floating(t.dtype):
            t = t.float()
        t = Tensor(t._data).requires_grad_(True)
        self._watched[id(t)] = (t, t.node)
        return t

    def custom_op(self, op, inputs):
        """Apply a seed-style CustomOp to ``inputs`` (recorded like any op)."""
        from .autograd.custom_op import custom_op
        self._check_open()
        return custom_op(op, inputs)

    # -- gradients ---------------------------------------------------------------------
    def gradient(self, target, sources, output_gradients=None, unconnected_gradients=None):
        """d target / d sources, in the order of ``sources`` (a single tensor gives a single
        gradient). An unconnected source is an error unless ``unconnected_gradients`` is
        'none' (give None) or 'zero' (give zeros)."""
        self._check_open()
        if self._used and not self.persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one set "
                               "of gradients (or jacobians); create it with "
                               "GradientTape(persistent=True) to call gradient() repeatedly.")
        single = isinstance(sources, Tensor)
        sources = [sources] if single else list(sources)
        nodes = [self._node_of(s, i) for i, s in enumerate(sources)]
        roots = engine._roots([target], [output_gradients], "output_gradients=")
        p = self.persistent
        got = engine.run_backward(roots, p, p, targets=set(nodes), accumulate=False)
        out = []
        for i, (s, n) in enumerate(zip(sources, nodes)):
            g = got.get(n)
            if g is None:
                if unconnected_gradients == "zero":
                    g = zeros_like(s)
                elif unconnected_gradients != "none":
                    raise RuntimeError(
                        f"source {i} (shape {list(s.shape)}) is not connected to the target: no "
                        f"recorded op leads from it to the target. Pass "
                        f"unconnected_gradients='none' (or 'zero') if this is expected.")
            elif not p:
                g = g.detach()
            out.append(g)
        if not p:
            self._drop()
        self._used = True
        return out[0] if single else out

    def jacobian(self, target, source):
        """d target / d source as a tensor of shape target.shape + source.shape."""
        self._check_open()
        if self._used and not self.persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one set "
                               "of gradients (or jacobians); use GradientTape(persistent=True).")
        node = self._node_of(source, 0)
        rows = []
        n = target.numel()
        xp = backend.array_module(target._data)
        for k in range(n):
            seed = xp.zeros(target.shape, target.dtype)
            seed.reshape(-1)[k] = 1
            got = engine.run_backward(engine._roots([target], [_make(seed)], ""), True,
                                      self.persistent, targets={node}, accumulate=False)
            g = got.get(node)
            rows.append(zeros_like(source)._data if g is None else g._data)
        if not self.persistent:
            self._drop()
        self._used = True
        return _make(xp.stack(rows).reshape(tuple(target.shape) + tuple(source.shape)))

    def backward(self, loss=None, retain_graph=False):
        """Backpropagate from ``loss`` (default: the last output recorded), accumulate into the
        ``.grad`` of leaves that require grad, and return the gradient of every tensor that
        entered a recorded op. Without retain_graph the tape is emptied and can record again."""
        self._check_open()
        if loss is None:
            if not self._nodes:
                raise RuntimeError("tape.backward(): nothing was recorded on this tape")
            node = self._nodes[-1]
            if math.prod(node.shape) != 1:
                raise RuntimeError(f"tape.backward() starts from the last recorded output, which "
                                   f"has shape {list(node.shape)}; gradients can be implicitly "
                                   f"created only for scalar outputs. Pass the loss explicitly.")
            dev = node.device or backend.CPU     # (where the output is)
            with backend.on_device(dev):
                seed = backend.module_for(dev).ones(node.shape, node.dtype)
            roots = [(node, _make(seed))]
        else:
            roots = engine._roots([loss], [None], "tape.backward")
        pairs = list(self._seen.values()) + list(self._watched.values())
        got = engine.run_backward(roots, retain_graph, False, targets={n for _, n in pairs},
                                  accumulate=True)
        grads = Gradients((t, got[n]) for t, n in pairs if n in got)
        if not retain_graph:
            self._drop()
        return grads

    def _node_of(self, t, i):
        if not isinstance(t, Tensor):
            raise TypeError(f"source {i} must be a Tensor, got {type(t).__name__}")
        if t.node is not None:
            return t.node
        pair = self._watched.get(id(t)) or self._seen.get(id(t))
        if pair is not None:
            return pair[1]
        raise RuntimeError(f"source {i} (shape {list(t.shape)}) is neither watched by this tape "
                           f"nor requires grad (requires_grad=False); call tape.watch(x) first "
                           f"or create it with tape.variable(...)")

    def _drop(self):
        recording = self.recording
        self.disable()
        self._reset()
        if recording:
            self.enable()

    # -- inspection and lifetime -------------------------------------------------------
    def clear(self):
        """Forget everything recorded (frees the memory it pinned); keeps recording state."""
        self._drop()

    def release(self):
        """Free the tape for good: what its recorded ops saved for backward is freed now,
        even while the tape object or the results live on (a later backward through them
        raises GraphFreedError); any later use of the tape raises."""
        self.disable()
        for node in self._nodes:
            if not node.is_leaf:
                node.release()
        self._reset()
        self._released = True

    close = release

    def _check_open(self):
        if self._released:
            raise RuntimeError("this GradientTape was released (release()/close()); create a new "
                               "one instead of reusing it")

    def __len__(self):
        return len(self._nodes)

    def __iter__(self):
        return (entry(i, n) for i, n in enumerate(self._nodes))

    def __repr__(self):
        state = "recording" if self.recording else "idle"
        return f"<GradientTape {state}, {len(self)} ops, persistent={self.persistent}>"


def entry(i, node):
    return TapeEntry(i, node.name, tuple(node.shape), str(node.dtype),
                     tuple(None if n is None else _node_id(n) for n in node.next))


def _node_id(n):
    return f"leaf#{n.seq}" if n.is_leaf else f"#{n.seq}"


Tape = GradientTape
