"""safetensors files: the weights format of the Hugging Face Hub, shared with PyTorch.

    from tapegrad.safetensors import save_file, load_file
    save_file(model.state_dict(), "model.safetensors")
    model.load_state_dict(load_file("model.safetensors"))

A file written by ``safetensors.torch.save_file(torch_model.state_dict(), ...)`` loads into
the same architecture built from ``tg.nn`` (same layer names), and a file written here loads
into PyTorch. The format is a JSON header and raw little-endian bytes: no code runs on load.
Underneath is the ``safetensors`` package's NumPy API, an optional dependency
(``pip install "tapegrad[safetensors]"``), imported the first time a function here is called.
"""
import json
import os
from collections.abc import Mapping

from . import backend
from .core.tensor import Tensor

INSTALL = 'pip install "tapegrad[safetensors]"'

#: safetensors dtype codes tapegrad reads (float8 and complex: refused by name). The
#: package's NumPy API has no BF16 (NumPy has no bfloat16): tapegrad reads those itself.
_READABLE = frozenset(("F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8",
                       "U64", "U32", "U16", "U8", "BOOL"))


def _package():
    """The ``safetensors`` package (with its NumPy API), or an ImportError saying how to
    install it."""
    try:
        import safetensors
        import safetensors.numpy  # noqa: F401  (the API used here)
    except ImportError as e:
        raise ImportError(f"tapegrad.safetensors needs the safetensors package, which is not "
                          f"installed ({e}); {INSTALL}") from None
    return safetensors


def save_file(tensors, path, metadata=None):
    """Write ``tensors`` (a dict of name -> Tensor, e.g. ``model.state_dict()``) to ``path``
    in the safetensors format.

    Tensors on a GPU are written from host copies; strided views (``t.T``, ``expand``) are
    written as their values; tensors that require grad are written without the graph.
    ``metadata`` is an optional dict of str -> str stored in the header. Unlike
    ``safetensors.torch``, tensors sharing memory (tied weights) are each written in full.
    The write is not atomic (as ``safetensors``' own; ``tg.save`` is).

    Raises TypeError for a non-dict, a key that is not a str, a value that is not a tensor
    or array, a complex array, or metadata that is not str -> str; ImportError without the
    safetensors package.
    """
    package = _package()
    if not isinstance(tensors, Mapping):
        raise TypeError(f"save_file: expected a dict of name -> tensor, got "
                        f"{type(tensors).__name__}")
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save_file: tensor names must be str, got {name!r} "
                            f"({type(name).__name__})")
        arr = value._data if isinstance(value, Tensor) else value
        if not backend.is_array(arr):
            raise TypeError(f"save_file: the value for {name!r} is a {type(value).__name__}, "
                            f"not a tensor")
        arr = backend.to_host(arr)
        if not backend.is_numeric(arr.dtype):
            raise TypeError(f"save_file: {name!r} holds {arr.dtype} data; safetensors files "
                            f"written by tapegrad hold bool, integer and floating point tensors")
        # safetensors reads the raw memory (address and byte count): views need a packed copy
        arrays[name] = arr if arr.flags.c_contiguous else arr.copy(order="C")
    if metadata is not None and not (
            isinstance(metadata, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise TypeError(f"save_file: metadata must be a dict of str -> str, got {metadata!r}")
    package.numpy.save_file(arrays, os.fspath(path), metadata=metadata)


def load_file(path, device="cpu"):
    """The tensors stored in the safetensors file ``path``, as a dict of name -> Tensor on
    ``device`` (what ``Module.load_state_dict`` takes).

    Raises FileNotFoundError for a missing file; ValueError for a file that isn't a valid
    safetensors file; TypeError for tensors tapegrad can't hold (float8, complex: named, with
    how to convert them); ImportError without the safetensors package.
    """
    package = _package()
    dev = backend.devices.resolve(device)   # a bad device fails before the file is read
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_file: no such file: {path!r}")
    try:
        with package.safe_open(path, framework="np") as f:
            names = list(f.keys())
            dtypes = {k: f.get_slice(k).get_dtype() for k in names}
            bad = {k: d for k, d in dtypes.items() if d not in _READABLE}
            if bad:
                raise TypeError(
                    f"load_file: {path!r} holds tensors of dtypes tapegrad has no type for "
                    f"(NumPy has none): " + ", ".join(f"{k!r}: {d}" for k, d in bad.items()) +
                    "; convert them to float32 (e.g. with safetensors.torch, "
                    "{k: v.float() for k, v in load_file(path).items()}) and save again")
            arrays = {k: f.get_tensor(k) for k in names if dtypes[k] != "BF16"}
    except package.SafetensorError as e:
        raise ValueError(f"load_file: {path!r} is not a valid safetensors file ({e})") from None
    bf16 = [k for k in names if dtypes[k] == "BF16"]
    if bf16:
        arrays.update(_read_bfloat16(path, bf16))
    return {k: Tensor(backend.to_device(arrays[k], dev)) for k in names}


def _read_bfloat16(path, names):
    """The BF16 tensors ``names`` of the (already validated) file ``path``, read from their
    byte ranges: the file is an 8-byte little-endian header size, a JSON header giving each
    tensor's dtype, shape and data_offsets (from the end of the header), then the data."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        out = {}
        for k in names:
            start, end = header[k]["data_offsets"]
            f.seek(8 + size + start)
            raw = backend.xp.frombuffer(bytearray(f.read(end - start)), dtype="<u2")
            out[k] = raw.view(backend.bfloat16).reshape(header[k]["shape"])
    return out
