"""Whole objects in a tapegrad checkpoint: the pickle, and what is kept outside it.

``tg.save`` of a module, an optimizer or a user object pickles it, but every value that
tapegrad knows how to store as data is taken out of the pickle and replaced by a
persistent id (a string ``"0"``, ``"1"``, ... into the index's ``refs`` list):

- tensors (``Tensor``, ``nn.Parameter``, ``nn.Buffer``), arrays and NumPy scalars: stored
  as ``.npy`` members with the same JSON entries as a state dict;
- dtypes (``tg.float32``), devices (``tg.device("cuda:1")``), ``tg.optim.required``;
- tapegrad's functions (``F.relu`` kept by ``TransformerEncoderLayer``), by public name.

So the pickle only holds containers, numbers, strings and the classes of the objects, and
loading needs no NumPy or tensor constructor from the stream. The same object saved twice
(a parameter in the model and in the optimizer, tied weights) is one ref and comes back as
one object.
"""
import io
import pickle
import pickletools
import types

from .. import backend
from ..core.tensor import Tensor
from . import _safe_globals as allow
from ._weights_only import WeightsOnlyUnpickler

_PLAIN = frozenset({int, float, str, bool, type(None), bytes, list, dict, tuple, set})


class _Pickler(pickle.Pickler):
    """A pickler that hands tensors, arrays, dtypes, devices and tapegrad functions to
    ``ref(obj)`` (a JSON entry, or None to pickle ``obj`` as usual)."""

    def __init__(self, file, protocol, ref):
        super().__init__(file, protocol=protocol)
        self.ref, self.refs, self.seen = ref, [], {}

    def persistent_id(self, obj):
        if type(obj) in _PLAIN:
            return None
        hit = self.seen.get(id(obj))
        if hit is not None:
            return hit[0]
        entry = self.ref(obj)
        if entry is None:
            return None
        pid = str(len(self.refs))
        self.refs.append(entry)
        self.seen[id(obj)] = (pid, obj)    # keeps obj alive, so its id stays unique
        return pid


def dumps(obj, protocol, encode_array):
    """``(pickle bytes, refs)`` for ``obj``; ``encode_array(x)`` stores a tensor, array or
    NumPy scalar and returns its index entry."""
    functions = {}

    def ref(x):
        if isinstance(x, Tensor):
            kind = type(x).__name__
            if kind not in ("Tensor", "Parameter", "Buffer"):
                raise TypeError(f"tg.save: cannot save a tensor of the subclass "
                                f"{type(x).__module__}.{type(x).__qualname__}; convert it "
                                f"with .as_subclass(tg.Tensor) or save its state")
            entry = encode_array(x)
            if kind == "Parameter":
                return {"parameter": entry}
            if kind == "Buffer":
                return {"buffer": entry, "persistent": bool(x.persistent)}
            return entry
        if backend.is_array(x) or isinstance(x, backend.generic):
            return encode_array(x)
        if isinstance(x, backend.xp.dtype):
            if not backend.is_numeric(x):
                raise TypeError(f"tg.save: cannot save the dtype {x}; only bool, integer "
                                f"and floating point dtypes can be saved")
            return {"dtype": str(x)}
        if isinstance(x, type) and issubclass(x, backend.generic):
            return {"dtype": str(backend.xp.dtype(x)), "type": True}
        if isinstance(x, backend.device):
            return {"device": str(x)}
        if isinstance(x, types.FunctionType):
            if not functions:
                functions.update({id(f): name for name, f in
                                  reversed(list(function_table().items()))})
            name = functions.get(id(x))
            return None if name is None else {"function": name}
        if x is _required():
            return {"const": "tapegrad.optim.required"}
        return None

    buf = io.BytesIO()
    p = _Pickler(buf, protocol, ref)
    p.dump(obj)
    return buf.getvalue(), p.refs


def _required():
    from ..optim.optimizer import required
    return required


def function_table():
    """``{"tapegrad.nn.functional.relu": fn, ...}``: tapegrad's math functions (registry
    ops and ``nn.functional``) by public name, the only functions a file may refer to
    without the user's say-so."""
    import tapegrad
    from ..core.registry import OPS
    from ..nn import functional as F
    ops = {id(info.fn) for info in OPS.values()}
    table = {}
    for prefix, ns in (("tapegrad.nn.functional", F), ("tapegrad", tapegrad),
                       ("tapegrad.special", getattr(tapegrad, "special", None)),
                       ("tapegrad.linalg", getattr(tapegrad, "linalg", None))):
        for k, v in (vars(ns).items() if ns is not None else ()):
            if k[:1] == "_" or not isinstance(v, types.FunctionType):
                continue
            if id(v) in ops or (v.__module__ or "").startswith(("tapegrad.ops.",
                                                                 "tapegrad.nn.functional")):
                table[f"{prefix}.{k}"] = v
    return table


class BadRef(ValueError):
    """A refs entry that is not one of the kinds ``dumps`` writes."""


def decode_ref(entry, decode_array):
    """The object a refs entry stands for (``decode_array`` reads tensors and arrays)."""
    if not isinstance(entry, dict) or not entry:
        raise BadRef(f"malformed ref {type(entry).__name__}")
    if "array" in entry or "scalar" in entry or "float" in entry:   # before "dtype"
        return decode_array(entry)
    if "parameter" in entry or "buffer" in entry:
        from ..nn.parameter import Parameter, Buffer
        t = decode_array(entry.get("parameter", entry.get("buffer")))
        if not isinstance(t, Tensor):
            raise BadRef("a parameter or buffer ref that is not a tensor")
        if "parameter" in entry:
            return Parameter(t._data, requires_grad=t.requires_grad)
        b = Buffer(t._data, persistent=bool(entry.get("persistent", True)))
        return b.requires_grad_(True) if t.requires_grad else b
    if "dtype" in entry:
        name = entry["dtype"]
        try:
            dt = backend.xp.dtype(name) if isinstance(name, str) else None
        except TypeError:
            dt = None
        if dt is None or not backend.is_numeric(dt):
            raise BadRef(f"unsupported dtype {name!r}")
        return dt.type if entry.get("type") else dt
    if "device" in entry:
        try:
            return backend.device(entry["device"])
        except (TypeError, ValueError, RuntimeError) as e:
            raise BadRef(f"bad device {entry['device']!r} ({e})") from None
    if "function" in entry:
        fn = function_table().get(entry["function"])
        if fn is None:
            raise BadRef(f"unknown tapegrad function {entry['function']!r}")
        return fn
    if entry.get("const") == "tapegrad.optim.required":
        return _required()
    raise BadRef(f"unknown ref with keys {sorted(entry)}")


def _resolver(refs):
    def persistent_load(pid):
        if type(pid) is not str or not pid.isdigit() or int(pid) >= len(refs):
            raise pickle.UnpicklingError(f"persistent id {pid!r} is not one of the file's "
                                         f"{len(refs)} stored values")
        return refs[int(pid)]
    return persistent_load


class _TrustedUnpickler(pickle.Unpickler):
    """Python's own unpickler (it imports and calls whatever the file names)."""

    def __init__(self, data, refs):
        super().__init__(io.BytesIO(data))
        self._load_ref = _resolver(refs)

    def persistent_load(self, pid):
        return self._load_ref(pid)


def loads(data, refs, weights_only):
    """Unpickle ``data`` with the stored values ``refs``: through the weights-only
    unpickler, or (``weights_only=False``, trusted files only) through ``pickle``."""
    if weights_only:
        return WeightsOnlyUnpickler(data, _resolver(refs)).load()
    return _TrustedUnpickler(data, refs).load()


def globals_in(data):
    """Every ``module.name`` the pickle ``data`` names (read with ``pickletools``, which
    parses the opcodes without running them)."""
    from _compat_pickle import NAME_MAPPING, IMPORT_MAPPING
    found, strings, memo, proto, count, last = [], [], {}, 0, 0, None
    for op, arg, _ in pickletools.genops(data):
        pushed = None
        if op.name == "PROTO":
            proto = arg
        elif op.name in ("UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"):
            pushed = arg
        elif op.name in ("BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE"):
            key = count if arg is None else arg
            count += 1
            if last is not None:
                memo[key] = last
            pushed = last
        elif op.name in ("BINGET", "LONG_BINGET", "GET"):
            pushed = memo.get(arg)
        elif op.name in ("GLOBAL", "INST"):
            found.append(tuple(arg.split(" ", 1)))
        elif op.name == "STACK_GLOBAL":
            found.append(tuple(strings[-2:]) if len(strings) >= 2 else ("?", "?"))
        if pushed is not None and op.name not in ("BINPUT", "LONG_BINPUT", "PUT",
                                                  "MEMOIZE"):
            strings.append(pushed)
        last = pushed
    names = []
    for module, name in found:
        if proto < 3:
            module, name = NAME_MAPPING.get((module, name), (IMPORT_MAPPING.get(module,
                                                                               module), name))
        names.append(f"{module}.{name}")
    return names


def unsafe_globals(data):
    """The globals in ``data`` that a weights-only load allows only by the user's say-so."""
    default = {**allow.tapegrad_classes(), **allow.BUILTIN_CALLS, **allow.REFERENCES}
    return sorted({n for n in globals_in(data) if n not in default})
