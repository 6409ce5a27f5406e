"""State-dict loading (strict and all-or-nothing) and the deepcopy guard for Module."""
from collections import namedtuple

from .. import backend
from ..core.tensor import Tensor
from ..core.modes import no_grad

xp = backend.xp

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def load_state_dict(module, state_dict, strict=True, assign=False):
    """Copy values into parameters and buffers (in place).

    Everything is checked first: missing keys, unexpected keys (both only when
    ``strict``), and shape and dtype mismatches (always). If anything is wrong, one
    RuntimeError lists every problem and nothing is changed. Returns
    ``(missing_keys, unexpected_keys)``.
    """
    if not hasattr(state_dict, "items"):
        raise TypeError(f"expected a dict-like state_dict, got {type(state_dict).__name__}")
    own = module.state_dict(keep_vars=True)
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    problems = []
    writes = []
    for k, target in own.items():
        if k not in state_dict:
            continue
        v = state_dict[k]
        arr = v._data if isinstance(v, Tensor) else v
        if not isinstance(arr, backend.generic) and not backend.is_array(arr):
            try:
                arr = xp.asarray(arr)
            except Exception:   # noqa: BLE001 - reported as a problem below
                problems.append(f"value for '{k}' is a {type(v).__name__}, not a tensor")
                continue
        if arr.shape != target.shape:
            problems.append(f"size mismatch for '{k}': copying a param with shape "
                            f"{list(arr.shape)} from checkpoint, the shape in current "
                            f"model is {list(target.shape)}")
        elif arr.dtype != target.dtype:
            problems.append(f"dtype mismatch for '{k}': checkpoint has {arr.dtype}, the "
                            f"current model has {target.dtype}; convert the model with "
                            f"model.to({arr.dtype}) or the checkpoint entry with "
                            f".to({target.dtype}) first")
        else:
            writes.append((target, arr))
    if strict:
        if missing:
            problems.insert(0, "Missing key(s) in state_dict: " +
                            ", ".join(f'"{k}"' for k in missing))
        if unexpected:
            problems.insert(1 if missing else 0, "Unexpected key(s) in state_dict: " +
                            ", ".join(f'"{k}"' for k in unexpected))
    if problems:
        hint = ("" if not strict or not (missing or unexpected) else
                " If the model really changed, rename or drop those keys in the checkpoint;"
                " strict=False skips missing/unexpected keys but never loads wrong shapes.")
        raise RuntimeError(f"Error(s) in loading state_dict for {type(module).__name__} "
                           f"(nothing was loaded):\n\t" + "\n\t".join(problems) + hint)
    with no_grad():
        for target, arr in writes:
            if assign or not backend.is_writeable(target._data):   # (assign: arr's device)
                target._data = backend.array_module(arr).array(arr)
            else:   # into the module's memory, on its device
                dst = target._data
                backend.array_module(dst).copyto(dst, backend.to_device(
                    backend.array_module(arr).asarray(arr), backend.device_of(dst)))
            target._vc[0] += 1
    return IncompatibleKeys(missing, unexpected)


def non_leaf_attributes(module, prefix):
    """(attribute path, op name) for every non-leaf tensor a module tree holds."""
    for k, v in module.__dict__.items():
        if isinstance(v, Tensor) and v.node is not None and not v.node.is_leaf:
            yield f"{prefix}.{k}", v.node.name
        elif isinstance(v, (list, tuple)):
            for i, t in enumerate(v):
                if isinstance(t, Tensor) and t.node is not None and not t.node.is_leaf:
                    yield f"{prefix}.{k}[{i}]", t.node.name
    for name, m in module._modules.items():
        if m is not None:
            yield from non_leaf_attributes(m, f"{prefix}.{name}")
    for reg in ("_buffers",):
        for name, t in module.__dict__[reg].items():
            if t is not None and t.node is not None and not t.node.is_leaf:
                yield f"{prefix}.{name}", t.node.name
