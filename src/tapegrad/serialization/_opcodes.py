"""The pickle opcodes the weights-only unpickler reads, one small handler each.

Each handler gets the unpickler ``u`` (its ``stack``, ``marks``, ``memo`` and readers) and
does only data work itself; everything that could run code (globals, calls, object
creation and BUILD) goes back to ``u``'s policy methods. Opcodes without a handler are
refused by name (``unsupported``).
"""
import pickletools
from collections import OrderedDict
from pickle import UnpicklingError, decode_long

_NAMES = {}


def name(code):
    """The opcode's name in ``pickletools`` (``0xff`` for a byte that is no opcode)."""
    if not _NAMES:
        _NAMES.update({ord(op.code): op.name for op in pickletools.opcodes})
    return _NAMES.get(code, f"0x{code:02x}")


def unsupported(code, at):
    """The refusal of the opcode ``code`` found at byte ``at``, with the reason."""
    return f"unsupported opcode {name(code)} at byte {at}" + _WHY.get(name(code), "")


_WHY = {
    "INST": " (an old-style call of a class named in the stream)",
    "OBJ": " (an old-style call of a class on the stack)",
    "EXT1": " (copyreg extension codes are never looked up)",
    "EXT2": " (copyreg extension codes are never looked up)",
    "EXT4": " (copyreg extension codes are never looked up)",
    "STRING": " (Python 2 strings are not supported)",
    "BINSTRING": " (Python 2 strings are not supported)",
    "SHORT_BINSTRING": " (Python 2 strings are not supported)",
    "NEXT_BUFFER": " (out-of-band buffers are not supported)",
    "READONLY_BUFFER": " (out-of-band buffers are not supported)",
}

STOP = object()


# -- opcode handlers --------------------------------------------------------------------
def _proto(u):
    u.proto = u._read(1)[0]
    if u.proto > 5:
        raise UnpicklingError(f"unsupported pickle protocol {u.proto}")


def _frame(u):
    n = u._unpack("<Q")
    if n > len(u.data) - u.pos:
        raise UnpicklingError("pickle data was truncated (frame longer than the data)")


def _stop(u):
    u.result = u.stack.pop()
    if u.stack or u.marks:
        raise UnpicklingError("malformed pickle: items left on the stack at STOP")
    return STOP


def _int(u):
    line = u._line()
    if line == b"00":
        u.push(False)
    elif line == b"01":
        u.push(True)
    else:
        u.push(int(line))


def _long(u):
    line = u._line()
    u.push(int(line[:-1] if line.endswith(b"L") else line))


def _string_of(n_fmt, kind):
    def op(u):
        n = u._unpack(n_fmt) if n_fmt else u._read(1)[0]
        raw = u._read(n)
        u.push(raw.decode("utf-8", "surrogatepass") if kind == "str"
               else bytearray(raw) if kind == "bytearray" else raw)
    return op


def _long_of(fmt):
    def op(u):
        n = u._unpack(fmt) if fmt else u._read(1)[0]
        u.push(decode_long(u._read(n)))
    return op


def _const(value):
    return lambda u: u.push(value() if callable(value) else value)


def _tuple_of(n):
    def op(u):
        if n:
            items = tuple(u.stack[-n:])
            if len(items) != n:
                raise IndexError
            del u.stack[-n:]
            u.push(items)
        else:
            u.push(())
    return op


def _append(u):
    item = u.stack.pop()
    _target(u, list, "APPEND").append(item)


def _appends(u):
    items = u.pop_mark()
    _target(u, list, "APPENDS").extend(items)


def _target(u, kind, op):
    obj = u.stack[-1]
    kinds = (dict, OrderedDict) if kind is dict else (kind,)
    if type(obj) not in kinds:
        raise UnpicklingError(f"{op} on a {type(obj).__name__}; it only fills "
                              f"{' and '.join(k.__name__ for k in kinds)} objects")
    return obj


def _setitem(u):
    value = u.stack.pop()
    key = u.stack.pop()
    d = _target(u, dict, "SETITEM")
    d[key] = value          # d is exactly a dict or an OrderedDict


def _setitems(u):
    items = u.pop_mark()
    d = _target(u, dict, "SETITEMS")
    if len(items) % 2:
        raise UnpicklingError("SETITEMS needs key/value pairs")
    for i in range(0, len(items), 2):
        d[items[i]] = items[i + 1]


def _additems(u):
    items = u.pop_mark()
    _target(u, set, "ADDITEMS").update(items)


def _dict(u):
    items = u.pop_mark()
    if len(items) % 2:
        raise UnpicklingError("DICT needs key/value pairs")
    u.push({items[i]: items[i + 1] for i in range(0, len(items), 2)})


def _pop(u):
    if u.stack:
        u.stack.pop()
    else:
        u.pop_mark()


def _mark(u):
    u.marks.append(u.stack)
    u.stack = []


def _get_of(fmt):
    def op(u):
        i = int(u._line()) if fmt == "line" else (u._unpack(fmt) if fmt else u._read(1)[0])
        if i not in u.memo:
            raise UnpicklingError(f"memo key {i} was never stored (memo trick?)")
        u.push(u.memo[i])
    return op


def _put_of(fmt):
    def op(u):
        i = int(u._line()) if fmt == "line" else (u._unpack(fmt) if fmt else u._read(1)[0])
        if i < 0:
            raise UnpicklingError("negative memo key")
        u.memo[i] = u.stack[-1]
    return op


def _memoize(u):
    u.memo[len(u.memo)] = u.stack[-1]


def _global(u):
    module = u._line().decode("utf-8")
    name = u._line().decode("utf-8")
    u.push(u.find_global(module, name))


def _stack_global(u):
    name = u.stack.pop()
    module = u.stack.pop()
    u.push(u.find_global(module, name))


def _reduce(u):
    args = u.stack.pop()
    u.stack[-1] = u.call(u.stack[-1], args)


def _newobj(u):
    args = u.stack.pop()
    cls = u.stack.pop()
    if type(args) is not tuple:
        raise UnpicklingError("NEWOBJ arguments must be a tuple")
    u.push(u.new(cls, args))


def _newobj_ex(u):
    kwargs = u.stack.pop()
    args = u.stack.pop()
    cls = u.stack.pop()
    if type(args) is not tuple or type(kwargs) is not dict:
        raise UnpicklingError("NEWOBJ_EX needs a tuple and a dict")
    u.push(u.new(cls, args, kwargs))


def _build(u):
    state = u.stack.pop()
    u.build(u.stack[-1], state)


def _persid(u):
    _persistent(u, u._line().decode("ascii"))


def _binpersid(u):
    _persistent(u, u.stack.pop())


def _persistent(u, pid):
    if type(pid) is not str:
        raise UnpicklingError(f"persistent id must be a string, got {type(pid).__name__}")
    if u.persistent_load is None:
        raise UnpicklingError("unsupported persistent id encountered")
    u.push(u.persistent_load(pid))


def _unicode(u):
    u.push(u._line().decode("raw-unicode-escape"))


def _dup(u):
    u.push(u.stack[-1])


def _frozenset(u):
    u.push(frozenset(u.pop_mark()))


DISPATCH = {ord(k): v for k, v in {
    "\x80": _proto, "\x95": _frame, ".": _stop,
    "N": _const(None), "\x88": _const(True), "\x89": _const(False),
    "I": _int, "J": lambda u: u.push(u._unpack("<i")), "K": lambda u: u.push(u._read(1)[0]),
    "M": lambda u: u.push(u._unpack("<H")), "L": _long, "\x8a": _long_of(None),
    "\x8b": _long_of("<i"), "F": lambda u: u.push(float(u._line())),
    "G": lambda u: u.push(u._unpack(">d")),
    "V": _unicode, "X": _string_of("<I", "str"), "\x8c": _string_of(None, "str"),
    "\x8d": _string_of("<Q", "str"), "B": _string_of("<I", "bytes"),
    "C": _string_of(None, "bytes"), "\x8e": _string_of("<Q", "bytes"),
    "\x96": _string_of("<Q", "bytearray"),
    "]": _const(list), "l": lambda u: u.push(list(u.pop_mark())), "a": _append,
    "e": _appends, "}": _const(dict), "d": _dict, "s": _setitem, "u": _setitems,
    ")": _tuple_of(0), "t": lambda u: u.push(tuple(u.pop_mark())), "\x85": _tuple_of(1),
    "\x86": _tuple_of(2), "\x87": _tuple_of(3), "\x8f": _const(set), "\x90": _additems,
    "\x91": _frozenset, "(": _mark, "0": _pop, "1": lambda u: u.pop_mark(), "2": _dup,
    "p": _put_of("line"), "q": _put_of(None), "r": _put_of("<I"), "\x94": _memoize,
    "g": _get_of("line"), "h": _get_of(None), "j": _get_of("<I"),
    "P": _persid, "Q": _binpersid, "c": _global, "\x93": _stack_global, "R": _reduce,
    "\x81": _newobj, "\x92": _newobj_ex, "b": _build,
}.items()}
