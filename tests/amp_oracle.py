"""torch.autocast as the oracle of tg.autocast: every registry op's samples run in float32
under both autocasts (CPU, bfloat16), and the output dtypes and values are compared.

Used by tests/test_amp_policy.py; ``python tests/amp_oracle.py`` prints every difference.
"""
import numpy as np
import torch

import tapegrad as tg
from tapegrad.core.registry import OPS

from helpers import registry_cases

#: registry names whose torch callable has another name or argument order
RENAMED = {"nn.functional.fold": torch.nn.functional.fold,
           "nn.functional.unfold": torch.nn.functional.unfold,
           "upsample": torch.nn.functional.upsample,
           "upsample_bilinear": torch.nn.functional.upsample_bilinear,
           "upsample_nearest": torch.nn.functional.upsample_nearest,
           "unfold": torch.Tensor.unfold}

#: registry ops whose samples pass the tensors PyTorch takes as one list as separate arguments
LISTED = {"cat", "stack", "hstack", "vstack", "dstack", "column_stack", "linalg.multi_dot"}

#: ops whose values are random: dtypes compared, values not
RANDOM = {"bernoulli", "dropout", "dropout1d", "dropout2d", "dropout3d", "multinomial", "normal",
          "poisson"}


def torch_fn(name):
    """The torch callable for a registry name, or None where torch has none by that name."""
    if name in RENAMED:
        return RENAMED[name]
    fn = getattr(torch.nn.functional, name, None) or getattr(torch, name, None)
    for prefix, module in (("linalg.", torch.linalg), ("special.", torch.special)):
        if name.startswith(prefix):
            fn = getattr(module, name[len(prefix):], None)
    if name in LISTED and fn is not None:
        return lambda *xs, _fn=fn, **kw: _fn(xs, **kw)
    if fn is None and hasattr(torch.Tensor, name):    # methods only: expand, repeat...
        return getattr(torch.Tensor, name)
    return fn


def _convert(x, lib):
    if isinstance(x, np.generic):
        x = np.asarray(x)
    if isinstance(x, tg.Tensor):
        x = np.asarray(x._data)
    if isinstance(x, np.ndarray):
        arr = x.astype(np.float32) if x.dtype.kind == "f" else x
        return tg.tensor(arr) if lib == "tg" else torch.tensor(arr)
    if isinstance(x, (list, tuple)) and any(isinstance(v, (np.ndarray, np.generic, tg.Tensor))
                                            for v in x):
        return type(x)(_convert(v, lib) for v in x)
    if isinstance(x, dict):
        return {k: _convert(v, lib) for k, v in x.items()}
    return x


def _torch_form(x, position):
    """A sample argument in the form torch's functions take: lists of ints as tuples, Python
    floats after the first argument as 0-d tensors."""
    if isinstance(x, (list, tuple)) and all(isinstance(v, (int, np.integer)) for v in x):
        return tuple(int(v) for v in x)
    if isinstance(x, float) and position > 0:
        return torch.tensor(x)
    return x


def _outputs(out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if hasattr(o, "dtype") and hasattr(o, "shape")]


def _name(dtype):
    return str(dtype).replace("torch.", "")


def compare(name, sample):
    """None when tapegrad and torch agree on this sample, else a short description. Raises
    LookupError when the op has no torch counterpart or torch refuses the sample."""
    tfn = torch_fn(name)
    if tfn is None:
        raise LookupError(f"torch has no op named {name}")
    args, kwargs = _convert(list(sample.args), "torch"), _convert(dict(sample.kwargs), "torch")
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            try:
                ref = _outputs(tfn(*args, **kwargs))
            except TypeError:       # torch's signature: tuples of ints, tensors for numbers
                ref = _outputs(tfn(*[_torch_form(a, i) for i, a in enumerate(args)],
                                   **{k: _torch_form(v, 1) for k, v in kwargs.items()
                                      if k != "generator"}))
    except Exception as e:          # noqa: BLE001 - torch refuses the sample (or its form)
        raise LookupError(f"torch refuses: {type(e).__name__}: {str(e)[:80]}") from None
    fn = OPS[name].fn
    targs, tkw = _convert(list(sample.args), "tg"), _convert(dict(sample.kwargs), "tg")
    try:
        with tg.autocast("cpu", dtype=tg.bfloat16):
            got = _outputs(fn(*targs, **tkw))
    except Exception as e:          # noqa: BLE001 - reported as the difference
        return f"raises {type(e).__name__}: {str(e)[:100]}"
    plain = _outputs(fn(*_convert(list(sample.args), "tg"),
                        **_convert(dict(sample.kwargs), "tg")))
    if len(got) != len(ref):
        return f"{len(got)} outputs, torch {len(ref)}"
    for i, (g, r) in enumerate(zip(got, ref)):
        if _name(g.dtype) != _name(r.dtype):
            return f"output {i}: {g.dtype}, torch {_name(r.dtype)}"
    if name in RANDOM:
        return None
    for i, (g, p) in enumerate(zip(got, plain)):
        a = np.asarray(g._data).astype(np.float64)
        b = np.asarray(p._data).astype(np.float64)
        if a.shape != b.shape:
            return f"output {i}: shape {a.shape} vs float32's {b.shape}"
        if not close(a, b, tg.bfloat16):
            return f"output {i}: max error {np.nanmax(np.abs(a - b)):.3g} vs float32's"
    return None


def close(a, b, dtype):
    """Within the low dtype's tolerance: a few units of its rounding, relative to the
    values' scale (a product's error grows with its terms' size, not with its result's)."""
    eps = {"bfloat16": 2.0 ** -8, "float16": 2.0 ** -11}.get(str(dtype), 2.0 ** -20)
    scale = np.nanmax(np.abs(b)) if b.size and np.isfinite(b).any() else 1.0
    return np.allclose(a, b, rtol=8 * eps, atol=8 * eps * max(scale, 1.0), equal_nan=True)


def report():
    """(differences, ops without a torch counterpart) over every registry case."""
    diffs, missing = {}, {}
    for name, i, s in registry_cases():
        try:
            d = compare(name, s)
        except LookupError as e:
            missing.setdefault(name, str(e))
            continue
        if d is not None:
            diffs.setdefault(name, []).append(f"{i}: {d}")
    return diffs, missing


if __name__ == "__main__":
    diffs, missing = report()
    for k, v in sorted(diffs.items()):
        print("DIFF", k, v)
    for k, v in sorted(missing.items()):
        print("NONE", k, v)
