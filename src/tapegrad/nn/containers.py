"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict (PyTorch's
semantics)."""
from collections import OrderedDict
from collections.abc import Iterable, Mapping

from ..core.tensor import Tensor

from .module import Module
from .parameter import Parameter


class Sequential(Module):
    """Runs its modules in order: ``Sequential(a, b)(x) == b(a(x))``. Also takes an
    OrderedDict of named modules."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], (OrderedDict, dict)):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def _index(self, idx):
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for {type(self).__name__} of "
                             f"length {n}")
        return idx % n

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[self._index(idx)]

    def __setitem__(self, idx, module):
        key = list(self._modules.keys())[self._index(idx)]
        self.add_module(key, module)

    def __delitem__(self, idx):
        keys = list(self._modules.keys())
        for k in (keys[idx] if isinstance(idx, slice) else [keys[self._index(idx)]]):
            del self._modules[k]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        """Add ``module`` at the end.

        Returns:
            Sequential: ``self``.
        """
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x):
        """Run the modules in order, each on the previous one's output: ``x -> m0(x) -> m1(...)``."""
        for m in self._modules.values():
            x = m(x)
        return x


class ModuleList(Module):
    """A list of modules, registered so their parameters are found."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for ModuleList of length {n}")
        return self._modules[str(idx % n)]

    def __setitem__(self, idx, module):
        self.add_module(str(idx % len(self)), module)

    def __delitem__(self, idx):
        mods = list(self._modules.values())
        del mods[idx]
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def append(self, module):
        """Add ``module`` at the end (registered under the next index).

        Returns:
            ModuleList: ``self``.
        """
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        """Append every module of the iterable ``modules``.

        Returns:
            ModuleList: ``self``.
        """
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        """Insert ``module`` before position ``index`` (the later entries are renumbered)."""
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(); iterate over it in your "
                                  "module's forward")

    def __repr__(self):
        """PyTorch's: a run of entries that print the same prints once, as
        ``(0-5): 6 x Block(...)``."""
        runs = []   # [first index, last index, repr]
        for i, m in enumerate(self):
            r = repr(m)
            if runs and runs[-1][2] == r:
                runs[-1][1] = i
            else:
                runs.append([i, i, r])
        if not runs:
            return self._get_name() + "()"
        lines = [(f"({a}): {r}" if a == b else f"({a}-{b}): {b - a + 1} x {r}")
                 .replace("\n", "\n  ") for a, b, r in runs]
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """An ordered dict of modules, registered so their parameters are found."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        """The names, in insertion order."""
        return self._modules.keys()

    def values(self):
        """The modules, in insertion order."""
        return self._modules.values()

    def items(self):
        """The ``(name, module)`` pairs, in insertion order."""
        return self._modules.items()

    def pop(self, key):
        """Remove the module named ``key`` and return it.

        Raises:
            KeyError: no module has that name.
        """
        return self._modules.pop(key)

    def clear(self):
        """Remove every module."""
        self._modules.clear()

    def update(self, modules):
        """Add or replace modules from a mapping or an iterable of ``(name, module)`` pairs."""
        items = modules.items() if hasattr(modules, "items") else modules
        for k, m in items:
            self[k] = m

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward(); index it in your module's "
                                  "forward")


class ParameterList(Module):
    """A list of Parameters, registered under '0', '1', ..."""

    def __init__(self, values=None):
        super().__init__()
        for v in values or ():
            self.append(v)

    def append(self, value):
        """Add ``value`` at the end (wrapped in a Parameter unless it is one).

        Returns:
            ParameterList: ``self``.
        """
        if not isinstance(value, Parameter):
            value = Parameter(value)
        self.register_parameter(str(len(self)), value)
        return self

    def __getitem__(self, idx):
        return list(self._parameters.values())[idx]

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())


class ParameterDict(Module):
    """An ordered dict of Parameters, registered under their keys (so ``parameters()``,
    ``state_dict()`` and ``.to()`` see them). A tensor stored in it becomes a Parameter;
    other values are kept as plain attributes (PyTorch's rules). ``update`` from a plain
    dict adds its items in sorted key order, from an OrderedDict, a ParameterDict or a
    sequence of pairs in their order.

    Raises TypeError for a key that is not a string, KeyError for a missing key."""

    def __init__(self, parameters=None):
        super().__init__()
        self.__dict__["_keys"] = {}
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _check_key(key):
        if not isinstance(key, str):
            raise TypeError(f"ParameterDict keys must be strings, got {type(key).__name__} "
                            f"({key!r})")
        return key

    def __getitem__(self, key):
        if self._check_key(key) not in self._keys:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key, value):
        self._keys[self._check_key(key)] = None
        if isinstance(value, Tensor) and not isinstance(value, Parameter):
            value = Parameter(value)
        setattr(self, key, value)

    def __delitem__(self, key):
        if self._check_key(key) not in self._keys:
            raise KeyError(key)
        del self._keys[key]
        delattr(self, key)

    def __len__(self):
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __reversed__(self):
        return reversed(list(self._keys))

    def __contains__(self, key):
        return key in self._keys

    def keys(self):
        """The keys, in insertion order."""
        return self._keys.keys()

    def items(self):
        """The ``(key, parameter)`` pairs, in insertion order."""
        return ((k, self[k]) for k in self._keys)

    def values(self):
        """The parameters, in insertion order."""
        return (self[k] for k in self._keys)

    def get(self, key, default=None):
        """The parameter under ``key``, or ``default`` when there is none."""
        return self[key] if key in self else default

    def setdefault(self, key, default=None):
        """The parameter under ``key``, after storing ``default`` there if the key is new."""
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key):
        """Remove the entry under ``key`` and return its value.

        Raises:
            KeyError: ``key`` is not present.
        """
        value = self[key]
        del self[key]
        return value

    def popitem(self):
        """Remove the last-inserted entry and return it as ``(key, value)``.

        Raises:
            KeyError: the dict is empty.
        """
        if not self._keys:
            raise KeyError("popitem(): ParameterDict is empty")
        key = next(reversed(list(self._keys)))
        return key, self.pop(key)

    def clear(self):
        """Remove every entry."""
        for k in list(self._keys):
            del self[k]

    def copy(self):
        """A new ParameterDict holding the same parameters (a shallow copy)."""
        return ParameterDict(OrderedDict(self.items()))

    def fromkeys(self, keys, default=None):
        """A new ParameterDict with every key of ``keys`` set to ``default``."""
        return ParameterDict((k, default) for k in keys)

    def update(self, parameters):
        """Add or replace entries from ``parameters``: an OrderedDict or ParameterDict (its order),
        another mapping (sorted by key, as PyTorch) or an iterable of ``(key, value)`` pairs.

        Raises:
            TypeError: ``parameters`` is none of these, or an element is not a pair.
        """
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            items = list(parameters.items())
        elif isinstance(parameters, Mapping):
            items = sorted(parameters.items())
        elif isinstance(parameters, Iterable):
            items = []
            for j, pair in enumerate(parameters):
                if not isinstance(pair, Iterable) or len(pair) != 2:
                    raise TypeError(f"ParameterDict.update: element #{j} of the sequence must "
                                    f"be a (key, value) pair, got {pair!r}")
                items.append(tuple(pair))
        else:
            raise TypeError(f"ParameterDict.update expects a mapping or an iterable of (key, "
                            f"value) pairs, got {type(parameters).__name__}")
        for k, v in items:
            self[k] = v

    def __or__(self, other):
        out = self.copy()
        out.update(other)
        return out

    def __ror__(self, other):
        out = ParameterDict(other) if not isinstance(other, ParameterDict) else other.copy()
        out.update(self)
        return out

    def __ior__(self, other):
        self.update(other)
        return self

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterDict should not be called")

    def extra_repr(self):
        lines = []
        for k, v in self.items():
            if isinstance(v, Tensor):
                kind = "Parameter" if isinstance(v, Parameter) else "Tensor"
                size = "x".join(str(n) for n in v.shape)
                dev = "" if v.device.type == "cpu" else f" ({v.device})"
                lines.append(f"  ({k}): {kind} containing: [{v.dtype} tensor of size "
                             f"{size}{dev}]")
            else:
                lines.append(f"  ({k}): Object of type: {type(v).__name__}")
        return "\n".join(lines)
