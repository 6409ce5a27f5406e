"""Hostile pickles against tg.load(weights_only=True) (issue 17, reliability case 53).

Every payload is refused with a pickle.UnpicklingError naming what it tried, and runs
nothing: os.system, posix.system, os.popen, subprocess.*, eval and exec are replaced by
recorders while it loads (no call may be recorded), and the command it would run creates a
canary file (which must not appear). Each payload that can act is first shown to be live:
Python's own pickle.loads, under the same recorders, does call the function. Payloads are
loaded both by the unpickler itself and inside a tapegrad archive through tg.load.
"""
import builtins
import codecs
import contextlib
import copyreg
import io
import json
import os
import pickle
import posix
import struct
import subprocess

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.serialization._weights_only import WeightsOnlyUnpickler

M, TUP, T1, T2, T3 = pickle.MARK, pickle.TUPLE, pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3
R, B, NEWOBJ, NONE, D = pickle.REDUCE, pickle.BUILD, pickle.NEWOBJ, pickle.NONE, pickle.DICT
ET, ED, EL = pickle.EMPTY_TUPLE, pickle.EMPTY_DICT, pickle.EMPTY_LIST
HERE = __name__


def G(module, name):
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def S(text):
    raw = text.encode()
    return pickle.BINUNICODE + struct.pack("<I", len(raw)) + raw


def P(body, proto=3):
    return bytes([0x80, proto]) + body + pickle.STOP


def PUT(i):
    return pickle.BINPUT + bytes([i])


def GET(i):
    return pickle.BINGET + bytes([i])


class _Reduce:
    """An object whose pickle calls ``fn(*args)`` (what an attacker writes)."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


class Benign(nn.Module):
    """A user module with a harmless __setstate__, whose __init__ has a side effect that a
    hostile REDUCE with the file's arguments would trigger."""

    def __init__(self, path=None):
        super().__init__()
        if path is not None:
            open(path, "w").close()

    def __setstate__(self, state):
        self.__dict__.update(state)


def _cmd(path):
    return f"touch {path}"


def _code(path):
    return f"open({str(path)!r}, 'w').close()"


# (id, payload(path) -> bytes, message regex, live: plain pickle would act)
PAYLOADS = [
    ("os.system", lambda p: P(G("os", "system") + S(_cmd(p)) + T1 + R, 2),
     r"GLOBAL os\.system was not an allowed global by default and can never be allowed "
     r"\(module os is blocked\)", True),
    *[(f"posix.system-proto{n}", (lambda n: lambda p: pickle.dumps(
        _Reduce(os.system, _cmd(p)), protocol=n))(n), r"GLOBAL posix\.system", True)
      for n in (0, 2, 4, 5)],
    ("os.popen", lambda p: pickle.dumps(_Reduce(os.popen, _cmd(p)), 2),
     r"GLOBAL os\.popen", True),
    ("subprocess.Popen", lambda p: pickle.dumps(_Reduce(subprocess.Popen,
                                                        ["touch", str(p)]), 4),
     r"GLOBAL subprocess\.Popen .*module subprocess is blocked", True),
    ("subprocess.run", lambda p: pickle.dumps(_Reduce(subprocess.run, ["touch", str(p)]), 2),
     r"GLOBAL subprocess\.run", True),
    ("eval-proto2", lambda p: pickle.dumps(_Reduce(eval, _code(p)), 2),
     r"GLOBAL builtins\.eval .*builtins\.eval runs code", True),
    ("exec-compile", lambda p: P(G("builtins", "exec") + G("builtins", "compile")
                                 + S(_code(p)) + S("<x>") + S("exec") + T3 + R + T1 + R),
     r"GLOBAL builtins\.exec", True),
    ("compile-first", lambda p: P(G("builtins", "compile") + S(_code(p)) + S("<x>")
                                  + S("exec") + T3 + R), r"GLOBAL builtins\.compile", False),
    ("getattr-import-chain", lambda p: P(
        G("builtins", "getattr") + G("builtins", "__import__") + S("os") + T1 + R
        + S("system") + T2 + R + S(_cmd(p)) + T1 + R), r"GLOBAL builtins\.getattr", True),
    ("stack-global-from-memo", lambda p: P(
        S("os") + PUT(0) + S("system") + PUT(1) + pickle.POP + pickle.POP + GET(0) + GET(1)
        + pickle.STACK_GLOBAL + S(_cmd(p)) + T1 + R, 4), r"GLOBAL os\.system", True),
    ("stack-global-attribute-path", lambda p: P(
        S("tapegrad.nn.module") + S("Module.__init__.__globals__") + pickle.STACK_GLOBAL,
        4), r"GLOBAL tapegrad\.nn\.module\.Module\.__init__\.__globals__ was not an allowed",
     False),
    ("global-attribute-path", lambda p: P(G("builtins", "object.__subclasses__") + ET + R),
     r"GLOBAL builtins\.object\.__subclasses__ was not an allowed", False),
    ("proto-switch-midstream", lambda p: P(bytes([0x80, 2]) + G("__builtin__", "eval")
                                           + S(_code(p)) + T1 + R, 4),
     r"GLOBAL builtins\.eval .*can never be allowed", True),
    ("stack-global-non-strings", lambda p: P(pickle.BININT1 + b"\x01" + S("system")
                                             + pickle.STACK_GLOBAL, 4),
     r"STACK_GLOBAL needs two strings", False),
    # -- allowed classes called or filled with hostile state
    ("reduce-tapegrad-class", lambda p: P(G("tapegrad.nn.layers", "Linear")
                                          + pickle.LONG1 + b"\x04\x00\xca\x9a\x3b" * 1
                                          + pickle.BININT + struct.pack("<i", 10 ** 9)
                                          + T2 + R),
     r"REDUCE would call the class tapegrad\.nn\.layers\.Linear .*__init__", False),
    ("reduce-allowed-user-class", lambda p: P(G(HERE, "Benign") + S(str(p)) + T1 + R),
     r"REDUCE would call the class test_serialization_hostile\.Benign", True),
    ("build-sets-__class__", lambda p: P(G("tapegrad.nn.layers", "Linear") + ET + NEWOBJ
                                         + ED + S("__class__") + G("collections",
                                                                   "OrderedDict")
                                         + pickle.SETITEM + B),
     r"may not set the special attribute '__class__' on tapegrad\.nn\.layers\.Linear",
     False),
    ("build-sets-__dict__", lambda p: P(G("tapegrad.nn.layers", "Linear") + ET + NEWOBJ
                                        + ED + S("__dict__") + ED + pickle.SETITEM + B),
     r"special attribute '__dict__'", False),
    ("build-replaces-forward", lambda p: P(G("tapegrad.nn.layers", "Linear") + ET + NEWOBJ
                                           + ED + S("forward") + G("builtins", "set")
                                           + pickle.SETITEM + B),
     r"may not set 'forward' on tapegrad\.nn\.layers\.Linear: it would replace", False),
    ("build-slotstate-__class__", lambda p: P(G("tapegrad.nn.layers", "Linear") + ET
                                              + NEWOBJ + NONE + ED + S("__class__")
                                              + G("builtins", "set") + pickle.SETITEM + T2
                                              + B), r"not one of its declared slots", False),
    ("build-on-a-global-class", lambda p: P(G("tapegrad.nn.layers", "Linear") + NONE + ED
                                            + S("forward") + G("builtins", "set")
                                            + pickle.SETITEM + T2 + B),
     r"BUILD of a type this load did not create", False),
    ("build-through-memo-on-class", lambda p: P(G("collections", "OrderedDict") + PUT(0)
                                                + pickle.POP + GET(0) + ED + S("x")
                                                + NONE + pickle.SETITEM + B),
     r"BUILD of a type this load did not create", False),
    ("build-on-optimizer-with-setstate", lambda p: P(G("tapegrad.optim.sgd", "SGD") + ET
                                                     + NEWOBJ + ED + S("__class__")
                                                     + NONE + pickle.SETITEM + B),
     r"special attribute '__class__' on tapegrad\.optim\.sgd\.SGD", False),
    ("appends-onto-a-class", lambda p: P(G("tapegrad.nn.containers", "Sequential") + M
                                         + G("builtins", "set") + pickle.APPENDS),
     r"APPENDS on a type", False),
    ("setitems-onto-a-class", lambda p: P(G("collections", "OrderedDict") + M + S("k")
                                          + NONE + pickle.SETITEMS),
     r"SETITEMS on a type", False),
    ("additems-onto-a-list", lambda p: P(EL + M + NONE + pickle.ADDITEMS, 4),
     r"ADDITEMS on a list", False),
    # -- opcodes that call or look up by other routes
    ("copyreg-ext1", lambda p: P(pickle.EXT1 + b"\xf0" + S(_cmd(p)) + T1 + R, 2),
     r"unsupported opcode EXT1 .*copyreg extension", True),
    ("copyreg-ext2", lambda p: P(pickle.EXT2 + struct.pack("<H", 0xf0) + S(_cmd(p)) + T1
                                 + R, 2), r"unsupported opcode EXT2", True),
    ("copyreg-ext4", lambda p: P(pickle.EXT4 + struct.pack("<i", 0xf0) + S(_cmd(p)) + T1
                                 + R, 2), r"unsupported opcode EXT4", True),
    ("inst", lambda p: P(M + S(_cmd(p)) + pickle.INST + b"os\nsystem\n", 2),
     r"unsupported opcode INST", True),
    ("obj-disallowed", lambda p: P(M + G("os", "system") + S(_cmd(p)) + pickle.OBJ, 2),
     r"GLOBAL os\.system", True),
    ("obj-allowed-class", lambda p: P(M + G("tapegrad.nn.layers", "Linear") + pickle.OBJ, 2),
     r"unsupported opcode OBJ", False),
    ("newobj_ex-disallowed", lambda p: P(G("subprocess", "Popen") + EL + T1 + ED
                                         + pickle.NEWOBJ_EX, 4),
     r"GLOBAL subprocess\.Popen", False),
    ("newobj_ex-kwargs", lambda p: P(G("tapegrad.nn.layers", "Linear") + ET + ED + S("a")
                                     + NONE + pickle.SETITEM + pickle.NEWOBJ_EX, 4),
     r"NEWOBJ_EX of tapegrad\.nn\.layers\.Linear with keyword arguments", False),
    ("newobj-args", lambda p: P(G("tapegrad.nn.layers", "Linear") + S("x") + T1 + NEWOBJ),
     r"NEWOBJ of tapegrad\.nn\.layers\.Linear with arguments", False),
    ("newobj-callable-not-class", lambda p: P(G("builtins", "set") + ET + NEWOBJ),
     r"NEWOBJ of builtins\.set, which is not an allowed class", False),
    ("reduce-bad-builtin-args", lambda p: P(G("_codecs", "encode") + S("x") + S("rot13")
                                            + T2 + R), r"REDUCE of _codecs\.encode", False),
    # -- nested protocols, persistent ids, memo
    ("pickle.loads-of-bytes", lambda p: P(G("pickle", "loads") + pickle.BINBYTES
                                          + struct.pack("<I", len(_inner(p))) + _inner(p)
                                          + T1 + R),
     r"GLOBAL pickle\.loads .*module pickle is blocked", True),
    ("_pickle.loads", lambda p: P(G("_pickle", "loads") + S("x") + T1 + R),
     r"GLOBAL _pickle\.loads", False),
    ("numpy.load", lambda p: P(G("numpy", "load") + S(str(p)) + T1 + R),
     r"GLOBAL numpy\.load was not", False),
    ("persistent-id-tuple", lambda p: P(S("storage") + T1 + pickle.BINPERSID),
     r"persistent id must be a string", False),
    ("persistent-id-unknown", lambda p: P(pickle.PERSID + b"99\n", 0),
     r"(persistent id '99' is not one of the file's 0 stored values|unsupported persistent "
     r"id)", False),
    ("memo-get-missing", lambda p: P(GET(7)), r"memo key 7 was never stored", False),
    ("numpy-reconstruct", lambda p: pickle.dumps(np.arange(3), 2),
     r"GLOBAL numpy\._core\.multiarray\._reconstruct", False),
    ("numpy-dtype", lambda p: pickle.dumps(np.dtype("float32"), 2), r"GLOBAL numpy\.dtype",
     False),
    ("numpy-scalar", lambda p: pickle.dumps(np.float32(1.0), 4),
     r"GLOBAL numpy\._core\.multiarray\.scalar", False),
    ("numpy-runstring", lambda p: P(G("numpy.testing._private.utils", "runstring")
                                    + S(_code(p)) + ED + T2 + R),
     r"GLOBAL numpy\.testing\._private\.utils\.runstring", True),
    # -- malformed streams
    ("protocol-6", lambda p: P(NONE, 6), r"unsupported pickle protocol 6", False),
    ("unknown-opcode", lambda p: P(b"\xff"), r"unsupported opcode 0xff", False),
    ("out-of-band-buffer", lambda p: P(pickle.NEXT_BUFFER, 5),
     r"unsupported opcode NEXT_BUFFER", False),
    ("python2-string", lambda p: P(pickle.SHORT_BINSTRING + b"\x01a", 2),
     r"unsupported opcode SHORT_BINSTRING", False),
    ("stack-underflow", lambda p: P(R), r"too few items on the stack", False),
    ("items-left-at-stop", lambda p: P(NONE + NONE), r"items left on the stack", False),
    ("truncated", lambda p: P(S("abc"))[:-3], r"truncated", False),
    ("lying-frame", lambda p: bytes([0x80, 4]) + pickle.FRAME + struct.pack("<Q", 10 ** 6)
     + NONE + pickle.STOP, r"frame longer than the data", False),
    ("data-after-stop", lambda p: P(NONE) + G("os", "system"),
     r"bytes of data follow the pickle's STOP", False),
]


def _inner(path):
    return pickle.dumps(_Reduce(os.system, _cmd(path)), 2)


def _archive(blob):
    """A tapegrad checkpoint whose pickled object is ``blob``."""
    index = {"format": "tapegrad.checkpoint", "version": 2,
             "obj": {"pickle": "pickle", "refs": []}}
    buf = io.BytesIO()
    np.savez(buf, pickle=np.frombuffer(blob, np.uint8),
             __tapegrad_index__=np.frombuffer(json.dumps(index).encode(), np.uint8))
    buf.seek(0)
    return buf


@contextlib.contextmanager
def _recorders(calls):
    """Replace what a payload could run with functions that only record their calls."""
    def recorder(name):
        def record(*args, **kwargs):
            calls.append((name, args))
            return 0
        return record
    targets = [(os, "system"), (posix, "system"), (os, "popen"), (os, "execv"),
               (subprocess, "Popen"), (subprocess, "run"), (subprocess, "call"),
               (builtins, "eval"), (builtins, "exec")]
    codecs.lookup("raw-unicode-escape")   # imports its codec now: imports run builtins.exec
    saved = [(m, n, getattr(m, n)) for m, n in targets]
    for m, n in targets:
        setattr(m, n, recorder(f"{m.__name__}.{n}"))
    copyreg.add_extension("os", "system", 0xf0)       # EXT payloads resolve to os.system
    try:
        yield
    finally:
        copyreg.remove_extension("os", "system", 0xf0)
        for m, n, v in saved:
            setattr(m, n, v)


@pytest.mark.parametrize("name,payload,message,live", PAYLOADS, ids=[p[0] for p in PAYLOADS])
def test_hostile_pickle_is_refused_and_runs_nothing(tmp_path, name, payload, message, live):
    if live:                    # plain pickle would act on it: the payload is real
        calls, target = [], tmp_path / "live"
        blob = payload(target)
        with _recorders(calls), tg.serialization.safe_globals([Benign]):
            with contextlib.suppress(Exception):
                pickle.loads(blob)
        assert calls or target.exists(), "the payload does nothing even in plain pickle"
    canary = tmp_path / "pwned"
    blob = payload(canary)
    calls = []
    linear_forward = nn.Linear.forward
    with _recorders(calls), tg.serialization.safe_globals([Benign]):
        with pytest.raises(pickle.UnpicklingError, match=message):
            WeightsOnlyUnpickler(blob).load()
        with pytest.raises(pickle.UnpicklingError, match="Weights only load failed for "
                                                         "<file object>: .*" + message):
            tg.load(_archive(blob))
    assert calls == [] and not canary.exists()
    assert nn.Linear.forward is linear_forward and not hasattr(nn.Linear, "x")


def test_pickle_inside_bytes_stays_bytes(tmp_path):
    """A pickle carried as data is returned as data, never unpickled."""
    inner = _inner(tmp_path / "pwned")
    calls = []
    with _recorders(calls):
        out = WeightsOnlyUnpickler(pickle.dumps({"payload": inner}, 4)).load()
    assert out == {"payload": inner} and calls == []
    assert not (tmp_path / "pwned").exists()


def test_blocked_globals_can_never_be_allowed():
    for fn in (os.system, posix.system, subprocess.Popen, eval, exec, compile, getattr,
               __import__, pickle.loads, (os.system, "harmless.looking")):
        with pytest.raises(ValueError, match="can never be allowed"):
            tg.serialization.add_safe_globals([fn])
        with pytest.raises(ValueError, match="can never be allowed"):
            with tg.serialization.safe_globals([fn]):
                pass
    assert tg.serialization.get_safe_globals() == []


def test_refused_file_is_named_and_weights_only_false_is_for_trusted_files(tmp_path):
    path = tmp_path / "evil.pt"
    path.write_bytes(_archive(_inner(tmp_path / "pwned")).getvalue())
    with pytest.raises(pickle.UnpicklingError, match=rf"{path}.*GLOBAL posix\.system.*only "
                                                     rf"for files you trust"):
        tg.load(path)
    assert tg.serialization.get_unsafe_globals_in_checkpoint(path) == ["posix.system"]
    assert not (tmp_path / "pwned").exists()


def test_unsafe_globals_are_listed_without_running_anything(tmp_path):
    calls, blobs = [], {name: payload(tmp_path / "pwned") for name, payload, _, _ in PAYLOADS
                        if name not in ("unknown-opcode", "truncated")}
    with _recorders(calls):
        listed = {name: tg.serialization.get_unsafe_globals_in_checkpoint(_archive(blob))
                  for name, blob in blobs.items()}
        with pytest.raises(ValueError, match="cannot read the pickle in <file object>"):
            tg.serialization.get_unsafe_globals_in_checkpoint(_archive(P(b"\xff")))
    assert calls == [] and not (tmp_path / "pwned").exists()
    assert listed["inst"] == ["os.system"] and listed["proto-switch-midstream"] == [
        "builtins.eval"]
    assert listed["getattr-import-chain"] == ["builtins.__import__", "builtins.getattr"]


def test_tampered_refs_are_refused_without_unpickling(tmp_path):
    good = io.BytesIO()
    tg.save(nn.Linear(2, 2), good)
    for bad_ref, match in ([{"function": "tapegrad.save"}, "unknown tapegrad function"],
                           [{"dtype": "object"}, "unsupported dtype"],
                           [{"device": "tpu:0"}, "bad device"],
                           [{"code": "os.system"}, "unknown ref"]):
        index = {"format": "tapegrad.checkpoint", "version": 2,
                 "obj": {"pickle": "pickle", "refs": [bad_ref]}}
        buf = io.BytesIO()
        np.savez(buf, pickle=np.frombuffer(pickle.dumps(None), np.uint8),
                 __tapegrad_index__=np.frombuffer(json.dumps(index).encode(), np.uint8))
        buf.seek(0)
        with pytest.raises(ValueError, match=match):
            tg.load(buf)
