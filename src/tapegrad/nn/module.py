"""Module: the base class of layers and models (PyTorch's ``nn.Module``).

Assigning a Parameter, a Module or (through ``register_buffer``) a tensor to an attribute
registers it, in definition order; ``parameters()``, ``state_dict()`` and friends walk
those registries depth first, so every iteration order is deterministic.

Differences from PyTorch, following tapegrad's reliability cases:
- ``load_state_dict`` validates every key, shape and dtype before it writes anything and
  raises one error listing all problems (PyTorch casts dtypes silently and may apply a
  partial load). ``strict=False`` still rejects shape and dtype mismatches.
- ``copy.deepcopy(module)`` raises, naming the attribute path, when the module holds a
  non-leaf tensor (e.g. an activation cached in forward).
"""
import copy
import itertools
from collections import OrderedDict

from .. import backend
from ..core.tensor import Tensor, parse_to_args
from ..core.modes import STATE
from .parameter import Parameter, Buffer


class _Handle:
    """Returned by the ``register_*_hook`` methods; ``remove()`` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks):
        self.hooks = hooks
        self.id = next(self._ids)

    def remove(self):
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class Module:
    """Base class for all layers and models: subclass it and define ``forward``."""

    training = True

    def __init__(self, *args, **kwargs):
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_backward_hooks"] = OrderedDict()

    def forward(self, *args, **kwargs):
        """The computation of the module, called by ``module(*args)`` (which also runs the hooks).
        Subclasses define it; each layer's class docstring gives its input and output shapes.

        Raises:
            NotImplementedError: the subclass defines no ``forward``.
        """
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define "
                                  f"forward(self, ...) in the subclass")

    # -- attribute registration ----------------------------------------------------------
    def _check_init(self, name):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign '{name}' before Module.__init__() call; call "
                                 f"super().__init__() first in {type(self).__name__}.__init__")

    def __setattr__(self, name, value):
        d = self.__dict__
        if isinstance(value, Parameter):
            self._check_init(name)
            self._remove_from(name, "_buffers", "_modules")
            d.pop(name, None)
            d["_parameters"][name] = value
        elif isinstance(value, Module):
            self._check_init(name)
            self._remove_from(name, "_parameters", "_buffers")
            d.pop(name, None)
            d["_modules"][name] = value
        elif isinstance(value, Buffer):
            self._check_init(name)
            self.register_buffer(name, value, value.persistent)
        elif "_parameters" in d and name in d["_parameters"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter '{name}' "
                                f"(tg.nn.Parameter or None expected); wrap it: "
                                f"tg.nn.Parameter(value)")
            d["_parameters"][name] = None
        elif "_modules" in d and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module "
                                f"'{name}' (tg.nn.Module or None expected)")
            d["_modules"][name] = None
        elif "_buffers" in d and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer '{name}' "
                                f"(tg.Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _remove_from(self, name, *registries):
        for r in registries:
            self.__dict__[r].pop(name, None)

    def __getattr__(self, name):
        d = self.__dict__
        for r in ("_parameters", "_buffers", "_modules"):
            reg = d.get(r)
            if reg is not None and name in reg:
                return reg[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        d = self.__dict__
        for r in ("_parameters", "_buffers", "_modules"):
            if name in d.get(r, ()):
                del d[r][name]
                d["_non_persistent"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def register_buffer(self, name, tensor, persistent=True):
        """Register a tensor that is state but not a parameter (running statistics).
        Persistent buffers go into ``state_dict``."""
        self._check_init(name)
        if not isinstance(name, str) or "." in name or name == "":
            raise KeyError(f"buffer name must be a non-empty string without '.', got {name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} as buffer '{name}' "
                            f"(tg.Tensor or None expected)")
        if name in self.__dict__ and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        self._remove_from(name, "_parameters", "_modules")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def register_parameter(self, name, param):
        """Register ``param`` as a parameter named ``name`` (``self.name = param`` does the same).

        Args:
            name (str): the attribute name.
            param (Parameter or None): None registers the name without a parameter.

        Raises:
            TypeError: ``param`` is not a ``tg.nn.Parameter`` or None.
            AttributeError: called before ``Module.__init__``.
        """
        self._check_init(name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter '{name}' "
                            f"(tg.nn.Parameter or None expected)")
        self._remove_from(name, "_buffers", "_modules")
        self._parameters[name] = param

    def add_module(self, name, module):
        """Register ``module`` as a submodule named ``name`` (``register_module`` is the same).

        Args:
            name (str): the attribute name.
            module (Module or None): the submodule.

        Raises:
            TypeError: ``module`` is not a Module or None.
            AttributeError: called before ``Module.__init__``.
        """
        self._check_init(name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._remove_from(name, "_parameters", "_buffers")
        self._modules[str(name)] = module

    register_module = add_module

    def get_submodule(self, target):
        """The submodule at dotted path ``target`` (``"encoder.layers.0"``; ``""`` is ``self``).

        Raises:
            AttributeError: a part of the path names no submodule.
        """
        mod = self
        for part in filter(None, target.split(".")):
            if part not in mod._modules:
                raise AttributeError(f"{type(mod).__name__} has no submodule '{part}' "
                                     f"(looking up '{target}')")
            mod = mod._modules[part]
        return mod

    def get_parameter(self, target):
        """The parameter at dotted path ``target`` (``"encoder.0.weight"``).

        Raises:
            AttributeError: the path names no submodule or no parameter.
        """
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if name not in mod._parameters:
            raise AttributeError(f"{type(mod).__name__} has no parameter '{name}'")
        return mod._parameters[name]

    # -- calling -------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        d = self.__dict__
        if STATE.special and STATE.trace is not None:
            STATE.trace.watch(d, "training")   # tg.compile: eval()/train() later retraces
        if not (d.get("_forward_pre_hooks", 1) or d["_forward_hooks"] or d["_backward_hooks"]):
            return self.forward(*args, **kwargs)  # no hooks: nothing else to do per call
        for hook in list(self._forward_pre_hooks.values()):
            res = hook(self, args)
            if res is not None:
                args = res if isinstance(res, tuple) else (res,)
        if self._backward_hooks:
            from .hooks import wrap_inputs
            args, state = wrap_inputs(self, args)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            res = hook(self, args, out)
            if res is not None:
                out = res
        if self._backward_hooks:
            from .hooks import wrap_output
            out = wrap_output(self, out, state)
        return out

    def register_forward_pre_hook(self, hook):
        """``hook(module, args)`` runs before forward; a non-None result replaces args."""
        h = _Handle(self._forward_pre_hooks)
        self._forward_pre_hooks[h.id] = hook
        return h

    def register_forward_hook(self, hook):
        """``hook(module, args, output)`` runs after forward; a non-None result replaces
        the output."""
        h = _Handle(self._forward_hooks)
        self._forward_hooks[h.id] = hook
        return h

    def register_full_backward_hook(self, hook):
        """``hook(module, grad_input, grad_output)`` runs when the gradients with respect
        to the module's tensor inputs are computed; returning a tuple replaces grad_input."""
        h = _Handle(self._backward_hooks)
        self._backward_hooks[h.id] = hook
        return h

    register_backward_hook = register_full_backward_hook

    # -- traversal -----------------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """Yield ``(dotted name, module)`` for this module (name ``prefix``) and every submodule,
        depth first.

        Args:
            memo (set, optional): ids of modules already yielded.
            prefix (str): the name given to this module.
            remove_duplicate (bool): yield a module shared in several places once.
        """
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, prefix + ("." if prefix else "") + name,
                                       remove_duplicate)

    def modules(self):
        """Yield this module and every submodule, depth first, each once."""
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        """Yield ``(name, module)`` for the direct submodules, each once."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        """Yield the direct submodules, each once."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, registry, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, v in mod.__dict__[registry].items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield mod_prefix + ("." if mod_prefix else "") + name, v

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(name, Parameter) pairs in definition order, depth first; shared ones once."""
        for name, p in self._named_members("_parameters", prefix, recurse, remove_duplicate):
            p.__dict__["_tg_name"] = name   # lets an optimizer key its state by name
            yield name, p

    def parameters(self, recurse=True):
        """Yield the parameters of this module (and of its submodules when ``recurse``), each once,
        in registration order: what an optimizer takes.

        Args:
            recurse (bool): include the submodules' parameters.
        """
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        """Yield ``(dotted name, buffer)`` for the buffers (running statistics and the like).

        Args:
            prefix (str): put in front of every name.
            recurse (bool): include the submodules' buffers.
            remove_duplicate (bool): yield a shared buffer once.
        """
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        """Yield the buffers of this module (and of its submodules when ``recurse``)."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # -- modes and in-place changes ----------------------------------------------------------
    def train(self, mode=True):
        """Set training mode (dropout active, batch norm updating its statistics) on this module
        and every submodule.

        Args:
            mode (bool): True for training, False for evaluation.

        Returns:
            Module: ``self``.

        Raises:
            ValueError: ``mode`` is not a bool.
        """
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be a bool, got {mode!r}")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self):
        """Set evaluation mode: ``self.train(False)``.

        Returns:
            Module: ``self``.
        """
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` on every parameter (False freezes the module).

        Args:
            requires_grad (bool): the flag.

        Returns:
            Module: ``self``.
        """
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Reset every parameter's gradient: to None (default, as PyTorch 2) or to zeros."""
        for p in self.parameters():
            if p._grad is None:
                continue
            if set_to_none:
                p._grad = None
            else:
                zero_grad_in_place(p)

    def apply(self, fn):
        """Call ``fn(m)`` on every submodule (children first) and on self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def to(self, *args, device=None, dtype=None, non_blocking=False, **kwargs):
        """Move parameters and buffers in place to a device (``model.to("cuda")``) and/or
        convert the floating ones to ``dtype``, as PyTorch's ``Module.to``. Parameters stay
        the same objects (their gradients move with them), so an optimizer built before
        keeps working; its state follows on its next step."""
        device, dtype = parse_to_args(args, device, dtype)
        if dtype is not None and not backend.is_floating(dtype):
            raise TypeError(f"Module.to only accepts floating point dtypes, got {dtype}")
        for t in itertools.chain(self.parameters(), self.buffers()):
            _convert(t, device, dtype if backend.is_floating(t._data.dtype) else None)
        return self

    def cuda(self, device=None):
        """Move every parameter and buffer to a CUDA device (the current one by default)."""
        return self.to(backend.device("cuda", device) if isinstance(device, int) else
                       device or "cuda")

    def cpu(self):
        """Move every parameter and buffer to host memory."""
        return self.to(backend.CPU)

    def float(self):
        """Floating parameters and buffers as float32, in place."""
        return self.to(backend.float32)

    def double(self):
        """Floating parameters and buffers as float64, in place."""
        return self.to(backend.float64)

    def half(self):
        """Floating parameters and buffers as float16, in place."""
        return self.to(backend.float16)

    def bfloat16(self):
        """Floating parameters and buffers as bfloat16, in place."""
        return self.to(backend.bfloat16)

    # -- state dict ----------------------------------------------------------------------
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """Parameters and persistent buffers by dotted name, in definition order, as
        detached tensors sharing memory with the module (``keep_vars=True``: the objects)."""
        out = OrderedDict() if destination is None else destination
        for mod_prefix, mod in self.named_modules(prefix=prefix.rstrip(".")):
            dot = mod_prefix + ("." if mod_prefix else "")
            for name, p in mod._parameters.items():
                if p is not None:
                    out[dot + name] = p if keep_vars else p.detach()
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    out[dot + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy values into parameters and buffers (in place).

        Everything is checked first: missing keys, unexpected keys (both only when
        ``strict``), and shape and dtype mismatches (always). If anything is wrong, one
        RuntimeError lists every problem and nothing is changed. Returns
        ``(missing_keys, unexpected_keys)``.
        """
        from .state import load_state_dict
        return load_state_dict(self, state_dict, strict, assign)

    # -- copying -------------------------------------------------------------------------
    def __deepcopy__(self, memo):
        from .state import non_leaf_attributes
        bad = list(non_leaf_attributes(self, type(self).__name__.lower()))
        if bad:
            path, op = bad[0]
            raise RuntimeError(
                f"cannot deepcopy {type(self).__name__}: attribute '{path}' holds a non-leaf "
                f"tensor (made by '{op}', part of an autograd graph). Only leaf tensors can be "
                f"deep-copied. Store a detached value (x.detach()) or clear the cached "
                f"activation (del {path.split('.', 1)[-1]} / set it to None) before copying.")
        cls = type(self)
        new = cls.__new__(cls)
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            new.__dict__[k] = copy.deepcopy(v, memo)
        return new

    # -- repr ----------------------------------------------------------------------------
    def extra_repr(self):
        """The module's own settings for its ``repr`` (``in_features=3, out_features=2, bias=True``);
        subclasses override it, the base returns ``""``.
        """
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


def _convert(t, device, dtype):
    """Move (and cast) parameter or buffer ``t`` in place, with its gradient."""
    arr = t._data
    if device is not None and backend.device_of(arr) != device:
        arr = backend.to_device(arr, device)
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
        if t.node is not None and t.node.is_leaf:   # the leaf node records dtype
            t.node.dtype = dtype
    if arr is t._data:
        return
    t._data = arr
    t._vc[0] += 1
    g = t._grad
    if g is not None:
        g = backend.to_device(g._data, device) if device is not None else g._data
        t._grad = Tensor(g.astype(dtype) if dtype is not None else g)


def zero_grad_in_place(p):
    """Zero ``p.grad`` in its own memory (a fresh array if that memory is read-only or
    borrowed from another array)."""
    g = p._grad
    if backend.is_writeable(g._data) and g._data.base is None:
        g._data[...] = 0
        g._vc[0] += 1
    else:
        p._grad = Tensor(backend.array_module(g._data).zeros_like(g._data))
