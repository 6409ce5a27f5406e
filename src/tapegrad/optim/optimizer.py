"""Optimizer base class: parameter groups, zero_grad, step, state_dict.

Two calling styles (both from the seed documents):

    opt = SGD(model.parameters(), lr=0.01, momentum=0.9)     # PyTorch's
    loss.backward(); opt.step(); opt.zero_grad()

    opt = SGD(learning_rate=0.01, momentum=0.9)               # stateless-looking
    loss.backward(); opt.step(params); opt.zero_grad(params)

Updates run under no_grad on the parameters' own arrays, in place (no new tensors, no
copies of the parameters), and bump each parameter's version counter.

Differences from PyTorch, following tapegrad's reliability cases:
- State is keyed by stable parameter *names* in ``state_dict()``: the names from
  ``model.named_parameters()`` (recorded when ``model.parameters()`` is iterated), or
  given explicitly as ``(name, param)`` pairs, else ``"param<i>"`` by position.
  ``load_state_dict`` matches by name, checks group sizes and every state entry's shape,
  and raises one ValueError naming each offending parameter before changing anything.
- ``check_finite=True`` makes ``step()`` raise (naming the parameters) before it mutates
  anything when a gradient holds NaN or Inf: a step is all or nothing.
"""
import numbers

from .. import backend
from ..core.tensor import Tensor
from ..core.modes import no_grad, enable_grad, STATE
from ..core.tensor import _make
from ..core import function as _function
from ..nn.module import zero_grad_in_place
from ._arith import new_scalar

xp = backend.xp


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class: subclasses define ``_init_state(p, state, group)`` and
    ``_update(p, g, state, group)`` working on arrays in place."""

    traceable = False   # _update is written with operators only (tg.compile can trace it)
    _scalar_state = ("step",)   # 0-d float64 host state (not per element, not on a device)

    def __init__(self, params, defaults, check_finite=False):
        self.defaults = dict(defaults)
        self.check_finite = check_finite
        self.state = {}           # param tensor -> dict of per-parameter state
        self.param_groups = []
        self._names = {}          # id(param) -> stable name
        if params is None:
            return
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got a single Tensor; wrap it in a list")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list (did the model register "
                             "its Parameters? iterate model.parameters() only once per "
                             "optimizer: it is a generator)")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # -- groups and names ----------------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a group of parameters with its own options (``{"params": [...], "lr": 0.1}``);
        options not given take the optimizer's defaults.

        Args:
            param_group (dict): ``"params"``: a tensor, an iterable of tensors or of
                ``(name, tensor)`` pairs; any option of the optimizer.

        Raises:
            TypeError: ``param_group`` is not a dict, or a parameter is not a Tensor.
            ValueError: a parameter is not a leaf or is already in a group, or a required
                option (one without a default, such as SGD's ``lr``) is missing.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor) or (isinstance(params, tuple) and len(params) == 2
                                          and isinstance(params[0], str)):
            params = [params]
        else:
            params = list(params)
        plist = []
        for i, item in enumerate(params):
            name = None
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
                name, item = item
            if not isinstance(item, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but parameter #{i} of "
                                f"group {len(self.param_groups)} is a {type(item).__name__}")
            if not item.is_leaf:
                raise ValueError(f"can't optimize a non-leaf Tensor (parameter #{i}, made by "
                                 f"'{item.grad_fn.name}'); optimize the leaf it came from")
            if id(item) in self._names:
                raise ValueError(f"parameter '{self._names[id(item)]}' appears in more than "
                                 f"one parameter group (or twice in one)")
            if name is None:
                name = item.__dict__.get("_tg_name") if hasattr(item, "__dict__") else None
            if name is None or name in self._names.values():
                base = name or "param"
                k = sum(len(g["params"]) for g in self.param_groups) + len(plist)
                name = f"{base}#{k}" if name else f"param{k}"
            self._names[id(item)] = name
            plist.append(item)
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter '{k}'")
            group.setdefault(k, v)
        group["params"] = plist
        self.param_groups.append(group)

    def _name(self, p):
        return self._names.get(id(p), f"<unregistered {list(p.shape)}>")

    # -- zero_grad / step ----------------------------------------------------------------
    def zero_grad(self, params=None, set_to_none=True):
        """Reset gradients of the optimizer's parameters (or of ``params``, the seed form):
        to None by default, or to zeros with ``set_to_none=False``."""
        if isinstance(params, bool):
            params, set_to_none = None, params
        plist = self._all_params() if params is None else _as_list(params)
        for p in plist:
            if p._grad is None:
                continue
            if set_to_none:
                p._grad = None
            else:
                zero_grad_in_place(p)

    def _all_params(self):
        return [p for g in self.param_groups for p in g["params"]]

    def step(self, params=None, closure=None):
        """One update of every parameter that has a gradient. ``step(params)`` (the seed
        form) updates those parameters, registering them on first use; ``step(closure)``
        re-evaluates the loss first and returns it."""
        if callable(params) and not isinstance(params, (Tensor, list, tuple)):
            params, closure = None, params
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        selected = None
        if params is not None:
            plist = _as_list(params)
            new = [p for p in plist if id(p) not in self._names]
            if new:
                self.add_param_group({"params": new})
            selected = {id(p) for p in plist}
        work = []
        for group in self.param_groups:
            if selected is None:
                ps = [p for p in group["params"] if p._grad is not None]
            else:
                ps = [p for p in group["params"] if p._grad is not None and id(p) in selected]
            if ps:
                work.append((group, ps))
        if self.check_finite:
            bad = [f"'{self._name(p)}' {list(p.shape)}" for _, ps in work for p in ps
                   if not _finite(p._grad._data)]
            if bad:
                raise RuntimeError(
                    f"{type(self).__name__}.step(): non-finite (NaN/Inf) gradient in "
                    f"parameter(s) {', '.join(bad)}; no parameter was updated. Skip this batch, "
                    f"lower the learning rate or clip gradients (tg.nn.utils.clip_grad_norm_), "
                    f"and find the source with tg.autograd.detect_anomaly().")
        states, update, traced = self.state, self._update, STATE.trace is not None
        devices_in_use = _function.DEVICES
        with no_grad():
            for group, ps in work:
                for p in ps:
                    state = states.get(p)
                    if state is None:
                        state = states[p] = {}
                        with backend.on_device(p.device):
                            self._init_state(p, state, group)
                    elif devices_in_use:
                        _follow(state, p._data)
                    if traced:
                        _traced_update(self, p, state, group)
                        continue
                    w, g = p._data, p._grad._data
                    if g.dtype != w.dtype:
                        g = g.astype(w.dtype)
                    update(w, g, state, group)
                    p._vc[0] += 1
        return loss

    def apply_gradients(self, grads_and_vars):
        """The seed's form: ``opt.apply_gradients([(w, g), ...])`` sets each ``w.grad = g``
        and steps those parameters. With tg.Graph variables and gradient nodes it returns
        the update as a graph node (run it with ``graph.run``)."""
        pairs = list(grads_and_vars)
        if pairs and hasattr(pairs[0][0], "graph"):
            return pairs[0][0].graph.apply_gradients(self, pairs)
        for w, g in pairs:
            w.grad = g.detach() if isinstance(g, Tensor) else Tensor(g)
        self.step([w for w, _ in pairs])

    def _init_state(self, p, state, group):
        pass

    def _update(self, w, g, state, group):
        raise NotImplementedError

    # -- state dict ----------------------------------------------------------------------
    def state_dict(self):
        """``{"state": {name: {key: tensor or number}}, "param_groups": [{hyper..., "params":
        [names]}]}``; tensors share memory with the optimizer's state."""
        state = {}
        groups = []
        for group in self.param_groups:
            names = [self._name(p) for p in group["params"]]
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": names})
            for p, name in zip(group["params"], names):
                if p in self.state:
                    state[name] = {k: Tensor(v) if backend.is_array(v) else v
                                   for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and state saved by ``state_dict`` (matched by name).
        Everything is validated first; on any problem a ValueError lists all of them and
        nothing changes."""
        try:
            saved_groups = state_dict["param_groups"]
            saved_state = state_dict["state"]
        except (KeyError, TypeError):
            raise ValueError("not an optimizer state_dict: expected a dict with 'state' and "
                             "'param_groups' keys") from None
        problems = []
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter group(s), "
                             f"but the optimizer has {len(self.param_groups)}; build the "
                             f"optimizer with the same groups as the one that was saved")
        by_name = {}
        for gi, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            own = {self._name(p): p for p in group["params"]}
            names = list(saved["params"])
            if len(names) != len(own):
                problems.append(f"group {gi}: loaded state dict contains a parameter group "
                                f"with {len(names)} parameters, but the optimizer's group has "
                                f"{len(own)}")
            for n in names:
                if n not in own:
                    problems.append(f"group {gi}: parameter '{n}' in the checkpoint is not in "
                                    f"the optimizer")
            for n in own:
                if n not in names:
                    problems.append(f"group {gi}: the optimizer's parameter '{n}' is missing "
                                    f"from the checkpoint")
            by_name.update(own)
        for name, st in saved_state.items():
            p = by_name.get(name)
            if p is None:
                if not any(name in s["params"] for s in saved_groups):
                    problems.append(f"state for unknown parameter '{name}'")
                continue
            for k, v in st.items():
                arr = v._data if isinstance(v, Tensor) else v
                if backend.is_array(arr) and arr.ndim and arr.shape != p.shape:
                    problems.append(f"state '{k}' of parameter '{name}' has shape "
                                    f"{list(arr.shape)}, but the parameter has shape "
                                    f"{list(p.shape)}")
        if problems:
            raise ValueError(f"cannot load {type(self).__name__} state (nothing was changed):"
                             "\n\t" + "\n\t".join(problems))
        for group, saved in zip(self.param_groups, saved_groups):
            for k, v in saved.items():
                if k != "params":
                    group[k] = v
        self.state = {}
        for name, st in saved_state.items():
            p = by_name[name]
            new = {}
            for k, v in st.items():
                arr = v._data if isinstance(v, Tensor) else v
                if k in self._scalar_state and (isinstance(arr, (numbers.Real,
                                                                 backend.generic))
                                                or backend.is_array(arr)):
                    new[k] = new_scalar(float(arr))     # (older checkpoints: a number)
                elif backend.is_array(arr):             # on the parameter's device
                    dt = p.dtype if backend.is_floating(arr.dtype) else arr.dtype
                    new[k] = backend.to_device(arr, p.device).astype(dt, copy=True)
                elif isinstance(arr, backend.generic):
                    new[k] = arr.item()
                else:
                    new[k] = v
            self.state[p] = new

    # -- pickling (tg.save of the whole optimizer, copy.deepcopy) -------------------------
    def __getstate__(self):
        """The attributes, with each parameter's name kept beside the parameter (``_names``
        is keyed by ``id()``, which differs once the parameters are rebuilt) and without
        the traced learning-rate cells (a cache, keyed by ``id()`` too)."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_names", "_lr_cells")}
        state["_names"] = [(p, self._names[id(p)]) for p in self._all_params()
                           if id(p) in self._names]
        return state

    def __setstate__(self, state):
        """Restore what ``__getstate__`` gave, keying the names by the new parameters."""
        state = dict(state)
        names = state.pop("_names", [])
        self.__dict__.update(state)
        self._names = {id(p): str(n) for p, n in names}

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)


def _finite(arr):
    return bool(backend.array_module(arr).isfinite(arr).all())


def _follow(state, w):
    """Move the state arrays of a parameter that changed device (``model.to``) after its
    state was made, so the update meets them on one device (step counters stay on the
    host)."""
    dev = backend.device_of(w)
    for k, v in state.items():
        if backend.is_array(v) and v.ndim and backend.device_of(v) != dev:
            state[k] = backend.to_device(v, dev)


def _traced_update(opt, p, state, group):
    """The same ``_update`` on tensors sharing the arrays, while tg.compile traces: its
    operators then run as ops and its in-place updates as writes, which the tracer records.
    Only optimizers whose ``_update`` is written with operators (``traceable``) can."""
    if not opt.traceable:
        raise RuntimeError(
            f"tg.compile: {type(opt).__name__}.step() can't be traced (its _update is not "
            f"marked traceable: it may write NumPy arrays with out=, which a trace can't see); "
            f"compile the forward and backward only and call opt.step() after the compiled "
            f"function, or write _update with operators and set traceable = True")
    g = p._grad if p._grad.dtype == p.dtype else p._grad.to(p.dtype)
    st = {k: _make(v) if isinstance(v, backend.ndarray) else v for k, v in state.items()}
    opt._update(p.detach(), g, st, _traced_group(opt, group))
    state.update({k: v._data if isinstance(v, Tensor) else v for k, v in st.items()})
    p._vc[0] += 1


def _traced_group(opt, group):
    """The hyperparameters a traced update sees: the learning rate as a 0-d tensor whose
    array every replay refreshes from ``group["lr"]`` (so a scheduler's changes apply
    without tracing again), the others as numbers the trace watches (a change retraces)."""
    cells = opt.__dict__.setdefault("_lr_cells", {})
    cell = cells.get(id(group))
    if cell is None:
        cell = cells[id(group)] = xp.zeros((), xp.float64)
    cell[...] = group["lr"]
    STATE.trace.bind(group, "lr", cell)
    for k in group:
        if k not in ("params", "lr"):
            STATE.trace.watch(group, k)
    view = dict(group)
    view["lr"] = _make(cell)
    return view


def _as_list(params):
    if isinstance(params, Tensor):
        return [params]
    return [p[1] if isinstance(p, tuple) else p for p in params]


def resolve_lr(params, lr, learning_rate, default):
    """The seeds' spellings: ``SGD(learning_rate=0.01)`` and ``SGD(0.01)`` (a number where
    the parameters go). Returns (params, lr)."""
    if isinstance(params, numbers.Number):
        if lr is not None and lr is not required:
            raise TypeError("learning rate given twice (positionally and as lr=)")
        params, lr = None, params
    if learning_rate is not None:
        if lr is not None and lr is not required:
            raise TypeError("pass either lr= or learning_rate=, not both")
        lr = learning_rate
    if lr is None:
        lr = default
    if lr is not required and (not isinstance(lr, numbers.Number) or lr < 0):
        raise ValueError(f"invalid learning rate: {lr!r} (expected a number >= 0)")
    return params, lr
