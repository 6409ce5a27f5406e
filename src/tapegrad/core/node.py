"""Tape entries. A Node is one recorded op: what ran, the nodes its inputs came from,
what it saved, and its place in recording order. It is also the ``ctx`` its rules see.

The graph points backwards only (output tensor -> node -> input nodes). A node never
holds its own output tensor (that would be a cycle); it keeps the output's array and
rebuilds a tensor on demand. Leaves that take gradients own a LeafNode, which holds
the leaf only weakly.
"""
import weakref

from .. import backend
from . import function
from .errors import GraphFreedError, InplaceModifiedError
from .modes import STATE


class Node:
    """One recorded op (also the ``ctx`` passed to its forward, vjp and jvp).

    Its place in the graph and what every op may save (inputs, output) live in slots; what
    a rule stores on ``ctx`` goes to the instance ``__dict__`` (over the class defaults
    below). Fewer objects per node means less work for Python's cyclic collector.
    """

    __slots__ = ("fn", "next", "seq", "shape", "dtype", "params", "consumed", "_saved",
                 "_versions", "_out", "_out_vc", "_out_v", "__dict__", "__weakref__")
    xp = backend.xp
    recording = True      # forwards keep what only backward needs when this is True
    is_leaf = False
    watch = False
    _out_fw = None        # the output's forward-mode tangents
    _user_saved = None    # ctx.save_for_backward(...)
    ckpt = None           # the checkpoint segment that must recompute what this node saved
    device = None         # None: the CPU (a DeviceNode names its accelerator device)
    marked = False        # hooks, retains or ckpt were set, or the node was released: the
    #                       engine's slower path (one check per node on the fast one)
    # rarely set, so they live in __dict__ (a recomputed checkpoint sets them again):
    where = None          # "file:line" of the forward call (anomaly mode)
    hooks = None          # tensor hooks: fn(grad) -> grad or None
    retains = None        # weakrefs to non-leaf tensors that called retain_grad()
    warned_grad = False   # reading .grad of this non-leaf warned already

    def __init__(self, fn, next_nodes, seq, params=None):
        self.fn = fn
        self.next = next_nodes
        self.seq = seq
        self.params = params
        self.consumed = False
        self._saved = None       # input tensors (Function.save_inputs) and their versions
        self._out = None         # output array (Function.save_output), its version counter
        #                          and version then (_out_vc, _out_v); shape and dtype: the
        #                          output's, set once the forward ran

    # -- what the rules read ------------------------------------------------------------
    @property
    def name(self):
        """The op's name (``"mul"``, ``"linear_op"``, ...)."""
        return self.fn.name

    @property
    def needs_input_grad(self):
        """One bool per input: whether a gradient for it is wanted."""
        return tuple([n is not None for n in self.next])

    @property
    def inputs(self):
        """The op's inputs as given (tensors are graph-connected, so rules built from them
        are differentiable again). Raises if a saved tensor was changed in place."""
        saved = self._saved
        if saved is None:
            self._check_alive("its inputs")
            raise RuntimeError(f"op '{self.name}' did not save its inputs (set save_inputs = True)")
        for t, v in zip(saved, self._versions):
            if v is not None and t._vc[0] != v:
                i = next(k for k, s in enumerate(saved) if s is t)
                raise InplaceModifiedError(self._inplace_msg(f"input {i}", t, v, t._vc[0]))
        if STATE.arrays:       # an array-level VJP: the arrays themselves
            return tuple([t._data if isinstance(t, function.Tensor) else t for t in saved])
        return saved

    @property
    def output(self):
        """The op's output as a tensor whose grad_fn is this node."""
        out = self._out
        if out is None:
            self._check_alive("its output")
            raise RuntimeError(f"op '{self.name}' did not save its output (set save_output = True)")
        if self._out_vc[0] != self._out_v:
            raise InplaceModifiedError(self._inplace_msg("its output", out, self._out_v, self._out_vc[0]))
        if STATE.arrays:
            return out
        t = function._make(out, self)
        t._fw = self._out_fw  # forward-mode tangents of the output, if any
        return t

    @property
    def saved_tensors(self):
        """Tensors stored with ``save_for_backward``, checked against in-place changes."""
        saved = self._user_saved
        if saved is None:
            self._check_alive("saved tensors")
            return ()
        out = []
        for i, (t, v) in enumerate(saved):
            if t is not None and t._vc[0] != v:
                raise InplaceModifiedError(self._inplace_msg(f"saved tensor {i}", t, v, t._vc[0]))
            out.append(t)
        return tuple(out)

    def save_for_backward(self, *tensors):
        """Keep ``tensors`` for backward (read back as ``saved_tensors``, checked against
        in-place changes)."""
        self._user_saved = tuple((t, t._vc[0] if t is not None else None) for t in tensors)

    def _check_alive(self, what):
        if self.consumed:
            raise GraphFreedError(
                f"Trying to backward through the graph a second time (or to read {what} of "
                f"'{self.name}' after they were freed). The first backward released the saved "
                f"tensors to save memory; pass retain_graph=True to the first backward (or "
                f"tg.grad) if you need to backward through this graph again.")

    def _inplace_msg(self, what, t, saved_v, now_v):
        shape = tuple(getattr(t, "shape", ()))
        dtype = getattr(t, "dtype", "?")
        msg = (f"one of the variables needed for gradient computation has been modified by an "
               f"in-place operation: {what} of '{self.name}' [{dtype} {list(shape)}] is at "
               f"version {now_v}; expected version {saved_v} (its value when '{self.name}' saved "
               f"it). Clone it before changing it in place, or use the out-of-place op.")
        if self.where:
            msg += f" '{self.name}' was called at {self.where}."
        else:
            msg += " Enable tg.autograd.detect_anomaly() to see where that op was called."
        return msg

    def release(self):
        """Drop everything the node saved (keep only its place in the graph); a later backward
        through it raises GraphFreedError."""
        self.__dict__.clear()
        self._saved = self._out = None
        self.consumed = self.marked = True

    def drop_saved(self):
        """Forget what the op saved (the checkpoint strips a segment this way)."""
        self.__dict__.clear()
        self._saved = self._out = None   # (their versions mean nothing without them)

    def take_saved(self, other):
        """Adopt what ``other`` (a recomputation of this op) saved."""
        self.__dict__.update(other.__dict__)
        self._saved = other._saved
        if other._saved is not None:
            self._versions = other._versions
        self._out = other._out
        if other._out is not None:
            self._out_vc, self._out_v = other._out_vc, other._out_v

    def __repr__(self):
        return f"<{self.name} backward #{self.seq}>"


#: how many post-accumulate-grad hooks are registered; while 0, backward counts no dependencies
POST_HOOKS = [0]


class LeafNode:
    """Where gradients for a leaf tensor arrive (PyTorch's AccumulateGrad).

    ``watch`` marks a tensor watched by a GradientTape without requires_grad: gradients
    reach the tape but never the tensor's ``.grad``.
    """

    __slots__ = ("ref", "seq", "shape", "dtype", "watch", "hooks", "post_hooks", "__weakref__")
    is_leaf = True
    next = ()
    consumed = False
    retains = None
    name = "leaf"

    def __init__(self, tensor, seq, watch=False):
        self.ref = weakref.ref(tensor)
        self.seq = seq
        self.shape = tensor.shape
        self.dtype = tensor.dtype
        self.watch = watch
        self.hooks = None
        self.post_hooks = None   # fn(tensor) after .grad is accumulated (see engine._count_down)

    def __repr__(self):
        return f"<{'watched' if self.watch else 'leaf'} {list(self.shape)} {self.dtype}>"
