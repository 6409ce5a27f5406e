"""``tg.save(obj, f)`` / ``tg.load(f)``: checkpoints, and whole objects loaded safely.

The file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) written and read with
``allow_pickle=False``. Arrays are stored as ``a0``, ``a1``, ...; the entry
``__tapegrad_index__`` holds UTF-8 JSON describing the object. A state dict or any tree of
tensors, arrays, numbers, strings, bools, None and dicts (str/int keys)/lists/tuples is
described entirely in the JSON (format version 1): no pickle at all. Any other object (a
whole ``nn.Module``, an optimizer, a scheduler, a user's class) is pickled into the member
``pickle`` (format version 2), with its tensors, dtypes, devices and tapegrad functions kept
outside the pickle as JSON refs (``_pickled``).

``tg.load(f, weights_only=True)`` (the default, as in PyTorch since 2.6) reads that pickle
with tapegrad's own weights-only unpickler (``_weights_only``): only containers, numbers,
strings, tapegrad's modules, optimizers and schedulers, and what the user allows with
``tg.serialization.add_safe_globals`` are rebuilt; anything else is an
``pickle.UnpicklingError`` naming it, raised before it runs. ``weights_only=False`` uses
Python's pickle and runs whatever code the file names: for files you trust only.

Loading checks every entry against the index, so a truncated, tampered or foreign file is
a ValueError naming the file. Writes to a path are atomic: the archive goes to a temporary
file in the target's directory, is flushed and fsync'ed, and then ``os.replace``-d over
the target, so an interrupted save (Ctrl-C, disk full) leaves any previous checkpoint
intact. Tensors on a GPU are written from host copies, with the device they were on;
``load`` puts them back there, or where ``map_location`` says.
"""
import io
import json
import os
import pickle
import tempfile
import zipfile

from .. import backend
from . import _pickled
from ._index import (FORMAT, VERSION, PICKLED_VERSION, PICKLE_MEMBER, INDEX, NeedsPickle as
                     _NeedsPickle, Bad as _Bad, encode as _encode, decode as _decode,
                     placer as _placer)
from ._safe_globals import (add_safe_globals, get_safe_globals, clear_safe_globals,
                            safe_globals)

__all__ = ["save", "load", "add_safe_globals", "get_safe_globals", "clear_safe_globals",
           "safe_globals", "get_unsafe_globals_in_checkpoint", "DEFAULT_PROTOCOL"]

xp = backend.xp
#: the pickle protocol ``tg.save`` uses unless told (PyTorch's default)
DEFAULT_PROTOCOL = 2

def _write_archive(f, arrays):
    """Write the npz archive to the open file ``f`` (a seam that tests make fail)."""
    xp.savez(f, allow_pickle=False, **arrays)


def save(obj, f, pickle_module=None, pickle_protocol=DEFAULT_PROTOCOL,
         _use_new_zipfile_serialization=True):
    """Save ``obj`` to ``f``, a path (written atomically) or a binary file object
    (``open(path, "wb")``, ``io.BytesIO()``), as ``torch.save``. A state dict or any tree of
    tensors, arrays, numbers, strings, None, bools, dicts, lists and tuples is stored
    without pickle; any other object (a whole module, an optimizer, a scheduler, a user's
    class) is pickled with ``pickle_protocol``, its tensors stored beside the pickle.
    ``pickle_module`` may only be None or Python's ``pickle``;
    ``_use_new_zipfile_serialization`` is accepted for PyTorch's programs and ignored
    (tapegrad has one format). Returns None.

    Raises TypeError for a file object open in text mode, an array or dtype that is not
    bool, integer or floating point, a tensor subclass, or another ``pickle_module``;
    ValueError for a ``pickle_protocol`` outside 0 to ``pickle.HIGHEST_PROTOCOL``;
    ``pickle.PicklingError`` (or AttributeError) for an object pickle cannot save (a
    lambda, a local class). Nothing is written to a path when saving fails."""
    _check_pickle_module(pickle_module, "save")
    if not isinstance(pickle_protocol, int) or not 0 <= pickle_protocol <= \
            pickle.HIGHEST_PROTOCOL:
        raise ValueError(f"tg.save: pickle_protocol must be 0 to {pickle.HIGHEST_PROTOCOL}, "
                         f"got {pickle_protocol!r}")
    if isinstance(f, io.TextIOBase):
        raise TypeError("tg.save: the file object is open in text mode; open it in binary "
                        "mode ('wb')")
    arrays = {}
    try:
        tree, version = _encode(obj, arrays, "obj"), VERSION
    except _NeedsPickle:
        arrays = {}
        blob, refs = _pickled.dumps(obj, pickle_protocol,
                                    lambda x: _encode(x, arrays, "obj"))
        arrays[PICKLE_MEMBER] = xp.frombuffer(blob, dtype=backend.uint8)
        tree, version = {"pickle": PICKLE_MEMBER, "refs": refs}, PICKLED_VERSION
    index = json.dumps({"format": FORMAT, "version": version, "obj": tree},
                       allow_nan=False).encode("utf-8")
    arrays[INDEX] = xp.frombuffer(index, dtype=backend.uint8)
    if hasattr(f, "write"):
        _write_archive(f, arrays)
        return
    _write_atomically(os.fspath(f), arrays)


def _write_atomically(path, arrays):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        os.chmod(tmp, _file_mode(path))   # mkstemp makes 0600; keep the usual permissions
        with os.fdopen(fd, "wb") as f:
            _write_archive(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _check_pickle_module(pickle_module, fn):
    if pickle_module is not None and pickle_module is not pickle:
        raise TypeError(f"tg.{fn}: pickle_module must be None or Python's pickle module, "
                        f"got {pickle_module!r}")


def _file_mode(path):
    try:
        return os.stat(path).st_mode & 0o777          # overwriting: keep the old mode
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


_REFUSED = ("Weights-only loading rebuilds tensors, containers, numbers, strings and "
            "tapegrad's modules, optimizers and schedulers. If you trust what it names, allow "
            "it with tg.serialization.add_safe_globals([...]) or `with "
            "tg.serialization.safe_globals([...]):`. tg.load(..., weights_only=False) loads "
            "anything but runs code from the file: use it only for files you trust, never as "
            "an automatic retry.")


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None,
         **pickle_load_args):
    """Load what ``tg.save`` wrote, from a path or a binary file object, as ``torch.load``.
    Tensors come back as tensors (requires_grad as saved) on the device they were saved
    from, or where ``map_location`` says ("cpu", "cuda", a device, a dict mapping saved
    devices to targets, or a callable ``(tensor, location) -> tensor``); arrays as arrays.

    A pickled object (a whole module, optimizer, ...) is rebuilt by the weights-only
    unpickler: containers, numbers, strings, tensors and tapegrad's classes, plus what
    ``tg.serialization.add_safe_globals`` allows; anything else raises
    ``pickle.UnpicklingError`` naming it, before it runs. ``weights_only=False`` uses
    Python's pickle, which RUNS CODE FROM THE FILE: pass it only for files you trust (made
    by you or by someone you trust), never to retry a refused file. ``pickle_module`` may
    only be Python's ``pickle`` (with ``weights_only=False``); of PyTorch's
    ``pickle_load_args`` only ``encoding`` is accepted (and ignored). Returns the object.

    Raises ``pickle.UnpicklingError`` naming the file and the refused global or opcode;
    ValueError naming the file for a damaged, truncated or foreign file (a raw pickle, a
    ``torch.save`` file, an array larger than its member, a compressed member), or for a
    CUDA tensor without CUDA and no ``map_location``; TypeError for a text-mode file
    object, another ``pickle_module`` or an unknown keyword; RuntimeError for a
    ``pickle_module`` with ``weights_only=True``; NotImplementedError for ``mmap=True``."""
    _check_pickle_module(pickle_module, "load")
    if pickle_module is not None and weights_only:
        raise RuntimeError("tg.load: can't safely load weights when an explicit "
                           "pickle_module is given; drop it, or pass weights_only=False "
                           "for a file you trust")
    if mmap:
        raise NotImplementedError("tg.load: mmap=True is not supported (checkpoints are "
                                  "read into memory)")
    unknown = set(pickle_load_args) - {"encoding"}
    if unknown:
        raise TypeError(f"tg.load() got an unexpected keyword argument "
                        f"'{sorted(unknown)[0]}'")
    name, data = _read(f)
    index, npz_data = _open(name, data)
    if index.get("version") == VERSION:
        return _archive(name, npz_data, lambda node, npz, used: _decode(
            node, npz, used, _placer(map_location)))
    blob, refs = _archive(name, npz_data, lambda node, npz, used: _pickled_parts(
        node, npz, used, _placer(map_location)))
    if not weights_only:
        return _pickled.loads(blob, refs, weights_only=False)
    try:
        return _pickled.loads(blob, refs, weights_only=True)
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(f"Weights only load failed for {name}: {e}. "
                                     f"{_REFUSED}") from None


def _read(f):
    """``(name for messages, bytes)`` of a path or a binary file object."""
    if hasattr(f, "read"):
        data = f.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("tg.load: the file object is open in text mode; open it in "
                            "binary mode ('rb')")
        return str(getattr(f, "name", "<file object>")), bytes(data)
    path = os.fspath(f)
    with open(path, "rb") as fh:
        return path, fh.read()


def _open(name, data):
    """The checked index of the archive ``data`` (ValueError naming ``name`` otherwise)."""
    head = data[:4]
    if head[:1] == b"\x80" or head[:2] in (b"(d", b"(l", b"}q", b"]q", b"cc"):
        raise ValueError(f"{name} looks like a raw pickle file (from pickle.dump, or an old "
                         f"torch.save); tg.load reads the files tg.save writes. Convert it "
                         f"once, in a trusted environment, and save it with tg.save.")
    if head != b"PK\x03\x04":
        raise ValueError(f"{name} is not a tapegrad checkpoint (no zip/npz header; the file "
                         f"is {len(data)} bytes, empty or truncated?)")

    def read_index(npz, used):
        if INDEX not in npz.files:
            raise _Bad("it has no tapegrad index (an .npz from elsewhere?)")
        raw = npz[INDEX]
        if raw.dtype != backend.uint8 or raw.ndim != 1:
            raise _Bad("malformed index")
        index = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(index, dict) or index.get("format") != FORMAT:
            raise _Bad("the index is not a tapegrad checkpoint index")
        if index.get("version") not in (VERSION, PICKLED_VERSION):
            raise _Bad(f"format version {index.get('version')!r} is not supported "
                       f"(this tapegrad reads versions {VERSION} and {PICKLED_VERSION})")
        return index
    return _archive(name, data, read_index, check=True), data


def _archive(name, data, read, check=False):
    """``read(npz, used)`` on the archive (or ``read(index["obj"], npz, used)`` after the
    index), every member used exactly once; damage becomes a ValueError naming ``name``."""
    try:
        if check:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                pickled = [n for n in z.namelist() if n.endswith(".pkl") or "/data.pkl" in n]
                if pickled:
                    raise _Bad(f"it is a PyTorch checkpoint (torch.save's zip of pickled "
                               f"data, {pickled[0]!r}), which tapegrad does not read; save "
                               f"the state dict with safetensors in PyTorch and read it "
                               f"with tg.safetensors.load_file")
                for info in z.infolist():
                    _check_member(z, info)
                bad = z.testzip()   # checks every member's CRC: catches flipped bytes
                if bad is not None:
                    raise _Bad(f"member {bad!r} fails its CRC check (tampered or corrupted "
                               f"file)")
        with xp.load(io.BytesIO(data), allow_pickle=False) as npz:
            used = set()
            if check:
                return read(npz, used)
            index = json.loads(npz[INDEX].tobytes().decode("utf-8"))
            obj = read(index.get("obj"), npz, used)
            extra = set(npz.files) - used - {INDEX}
            if extra:
                raise _Bad(f"it holds arrays the index does not mention: {sorted(extra)[:5]}")
            return obj
    except _Bad as e:
        raise ValueError(f"cannot load {name}: {e}") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, json.JSONDecodeError,
            UnicodeDecodeError, RecursionError, TypeError) as e:
        raise ValueError(f"cannot load {name}: damaged or truncated checkpoint "
                         f"({type(e).__name__}: {e})") from None
    except ValueError as e:   # numpy refusing object arrays, bad headers
        raise ValueError(f"cannot load {name}: {e} (the file is damaged, or holds "
                         f"objects NumPy would have to unpickle, which tapegrad never "
                         f"does)") from None


def _check_member(z, info):
    """Refuse a member before NumPy allocates its array: tg.save writes uncompressed
    members, so a compressed one (a decompression bomb's way to turn kilobytes into
    gigabytes) is not ours, and an ``.npy`` header must not declare more bytes than the
    member holds (NumPy would allocate the declared size first)."""
    if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
        raise _Bad(f"member {info.filename!r} is compressed, which tg.save never does "
                   f"(it expands from {info.compress_size} to {info.file_size} bytes)")
    if not info.filename.endswith(".npy"):
        return
    with z.open(info) as m:
        npy = backend.xp.lib.format   # (files are read on the host, by NumPy)
        try:
            version = npy.read_magic(m)
            shape, _, dtype = (npy.read_array_header_1_0(m) if version == (1, 0)
                               else npy.read_array_header_2_0(m))
        except ValueError as e:
            raise _Bad(f"member {info.filename!r} has a bad .npy header ({e})") from None
        size = 1
        for n in shape:
            size *= n
        declared, held = size * dtype.itemsize, info.file_size - m.tell()
    if declared > held:
        raise _Bad(f"member {info.filename!r} declares a {dtype}{list(shape)} array "
                   f"({declared} bytes) but holds {held} bytes (truncated or hostile file)")


def _pickle_blob(node, npz, used):
    """The pickle bytes of a version-2 index entry."""
    if not isinstance(node, dict) or set(node) != {"pickle", "refs"} \
            or node["pickle"] != PICKLE_MEMBER or not isinstance(node["refs"], list):
        raise _Bad("malformed index entry for a pickled object")
    if PICKLE_MEMBER not in npz.files:
        raise _Bad("the pickled object is missing (truncated file?)")
    used.add(PICKLE_MEMBER)
    blob = npz[PICKLE_MEMBER]
    if blob.dtype != backend.uint8 or blob.ndim != 1:
        raise _Bad("malformed pickle member")
    return blob.tobytes()


def _pickled_parts(node, npz, used, place):
    """``(pickle bytes, decoded refs)`` of a version-2 index entry."""
    blob = _pickle_blob(node, npz, used)
    try:
        refs = [_pickled.decode_ref(e, lambda a: _decode(a, npz, used, place))
                for e in node["refs"]]
    except _pickled.BadRef as e:
        raise _Bad(str(e)) from None
    return blob, refs


def get_unsafe_globals_in_checkpoint(f):
    """The ``module.name`` globals a checkpoint names that ``tg.load(weights_only=True)``
    does not allow by default (as ``torch.serialization.get_unsafe_globals_in_checkpoint``):
    what you would have to pass to ``add_safe_globals``. Reads the opcodes without running
    anything; a state-dict checkpoint (no pickle) gives ``[]``. A file may still be
    refused for what it does with allowed names (see ``tg.load``). Raises ValueError naming
    the file for a damaged or foreign file, or a pickle that cannot be parsed."""
    name, data = _read(f)
    index, data = _open(name, data)
    if index.get("version") == VERSION:
        return []

    def blob_only(node, npz, used):
        used.update(npz.files)          # the tensors are not read
        return _pickle_blob(node, npz, used)
    try:
        return _pickled.unsafe_globals(_archive(name, data, blob_only))
    except ValueError as e:         # pickletools on a malformed stream
        raise ValueError(f"cannot read the pickle in {name}: {e}") from None
