"""The JSON index of a tapegrad checkpoint: trees of tensors, arrays, numbers, strings, bools,
None and dicts/lists/tuples, described in JSON beside the arrays they point to.

``encode`` turns such a tree into JSON, putting every array into ``arrays`` (``a0``, ``a1``,
...); ``decode`` reads it back, checking every array against its entry, and puts tensors
on the device ``placer`` picks. Anything else raises ``NeedsPickle`` (``tg.save`` then
pickles the whole object, with this same JSON for its tensors).
"""
import math

from .. import backend
from ..core.tensor import Tensor

xp = backend.xp

FORMAT = "tapegrad.checkpoint"
VERSION = 1          # a tree described by the JSON index alone
PICKLED_VERSION = 2  # a pickled object, its tensors as JSON refs
PICKLE_MEMBER = "pickle"
INDEX = "__tapegrad_index__"
#: NumPy's .npy format has no bfloat16 (it would load as raw "V2" bytes): such arrays are
#: stored as their uint16 bit patterns, with "bfloat16" as the dtype in the index
_BF16 = str(backend.bfloat16)


# -- encoding -----------------------------------------------------------------------------
class NeedsPickle(TypeError):
    """An object the JSON index cannot describe: ``save`` pickles the whole object."""


def encode(obj, arrays, path):
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
                raise NeedsPickle(f"tg.save: dict key {k!r} at {path} is a {type(k).__name__}; "
                                f"only str and int keys can be saved")
            items.append([k, encode(v, arrays, f"{path}[{k!r}]")])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        vals = [encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(obj)]
        return {"tuple": vals} if isinstance(obj, tuple) else {"list": vals}
    raise NeedsPickle(f"tg.save: cannot save {path} of type {type(obj).__name__}; checkpoints "
                    f"hold tensors, arrays, numbers, strings, bools, None and dicts/lists/"
                    f"tuples of them (save a module's state_dict(), not the module)")


# -- decoding -----------------------------------------------------------------------------
class Bad(ValueError):
    pass


def decode(node, npz, used, place):
    if node is None or isinstance(node, (bool, str, int, float)):
        return node
    if isinstance(node, list):
        raise Bad("a bare list in the index")
    if not isinstance(node, dict) or len(node) == 0:
        raise Bad(f"unexpected index entry {type(node).__name__}")
    if "dict" in node:
        out = {}
        for item in node["dict"]:
            if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], (str, int)):
                raise Bad("malformed dict entry")
            out[item[0]] = decode(item[1], npz, used, place)
        return out
    if "list" in node:
        return [decode(v, npz, used, place) for v in node["list"]]
    if "tuple" in node:
        return tuple(decode(v, npz, used, place) for v in node["tuple"])
    if "int" in node:
        return int(node["int"])
    if "float" in node:
        v = node["float"]
        if v not in ("nan", "inf", "-inf"):
            raise Bad(f"bad float {v!r}")
        return float(v)
    if "scalar" in node:
        return xp.asarray(node["scalar"], dtype=_dtype(node["dtype"]))[()]
    if "array" in node:
        key = node["array"]
        if not isinstance(key, str) or key == INDEX or key in used:
            raise Bad(f"bad array reference {key!r}")
        if key not in npz.files:
            raise Bad(f"array '{key}' listed in the index is missing (truncated file?)")
        used.add(key)
        arr = npz[key]   # allow_pickle=False: an object array raises here
        if node.get("dtype") == _BF16 and arr.dtype == backend.xp.uint16:
            arr = arr.view(backend.bfloat16)
        if list(arr.shape) != node.get("shape") or str(arr.dtype) != node.get("dtype"):
            raise Bad(f"array '{key}' is {arr.dtype}{list(arr.shape)} but the index says "
                       f"{node.get('dtype')}{node.get('shape')} (tampered file?)")
        if not backend.is_numeric(arr.dtype):
            raise Bad(f"array '{key}' has unsupported dtype {arr.dtype}")
        if node.get("tensor"):
            t = Tensor(place(arr, node.get("device", "cpu")))
            if node.get("requires_grad") and backend.is_floating(arr.dtype):
                t.requires_grad_(True)
            return t
        return arr
    raise Bad(f"unknown index entry with keys {sorted(node)}")


def _dtype(name):
    dt = xp.dtype(name)
    if not backend.is_numeric(dt):
        raise Bad(f"unsupported dtype {name!r}")
    return dt


def placer(map_location):
    """``place(array, saved_device) -> array`` on the device ``map_location`` picks: None
    (where it was saved), a device or string (there), a dict {saved: target}, or PyTorch's
    callable ``map_location(tensor, saved_location)`` returning a tensor (or None: where it
    was saved)."""
    def place(arr, saved):
        target = saved
        if callable(map_location) and not isinstance(map_location, backend.device):
            moved = map_location(Tensor(arr), saved)
            if isinstance(moved, Tensor):
                return moved._data
            if moved is not None:
                raise TypeError(f"tg.load: map_location returned a {type(moved).__name__}; "
                                f"it must return a tensor or None")
        elif isinstance(map_location, dict):
            target = map_location.get(saved, saved)
        elif map_location is not None:
            target = map_location
        dev = backend.device(target)
        if dev.type == "cuda" and (map_location is None or callable(map_location)):
            from ..cuda import is_available
            if not is_available():
                raise Bad(f"it holds a tensor saved on {saved}, but CUDA is not available "
                           f"here; pass map_location='cpu' to load it into host memory")
        return backend.to_device(arr, backend.devices.resolve(dev))
    if map_location is not None and not isinstance(map_location, dict) \
            and not (callable(map_location) and not isinstance(map_location, backend.device)):
        backend.devices.resolve(map_location)   # a bad or missing device: say so first
    return place
