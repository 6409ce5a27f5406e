"""Error types. Each subclasses the built-in category users already catch."""
import inspect
import linecache
import re


class GraphFreedError(RuntimeError):
    """Backward through a graph whose saved tensors were released (retain_graph=False)."""


class InplaceModifiedError(RuntimeError):
    """A tensor saved for backward was changed in place before backward ran."""


class GradcheckError(RuntimeError):
    """Analytical and numerical gradients disagree."""


class ShapeError(RuntimeError, ValueError):
    """A shape or size mismatch: PyTorch raises RuntimeError, Python's convention is
    ValueError; this is both, so either ``except`` catches it. The message names the op and
    the shapes."""


# tapegrad's own messages start with the op they come from: "softmax: ...", "cat(): ..."
OP_PREFIX = re.compile(r"([A-Za-z_][\w.]*)(\(\))?: ")


def argument_error(op, fn, args, kwargs, error, skip=0):
    """What op ``op`` (the function ``fn``, whose first ``skip`` parameters are not the
    user's: a forward's ctx) should raise for ``error``, which it raised on ``args`` and
    ``kwargs``: a TypeError naming ``op`` and the argument that holds no numbers (a string,
    a dict, a set, a sequence holding one, an array of text or objects), where ``error`` is
    Python's or NumPy's ("'str' object has no attribute 'dtype'", "invalid literal for
    int()", "ufunc 'exp' not supported"), not one tapegrad raised on purpose, and such an
    argument exists; else ``error`` itself. Only tapegrad's own ops are reworded (a user's
    Function keeps its errors). Runs only on the error path."""
    if not getattr(fn, "__module__", "").startswith("tapegrad.") or _raised_on_purpose(error):
        return error
    for i, a in enumerate(args):
        what = not_numbers(a)
        if what is not None:
            name = _param_name(fn, i + skip)
            return wrong_type(op, f"'{name}' (position {i + 1})" if name else f"{i + 1}", what)
    for k, a in kwargs.items():
        what = not_numbers(a)
        if what is not None:
            return wrong_type(op, f"'{k}'", what)
    return error


def wrong_type(op, where, what):
    """The TypeError for argument ``where`` of ``op`` holding ``what`` (no numbers)."""
    return TypeError(f"{op}(): argument {where} must be a tensor, a number or a sequence of "
                     f"numbers, not {what}")


def not_numbers(a, depth=0):
    """How to name ``a`` when it holds something other than numbers (None when it may be
    an argument of an op: a tensor, a number, None, a dtype, a device...)."""
    if isinstance(a, (str, bytes, dict, set)):
        return type(a).__name__
    if isinstance(a, (list, tuple)) and depth < 3:
        for b in a:
            inner = not_numbers(b, depth + 1)
            if inner is not None:
                return f"{type(a).__name__} holding {inner}"
        return None
    kind = getattr(getattr(a, "dtype", None), "kind", None)
    if kind in ("U", "S", "O") and hasattr(a, "shape"):
        return f"an array of {a.dtype}"
    return None


def _raised_on_purpose(error):
    """Whether a ``raise`` statement of tapegrad's raised ``error`` (not an operation of
    Python's or NumPy's failing inside tapegrad's code)."""
    from .function import in_package
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    file = tb.tb_frame.f_code.co_filename
    return in_package(file) and linecache.getline(file, tb.tb_lineno).lstrip().startswith(
        "raise")


def _param_name(fn, i):
    """The name of ``fn``'s positional parameter ``i`` (None for ``*args`` or unknown)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if i < len(params) and params[i].kind in (params[i].POSITIONAL_ONLY,
                                              params[i].POSITIONAL_OR_KEYWORD):
        return params[i].name
    return None
