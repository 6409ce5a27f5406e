"""The weights-only unpickler: a small pickle virtual machine that only builds data.

It reads protocols 0 to 5 opcode by opcode (as ``pickle._Unpickler`` does) but decides
what each opcode may do, instead of trusting the stream:

- GLOBAL / STACK_GLOBAL look the name up in tables (``_safe_globals``): nothing is
  imported, no attribute chain is followed (``"Module.__init__.__globals__"`` is just a
  name that is not in the table), and a name that is not allowed stops the load there.
- REDUCE calls only the checked builtins (``OrderedDict``, ``set``, ...), the user's safe
  functions, and user classes that pickle themselves with ``__reduce__`` (enums). tapegrad's
  classes and the user's other classes are never called: they are made by NEWOBJ
  (``cls.__new__(cls)``, no ``__init__``) and filled by BUILD.
- BUILD only fills objects this load made (never a class, a function or a container
  reached through GLOBAL or the memo), through the class's own ``__setstate__`` or by
  writing the instance ``__dict__`` directly (no ``__setattr__``): keys must be plain
  attribute names, never dunders or names of the class's methods; slot state only sets
  declared slots.
- APPEND(S) only extends real lists, SETITEM(S) only real dicts/OrderedDicts, ADDITEMS
  only real sets: no ``extend``/``append``/``__setitem__`` of another object is looked up.
- Persistent ids must be strings and go to the loader's ``persistent_load`` (tapegrad's
  tensors, dtypes, devices and functions, stored outside the pickle).
- INST, OBJ (old-style calls), EXT1/EXT2/EXT4 (copyreg's extension registry), Python 2
  strings and out-of-band buffers are refused.

Every refusal is a ``pickle.UnpicklingError`` naming the opcode or global, raised before
anything it names runs.
"""
import struct
from collections import OrderedDict
from pickle import UnpicklingError
import _compat_pickle

from . import _safe_globals as allow
from ._opcodes import DISPATCH, STOP, name as _name, unsupported as _unsupported


class WeightsOnlyUnpickler:
    """``WeightsOnlyUnpickler(data, persistent_load).load()``: the object in ``data`` (the
    bytes of one pickle), built only from allowed parts. ``persistent_load(pid)`` resolves
    string persistent ids (None: a persistent id is an error)."""

    def __init__(self, data, persistent_load=None):
        self.data = bytes(data)
        self.persistent_load = persistent_load
        self.user = allow.user_table()
        self.classes = allow.tapegrad_classes()
        self.user_objects = {id(v): v for v in self.user.values()}
        self.tapegrad_ids = {id(c) for c in self.classes.values()}

    # -- reading ------------------------------------------------------------------------
    def _read(self, n):
        start = self.pos
        if n < 0 or start + n > len(self.data):
            raise UnpicklingError(f"pickle data was truncated (wanted {n} bytes at byte "
                                  f"{start}, {len(self.data) - start} left)")
        self.pos = start + n
        return self.data[start:self.pos]

    def _line(self):
        start = self.pos
        end = self.data.find(b"\n", start)
        if end < 0:
            raise UnpicklingError(f"pickle data was truncated (no end of line after byte "
                                  f"{start})")
        self.pos = end + 1
        return self.data[start:end]

    def _unpack(self, fmt):
        return struct.unpack(fmt, self._read(struct.calcsize(fmt)))[0]

    # -- the machine --------------------------------------------------------------------
    def load(self):
        """Run the stream to its STOP and return the object it built."""
        self.pos, self.proto = 0, 0
        self.stack, self.marks, self.memo = [], [], {}
        self.made = {}           # id -> object this load created: the only BUILD targets
        ops = DISPATCH
        while True:
            at = self.pos
            code = self._read(1)[0]
            handler = ops.get(code)
            if handler is None:
                raise UnpicklingError(_unsupported(code, at))
            try:
                if handler(self) is STOP:
                    break
            except UnpicklingError:
                raise
            except IndexError:
                raise UnpicklingError(f"malformed pickle: opcode {_name(code)} at byte "
                                      f"{at} found too few items on the stack") from None
            except (KeyError, TypeError, ValueError, AttributeError, OverflowError,
                    UnicodeDecodeError, RecursionError, struct.error) as e:
                raise UnpicklingError(f"malformed pickle: opcode {_name(code)} at byte "
                                      f"{at} failed ({type(e).__name__}: {e})") from None
        if self.pos != len(self.data):
            raise UnpicklingError(f"{len(self.data) - self.pos} bytes of data follow the "
                                  f"pickle's STOP")
        return self.result

    def pop_mark(self):
        """The items pushed since the last MARK (the stack below it is restored)."""
        items = self.stack
        if not self.marks:
            raise UnpicklingError("malformed pickle: no MARK on the stack")
        self.stack = self.marks.pop()
        return items

    def push(self, obj):
        """Push ``obj`` on the stack."""
        self.stack.append(obj)

    # -- globals ------------------------------------------------------------------------
    def find_global(self, module, name):
        """The allowed object named ``module.name`` (UnpicklingError naming it otherwise)."""
        if type(module) is not str or type(name) is not str:
            raise UnpicklingError("STACK_GLOBAL needs two strings (module and name)")
        if self.proto < 3:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        full = f"{module}.{name}"
        why = allow.blocked(full)
        if why is None:
            for table in (self.classes, allow.BUILTIN_CALLS, allow.REFERENCES, self.user):
                if full in table:
                    found = table[full]
                    return found[0] if table is allow.BUILTIN_CALLS else found
        raise UnpicklingError(unsupported_global(full, why))

    # -- calls --------------------------------------------------------------------------
    def call(self, func, args):
        """REDUCE: ``func(*args)`` when ``func`` may be called with such arguments."""
        if type(args) is not tuple:
            raise UnpicklingError(f"REDUCE arguments must be a tuple, got "
                                  f"{type(args).__name__}")
        for name, (fn, check, what) in allow.BUILTIN_CALLS.items():
            if func is fn:
                if not check(args):
                    raise UnpicklingError(f"REDUCE of {name} with arguments of types "
                                          f"{[type(a).__name__ for a in args]}; it takes "
                                          f"{what} here")
                out = fn(*args)
                if type(out) is OrderedDict:     # BUILD may give it attributes
                    self.made[id(out)] = out
                return out
        if func is allow.REFERENCES["copyreg._reconstructor"]:
            if len(args) != 3 or args[1] is not object or args[2] is not None:
                raise UnpicklingError("copyreg._reconstructor is only allowed as "
                                      "_reconstructor(cls, object, None)")
            return self.new(args[0], ())
        if id(func) in self.user_objects and not _called_class(func):
            out = func(*args)                # the user allowed this function by name
            self.made[id(out)] = out
            return out
        raise UnpicklingError(_refused_call(func))

    def new(self, cls, args, kwargs=None):
        """NEWOBJ(_EX): ``cls.__new__(cls, *args)`` for an allowed class."""
        if not isinstance(cls, type):
            raise UnpicklingError(f"NEWOBJ needs a class, got {type(cls).__name__}")
        if id(cls) not in self.tapegrad_ids and id(cls) not in self.user_objects:
            raise UnpicklingError(f"NEWOBJ of {_qual(cls)}, which is not an allowed class")
        if kwargs:
            raise UnpicklingError(f"NEWOBJ_EX of {_qual(cls)} with keyword arguments is not "
                                  f"supported")
        if args and id(cls) in self.tapegrad_ids:
            raise UnpicklingError(f"NEWOBJ of {_qual(cls)} with arguments; tapegrad's "
                                  f"classes are rebuilt without any")
        obj = cls.__new__(cls, *args)
        if type(obj) is not cls:
            raise UnpicklingError(f"{_qual(cls)}.__new__ returned a "
                                  f"{type(obj).__name__}")
        self.made[id(obj)] = obj
        return obj

    def build(self, inst, state):
        """BUILD: give ``inst`` (made by this load) its state, under the rules above."""
        cls = type(inst)
        if id(inst) not in self.made or isinstance(inst, type):
            raise UnpicklingError(f"BUILD of a {cls.__name__} this load did not create; "
                                  f"BUILD only fills objects made by NEWOBJ")
        if cls is OrderedDict:      # an OrderedDict's own attributes (PyTorch's _metadata)
            _check_keys(state, cls, "OrderedDict")
            inst.__dict__.update(state)
            return
        if id(cls) not in self.tapegrad_ids and id(cls) not in self.user_objects:
            raise UnpicklingError(f"BUILD of {_qual(cls)}, which is not an allowed class")
        setstate = getattr(cls, "__setstate__", None)
        if setstate is not None:
            if id(cls) in self.tapegrad_ids:
                _check_keys(state, cls, "BUILD")
            setstate(inst, state)   # the allowed class's own code
            return
        slots = None
        if type(state) is tuple and len(state) == 2:
            state, slots = state
        if state:
            _check_keys(state, cls, "BUILD")
            inst.__dict__.update(state)
        if slots:
            if type(slots) is not dict:
                raise UnpicklingError(f"BUILD slot state of {_qual(cls)} must be a dict")
            declared = {s for k in cls.__mro__ for s in _slots(k)} - {"__dict__",
                                                                    "__weakref__"}
            for k, v in slots.items():
                if type(k) is not str or k not in declared:
                    raise UnpicklingError(f"BUILD may not set {k!r} on {_qual(cls)}: not "
                                          f"one of its declared slots")
                setattr(inst, k, v)


def _slots(cls):
    s = cls.__dict__.get("__slots__", ())
    return (s,) if isinstance(s, str) else tuple(s)


def _check_keys(state, cls, what):
    if type(state) is not dict:
        raise UnpicklingError(f"{what} state of {_qual(cls)} must be a dict, got "
                              f"{type(state).__name__}")
    for k in state:
        if type(k) is not str:
            raise UnpicklingError(f"{what} may not set a non-string attribute {k!r} on "
                                  f"{_qual(cls)}")
        if k.startswith("__") and k.endswith("__"):
            raise UnpicklingError(f"{what} may not set the special attribute {k!r} on "
                                  f"{_qual(cls)}")
        attr = getattr(cls, k, None)
        if callable(attr) or isinstance(attr, property):
            raise UnpicklingError(f"{what} may not set {k!r} on {_qual(cls)}: it would "
                                  f"replace the class's {type(attr).__name__}")


def _called_class(func):
    """A class REDUCE must not call: one that is rebuilt with NEWOBJ (its pickling does not
    ask for a call, so a call would run __init__ with the file's arguments)."""
    if not isinstance(func, type):
        return False
    return (func.__reduce_ex__ is object.__reduce_ex__
            and func.__reduce__ is object.__reduce__)


def _qual(obj):
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _refused_call(func):
    what = _qual(func) if hasattr(func, "__qualname__") else type(func).__name__
    if isinstance(func, type):
        return (f"REDUCE would call the class {what} with arguments from the file (running "
                f"its __init__); allowed classes are rebuilt with NEWOBJ and BUILD only")
    return f"REDUCE would call {what}, which is not an allowed function"


def unsupported_global(full, why=None):
    """PyTorch's message for a global that is not allowed (``why``: it is blocked)."""
    if why is not None:
        return (f"Unsupported global: GLOBAL {full} was not an allowed global by default "
                f"and can never be allowed ({why})")
    module = full.rpartition(".")[0]
    hint = ""
    if (module == "tapegrad" or module.startswith("tapegrad.")):
        import sys
        if module not in sys.modules:
            hint = f" (its module {module} is not imported yet: import it before loading)"
    return (f"Unsupported global: GLOBAL {full} was not an allowed global by default{hint}. "
            f"Please use `tg.serialization.add_safe_globals([{full}])` or the "
            f"`tg.serialization.safe_globals([{full}])` context manager to allowlist this "
            f"global if you trust this class/function")
