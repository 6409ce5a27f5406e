"""What a weights-only load may rebuild: the allow-lists behind ``tg.load(weights_only=True)``.

Three kinds of global names, looked up in tables (nothing is imported by name):

- *classes* that NEWOBJ may create (``cls.__new__(cls)``, no ``__init__``) and BUILD may fill
  in: tapegrad's modules, optimizers and schedulers, plus the user's safe globals;
- *callables* that REDUCE may call, each with a check of its arguments: ``OrderedDict``,
  ``set``, ``frozenset``, ``complex``, ``slice``, ``range``, ``bytearray``,
  ``_codecs.encode`` (bytes under protocol 2) and ``copyreg._reconstructor`` (objects under
  protocols 0 and 1), plus the user's safe functions (and classes that define their own
  ``__reduce__``, such as enums);
- ``builtins.object``, which ``copyreg._reconstructor`` names and nothing calls.

Tensors, arrays, dtypes, devices and tapegrad's functions never appear as globals: ``tg.save``
stores them outside the pickle (``_pickled``), so numpy's ``_reconstruct``/``dtype`` are never
needed. The user's list is PyTorch's ``torch.serialization`` API; modules that run commands or
code (``os``, ``subprocess``, ``builtins.eval`` ...) are refused even there.
"""
import builtins
import contextlib
import copyreg
import threading
from collections import OrderedDict

__all__ = ["add_safe_globals", "get_safe_globals", "clear_safe_globals", "safe_globals"]

_LOCK = threading.Lock()
_USER = []   # what add_safe_globals was given: objects or (object, "module.name") pairs

#: modules whose names can never be allowed: they run commands, code or imports
BLOCKED_MODULES = frozenset({
    "os", "posix", "nt", "sys", "subprocess", "shutil", "socket", "ctypes", "pty", "runpy",
    "importlib", "pickle", "_pickle", "marshal", "code", "codeop", "types", "io", "_io",
    "pathlib", "tempfile", "webbrowser", "multiprocessing", "signal", "threading",
    "_thread", "asyncio", "inspect", "gc", "operator", "functools", "pdb", "bdb", "timeit"})
#: builtins that run code, import, reach attributes or open files
BLOCKED_BUILTINS = frozenset({
    "eval", "exec", "compile", "__import__", "getattr", "setattr", "delattr", "open",
    "breakpoint", "input", "globals", "locals", "vars", "help", "exit", "quit",
    "memoryview", "super", "type", "classmethod", "staticmethod", "property"})


def blocked(full_name):
    """The reason ``full_name`` ("module.name") can never be allowed, or None."""
    module, _, name = full_name.rpartition(".")
    root = module.split(".")[0]
    if root in BLOCKED_MODULES:
        return f"module {root} is blocked"
    if module == "builtins" and name in BLOCKED_BUILTINS:
        return f"builtins.{name} runs code or reaches into objects"
    return None


def _full_name(entry):
    if isinstance(entry, tuple):
        if len(entry) != 2 or not isinstance(entry[1], str):
            raise TypeError(f"add_safe_globals: a tuple entry must be (object, "
                            f"'module.name'), got {entry!r}")
        return entry[0], entry[1]
    if not callable(entry):
        raise TypeError(f"add_safe_globals: expected classes or functions, got "
                        f"{type(entry).__name__} {entry!r}")
    module = getattr(entry, "__module__", None)
    qualname = getattr(entry, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise TypeError(f"add_safe_globals: {entry!r} has no __module__/__qualname__; pass "
                        f"(object, 'module.name') instead")
    return entry, f"{module}.{qualname}"


def add_safe_globals(safe_globals):
    """Allow these classes and functions in ``tg.load(..., weights_only=True)``, as
    ``torch.serialization.add_safe_globals``. An entry is a class or function (found under
    ``obj.__module__ + "." + obj.__qualname__``) or a pair ``(obj, "module.name")`` for an
    object pickled under another name. Only allow what you trust: an allowed class is
    created and given the file's attributes, and an allowed function may be called with
    arguments from the file. Globals of modules that run commands or code (``os``,
    ``subprocess``, ``sys``, ``builtins.eval`` ...) are refused with a ValueError (and
    nothing of the list is added); anything but a list of classes, functions and such pairs
    is a TypeError. Returns None."""
    if isinstance(safe_globals, (str, bytes)) or not hasattr(safe_globals, "__iter__"):
        raise TypeError(f"add_safe_globals expects a list of classes or functions, got "
                        f"{type(safe_globals).__name__}")
    entries = list(safe_globals)
    for e in entries:
        obj, name = _full_name(e)
        own = f"{getattr(obj, '__module__', None)}.{getattr(obj, '__qualname__', None)}"
        why = blocked(name) or blocked(own)      # a blocked function under another name
        if why is not None:
            raise ValueError(f"add_safe_globals: {name} can never be allowed ({why}); "
                             f"weights-only loading would no longer be safe")
    with _LOCK:
        for e in entries:
            if e not in _USER:
                _USER.append(e)


def get_safe_globals():
    """The list given to ``add_safe_globals`` (and active ``safe_globals`` contexts)."""
    with _LOCK:
        return list(_USER)


def clear_safe_globals():
    """Forget every user-allowed global."""
    with _LOCK:
        _USER.clear()


@contextlib.contextmanager
def safe_globals(safe_globals):
    """``with tg.serialization.safe_globals([MyClass]):`` allows these globals inside the
    block only (as ``torch.serialization.safe_globals``); entries allowed before the block
    stay allowed after it. Takes and raises what ``add_safe_globals`` does."""
    before = get_safe_globals()
    add_safe_globals(safe_globals)
    try:
        yield
    finally:
        with _LOCK:
            added = [e for e in _USER if e not in before]
            for e in added:
                _USER.remove(e)


def user_table():
    """``{"module.name": object}`` of the user's allowed globals."""
    table = {}
    for e in get_safe_globals():
        obj, name = _full_name(e)
        table[name] = obj
    return table


# -- tapegrad's classes -------------------------------------------------------------------
def _bases():
    from ..nn.module import Module
    from ..optim.optimizer import Optimizer
    from ..optim.lr_scheduler import LRScheduler
    return (Module, Optimizer, LRScheduler)


def _walk(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _walk(sub)


def tapegrad_classes():
    """``{"module.qualname": class}``: every module, optimizer and scheduler class that
    tapegrad defines (in modules imported so far)."""
    table = {}
    for base in _bases():
        for cls in (base, *_walk(base)):
            module = cls.__module__
            if (module == "tapegrad" or module.startswith("tapegrad.")) \
                    and "<locals>" not in cls.__qualname__:
                table[f"{module}.{cls.__qualname__}"] = cls
    return table


# -- callables REDUCE may call, with their argument checks ------------------------------
def _kinds(args, *types, n=None):
    ok = all(type(a) in types for a in args)
    return ok and (n is None or len(args) in n)


def _iterable_arg(args):
    return len(args) == 0 or (len(args) == 1 and type(args[0]) in (list, tuple, set,
                                                                   frozenset))


def _encode_args(args):
    return (len(args) == 2 and type(args[0]) is str
            and args[1] in ("latin1", "latin-1", "latin_1"))


def _bytearray_args(args):
    return (len(args) == 0 or (len(args) == 1 and type(args[0]) is bytes)
            or _encode_args(args))


def _encode(text, encoding):
    return text.encode("latin-1")


BUILTIN_CALLS = {
    # name: (callable, check(args) -> bool, what the arguments may be)
    "collections.OrderedDict": (OrderedDict, _iterable_arg, "nothing or a list of pairs"),
    "builtins.set": (set, _iterable_arg, "nothing or a list"),
    "builtins.frozenset": (frozenset, _iterable_arg, "nothing or a list"),
    "builtins.complex": (complex, lambda a: _kinds(a, int, float, n=(1, 2)), "numbers"),
    "builtins.slice": (slice, lambda a: _kinds(a, int, type(None), n=(1, 2, 3)),
                       "integers or None"),
    "builtins.range": (range, lambda a: _kinds(a, int, n=(1, 2, 3)), "integers"),
    "builtins.bytearray": (bytearray, _bytearray_args, "bytes"),
    "_codecs.encode": (_encode, _encode_args, "a str and 'latin1'"),
}
#: referenced by copyreg._reconstructor, never called
REFERENCES = {"builtins.object": builtins.object,
              "copyreg._reconstructor": copyreg._reconstructor}
