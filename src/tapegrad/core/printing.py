"""How tensors print: PyTorch's layout and number formats, set by ``tg.set_printoptions``.

One width for every element of a tensor; floats print in fixed point with ``precision``
decimals, as integers with a trailing dot when every value is whole (``tensor([1., 2.])``),
or in scientific notation when the values span more than three orders of magnitude, pass
1e8 or go below 1e-4 (``sci_mode`` forces either way). A tensor of more than ``threshold``
elements prints ``edgeitems`` values at each end of every dimension around ``...``. Rows
wrap at ``linewidth`` characters. These are PyTorch's rules, so the same values print the
same; tapegrad's repr differs only in always naming the dtype.
"""
import math

from .. import backend

PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}
OPTIONS = dict(PROFILES["default"], sci_mode=None)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None):
    """Set how tensors print (PyTorch's ``torch.set_printoptions``).

    Args:
        precision: digits after the decimal point (default 4).
        threshold: more elements than this print summarized (default 1000).
        edgeitems: values shown at each end of a summarized dimension (default 3).
        linewidth: characters per line before wrapping (default 80).
        profile: ``"default"``, ``"short"`` (precision 2, edgeitems 2) or ``"full"``
            (no summarizing); it sets the four above, then the ones given override it.
        sci_mode: True or False forces scientific notation on or off; None (the default,
            also reset by every call that leaves it out) chooses from the values.
    """
    if profile is not None:
        if profile not in PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(PROFILES)}, "
                             f"got {profile!r}")
        OPTIONS.update(PROFILES[profile])
    for name, value in (("precision", precision), ("threshold", threshold),
                        ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            OPTIONS[name] = value
    OPTIONS["sci_mode"] = sci_mode


class _Formatter:
    """The width and notation every element of one tensor is printed with."""

    def __init__(self, arr):
        self.floating = backend.is_floating(arr.dtype)
        self.int_mode, self.sci_mode, self.width = True, False, 1
        if not self.floating:
            self.width = max([1] + [len(str(v)) for v in arr.ravel().tolist()])
            return
        vals = arr.ravel().astype(backend.float64)
        vals = vals[backend.xp.isfinite(vals) & (vals != 0)]
        if vals.size == 0:
            return
        low, high = float(abs(vals).min()), float(abs(vals).max())
        self.int_mode = bool((vals == backend.xp.ceil(vals)).all())
        sci = OPTIONS["sci_mode"]
        self.sci_mode = high / low > 1000.0 or high > 1.0e8 or low < 1.0e-4 if sci is None \
            else sci
        p = OPTIONS["precision"]
        spec = f".{p}e" if self.sci_mode else ".0f" if self.int_mode else f".{p}f"
        extra = 1 if self.int_mode and not self.sci_mode else 0   # the trailing dot
        self.width = max(len(format(v, spec)) + extra for v in vals.tolist())

    def format(self, value):
        if not self.floating:
            s = str(value)
        elif self.sci_mode:
            s = format(value, f".{OPTIONS['precision']}e")
        elif self.int_mode:
            s = format(value, ".0f") + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            s = format(value, f".{OPTIONS['precision']}f")
        return s.rjust(self.width)


def _summarized(arr, edge):
    """``arr`` with only ``edge`` entries kept at each end of every long dimension."""
    xp = backend.xp
    for axis, n in enumerate(arr.shape):
        if n > 2 * edge:
            keep = list(range(edge)) + list(range(n - edge, n))
            arr = xp.take(arr, xp.asarray(keep, dtype=backend.int64), axis=axis)
    return arr


def _ends(items, n, summarize, ellipsis):
    """The printed entries of one dimension of original length ``n``: all of ``items``, or,
    when summarizing a long one (``items`` then holds only its ends), ends around ``...``."""
    edge = OPTIONS["edgeitems"]
    if not (summarize and n > 2 * edge):
        return items
    return items[:edge] + [ellipsis] + items[len(items) - edge:]


def _nested(values, shape, indent, summarize, fmt):
    """``values`` is ``arr.tolist()`` of the (cut) array, ``shape`` the uncut shape."""
    if len(shape) == 1:
        items = _ends([fmt.format(v) for v in values], shape[0], summarize, " ...")
        if summarize and not OPTIONS["edgeitems"]:
            items = ["..."]
        per_line = max(1, math.floor((OPTIONS["linewidth"] - indent) / (fmt.width + 2)))
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    rows = _ends([_nested(v, shape[1:], indent + 1, summarize, fmt) for v in values],
                 shape[0], summarize, "...")
    return "[" + ("," + "\n" * (len(shape) - 1) + " " * (indent + 1)).join(rows) + "]"


def array_str(arr, indent):
    """The values part of a tensor's repr (``[[1., 2.], ...]``) for a host array, laid out
    for a line that starts ``indent`` characters in. Empty tensors print ``[]`` (the caller
    adds ``size=(...)``: see :func:`shows_size`)."""
    if arr.dtype == backend.bfloat16 or arr.dtype == backend.float16:
        arr = arr.astype(backend.float32)   # (their scalars print by str(), not by format)
    if arr.size == 0:
        return "[]"
    edge = OPTIONS["edgeitems"]
    summarize = arr.size > OPTIONS["threshold"]
    shown = _summarized(arr, edge) if summarize else arr   # never tolist() a huge array
    fmt = _Formatter(shown)
    if arr.ndim == 0:
        return fmt.format(arr.item())
    return _nested(shown.tolist(), arr.shape, indent, summarize, fmt)


def shows_size(arr):
    """Whether the repr names the shape, as PyTorch's does: for empty tensors other than 1-d
    ones, and for every non-empty one when ``edgeitems`` is 0 (no values are shown)."""
    return arr.ndim != 1 if arr.size == 0 else not OPTIONS["edgeitems"]
