"""``tg.save(obj, path)`` / ``tg.load(path)``: checkpoints that never execute code.

The file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) written and read with
``allow_pickle=False``. Arrays are stored as ``a0``, ``a1``, ...; the entry
``__tapegrad_index__`` holds UTF-8 JSON describing the object tree (dicts, lists,
tuples, strings, numbers, bools, None) and, for each array, its shape, dtype and
whether it was a tensor requiring grad. Loading checks every entry against the index,
so a truncated, tampered or foreign file is a ValueError naming the file, and a pickle
file (``torch.save``, ``pickle.dump``) is refused outright: ``pickle`` is never imported.

Writes are atomic: the archive goes to a temporary file in the target's directory, is
flushed and fsync'ed, and then ``os.replace``-d over the target, so an interrupted save
(Ctrl-C, disk full) leaves any previous checkpoint intact.

Tensors on a GPU are written from host copies, with the device they were on; ``load``
puts them back there, or where ``map_location`` says.
"""
import io
import json
import math
import os
import tempfile
import zipfile

from . import backend
from .core.tensor import Tensor

xp = backend.xp

FORMAT = "tapegrad.checkpoint"
VERSION = 1
INDEX = "__tapegrad_index__"
#: NumPy's .npy format has no bfloat16 (it would load as raw "V2" bytes): such arrays are
#: stored as their uint16 bit patterns, with "bfloat16" as the dtype in the index
_BF16 = str(backend.bfloat16)


# -- encoding -----------------------------------------------------------------------------
def _encode(obj, arrays, path):
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return {"int": str(obj)} if abs(obj) >= 2 ** 53 else obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"float": repr(obj)}
    if isinstance(obj, Tensor) or isinstance(obj, backend.generic) or backend.is_array(obj):
        is_tensor = isinstance(obj, Tensor)
        arr = backend.to_host(obj._data if is_tensor else obj)
        if not backend.is_numeric(arr.dtype):
            raise TypeError(f"tg.save: {path} is an array of dtype {arr.dtype}; only bool, "
                            f"integer and floating point arrays can be saved")
        if isinstance(obj, backend.generic):
            value = float(arr) if arr.dtype == backend.bfloat16 else arr.item()
            return {"scalar": value, "dtype": str(arr.dtype)} if math.isfinite(
                float(value)) else {"float": repr(float(value))}
        key = f"a{len(arrays)}"
        arrays[key] = arr if arr.flags.c_contiguous else arr.copy(order="C")  # keeps 0-d
        if arr.dtype == backend.bfloat16:
            arrays[key] = arrays[key].view(backend.xp.uint16)
        entry = {"array": key, "shape": list(arr.shape), "dtype": str(arr.dtype)}
        if is_tensor:
            entry["tensor"] = True
            entry["requires_grad"] = bool(obj.requires_grad)
            if obj.device.type != "cpu":
                entry["device"] = str(obj.device)
        return entry
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"tg.save: dict key {k!r} at {path} is a {type(k).__name__}; "
                                f"only str and int keys can be saved")
            items.append([k, _encode(v, arrays, f"{path}[{k!r}]")])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        vals = [_encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(obj)]
        return {"tuple": vals} if isinstance(obj, tuple) else {"list": vals}
    raise TypeError(f"tg.save: cannot save {path} of type {type(obj).__name__}; checkpoints "
                    f"hold tensors, arrays, numbers, strings, bools, None and dicts/lists/"
                    f"tuples of them (save a module's state_dict(), not the module)")


def _write_archive(f, arrays):
    """Write the npz archive to the open file ``f`` (a seam that tests make fail)."""
    xp.savez(f, allow_pickle=False, **arrays)


def save(obj, path):
    """Save ``obj`` (a state dict or any tree of tensors, numbers, strings, None, bools,
    dicts, lists and tuples) to ``path`` atomically, in a pickle-free format."""
    path = os.fspath(path)
    arrays = {}
    tree = _encode(obj, arrays, "obj")
    index = json.dumps({"format": FORMAT, "version": VERSION, "obj": tree},
                       allow_nan=False).encode("utf-8")
    arrays[INDEX] = xp.frombuffer(index, dtype=backend.uint8)
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


def _file_mode(path):
    try:
        return os.stat(path).st_mode & 0o777          # overwriting: keep the old mode
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


# -- decoding -----------------------------------------------------------------------------
class _Bad(ValueError):
    pass


def _decode(node, npz, used, place):
    if node is None or isinstance(node, (bool, str, int, float)):
        return node
    if isinstance(node, list):
        raise _Bad("a bare list in the index")
    if not isinstance(node, dict) or len(node) == 0:
        raise _Bad(f"unexpected index entry {type(node).__name__}")
    if "dict" in node:
        out = {}
        for item in node["dict"]:
            if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], (str, int)):
                raise _Bad("malformed dict entry")
            out[item[0]] = _decode(item[1], npz, used, place)
        return out
    if "list" in node:
        return [_decode(v, npz, used, place) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, npz, used, place) for v in node["tuple"])
    if "int" in node:
        return int(node["int"])
    if "float" in node:
        v = node["float"]
        if v not in ("nan", "inf", "-inf"):
            raise _Bad(f"bad float {v!r}")
        return float(v)
    if "scalar" in node:
        return xp.asarray(node["scalar"], dtype=_dtype(node["dtype"]))[()]
    if "array" in node:
        key = node["array"]
        if not isinstance(key, str) or key == INDEX or key in used:
            raise _Bad(f"bad array reference {key!r}")
        if key not in npz.files:
            raise _Bad(f"array '{key}' listed in the index is missing (truncated file?)")
        used.add(key)
        arr = npz[key]   # allow_pickle=False: an object array raises here
        if node.get("dtype") == _BF16 and arr.dtype == backend.xp.uint16:
            arr = arr.view(backend.bfloat16)
        if list(arr.shape) != node.get("shape") or str(arr.dtype) != node.get("dtype"):
            raise _Bad(f"array '{key}' is {arr.dtype}{list(arr.shape)} but the index says "
                       f"{node.get('dtype')}{node.get('shape')} (tampered file?)")
        if not backend.is_numeric(arr.dtype):
            raise _Bad(f"array '{key}' has unsupported dtype {arr.dtype}")
        if node.get("tensor"):
            t = Tensor(place(arr, node.get("device", "cpu")))
            if node.get("requires_grad") and backend.is_floating(arr.dtype):
                t.requires_grad_(True)
            return t
        return arr
    raise _Bad(f"unknown index entry with keys {sorted(node)}")


def _dtype(name):
    dt = xp.dtype(name)
    if not backend.is_numeric(dt):
        raise _Bad(f"unsupported dtype {name!r}")
    return dt


def _placer(map_location):
    """``place(array, saved_device) -> array`` on the device ``map_location`` picks: None
    (where it was saved), a device or string (there), or a dict {saved: target}."""
    def place(arr, saved):
        target = saved
        if isinstance(map_location, dict):
            target = map_location.get(saved, saved)
        elif map_location is not None:
            target = map_location
        dev = backend.device(target)
        if dev.type == "cuda" and map_location is None:
            from .cuda import is_available
            if not is_available():
                raise _Bad(f"it holds a tensor saved on {saved}, but CUDA is not available "
                           f"here; pass map_location='cpu' to load it into host memory")
        return backend.to_device(arr, backend.devices.resolve(dev))
    if map_location is not None and not isinstance(map_location, dict):
        backend.devices.resolve(map_location)   # a bad or missing device: say so first
    return place


def load(path, map_location=None, weights_only=True):
    """Load what ``tg.save`` wrote. Tensors come back as tensors (requires_grad as saved)
    on the device they were saved from, or where ``map_location`` says ("cpu", "cuda",
    a device, or a dict mapping saved devices to targets); arrays as arrays. Never
    unpickles: a pickle file or a damaged archive raises ValueError naming the file."""
    path = os.fspath(path)
    if not weights_only:
        raise ValueError("tg.load never unpickles (weights_only=False is not supported); "
                         "checkpoints hold only tensors, numbers, strings and containers")
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        data = f.read()
    if head[:1] == b"\x80" or head[:2] in (b"(d", b"(l", b"}q", b"]q", b"cc"):
        raise ValueError(f"{path} looks like a pickle file (e.g. from torch.save or "
                         f"pickle.dump); tapegrad never unpickles, because unpickling runs "
                         f"code from the file. Convert it once, in a trusted environment, "
                         f"to tensors and save it with tg.save.")
    if head != b"PK\x03\x04":
        raise ValueError(f"{path} is not a tapegrad checkpoint (no zip/npz header; the file "
                         f"is {len(data)} bytes, empty or truncated?)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            pickled = [n for n in z.namelist() if n.endswith(".pkl") or "/data.pkl" in n]
            if pickled:
                raise _Bad(f"it contains pickled data ({pickled[0]!r}; a torch.save file?), "
                           f"which tapegrad never loads because unpickling runs code")
            bad = z.testzip()   # checks every member's CRC: catches flipped bytes
            if bad is not None:
                raise _Bad(f"member {bad!r} fails its CRC check (tampered or corrupted file)")
        npz = xp.load(io.BytesIO(data), allow_pickle=False)
        with npz:
            if INDEX not in npz.files:
                raise _Bad("it has no tapegrad index (an .npz from elsewhere?)")
            raw = npz[INDEX]
            if raw.dtype != backend.uint8 or raw.ndim != 1:
                raise _Bad("malformed index")
            index = json.loads(raw.tobytes().decode("utf-8"))
            if not isinstance(index, dict) or index.get("format") != FORMAT:
                raise _Bad("the index is not a tapegrad checkpoint index")
            if index.get("version") != VERSION:
                raise _Bad(f"format version {index.get('version')!r} is not supported "
                           f"(this tapegrad reads version {VERSION})")
            used = set()
            obj = _decode(index.get("obj"), npz, used, _placer(map_location))
            extra = set(npz.files) - used - {INDEX}
            if extra:
                raise _Bad(f"it holds arrays the index does not mention: {sorted(extra)[:5]}")
            return obj
    except _Bad as e:
        raise ValueError(f"cannot load {path}: {e}") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, json.JSONDecodeError,
            UnicodeDecodeError, RecursionError, TypeError) as e:
        raise ValueError(f"cannot load {path}: damaged or truncated checkpoint "
                         f"({type(e).__name__}: {e})") from None
    except ValueError as e:   # numpy refusing object arrays, bad headers
        raise ValueError(f"cannot load {path}: {e} (the file is damaged, or holds pickled "
                         f"objects, which tapegrad never loads)") from None
