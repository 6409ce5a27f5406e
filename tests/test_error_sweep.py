"""Errors across the whole registry: PyTorch's categories, tapegrad's words.

Every op in the registry starts from its own samples (valid calls; FALLBACK gives one to ops
registered without samples) and is called again with one thing broken:

(a) a dim (``dim``/``dims``/``axis``... keyword, or a dim given positionally) pushed out of
    range, to ``ndim + 3`` and ``-(ndim + 3)``: an ``IndexError``; a list of dims with one
    repeated: a ``RuntimeError`` (PyTorch's "dim 0 appears multiple times");
(b) one of two or more tensor inputs with its trailing size made incompatible (+1): if the op
    refuses it (broadcasting may make it valid), a ``ShapeError`` (or an ``IndexError`` where
    the input is an index) naming the size;
(c) a string, a list of strings or a dict in place of the tensor input, a string in place of
    a dim or a size: a ``TypeError``;
(d) an integer or boolean input (an index, a mask) given as floats: if the op refuses it, a
    ``RuntimeError``, ``IndexError`` or ``TypeError``;
(e) whatever is raised names the op the user called (its name or an alias) and carries none
    of NumPy's words.

``python tests/test_error_sweep.py`` prints every call that fails otherwise.
"""
import re

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.core.errors import ShapeError
from tapegrad.core.registry import OPS
from tapegrad.ops._util import Sample

# keyword arguments that hold dims of the (first) input
DIM_KWARGS = ("dim", "dims", "axis", "dim0", "dim1", "dim2", "start_dim", "end_dim", "source",
              "destination")
# ops taking a dim positionally: the position (after the input)
DIM_POSITION = {"gather": 1, "index_add": 1, "index_copy": 1, "index_fill": 1,
                "index_select": 1, "scatter": 1, "scatter_add": 1, "scatter_reduce": 1,
                "select": 1, "cummax": 1, "cummin": 1, "logcumsumexp": 1, "unfold": 1}
# keyword arguments that hold sizes (ints or tuples of ints)
SIZE_KWARGS = ("size", "shape", "sizes", "kernel_size", "stride", "dilation", "output_size",
               "repeats", "chunks", "k", "diagonal", "n", "groups", "normalized_shape",
               "split_size_or_sections", "length", "start", "minlength", "decimals")
# what NumPy (or Python's int()) says; none of it may reach the user
NUMPY_WORDS = ("operands could not be broadcast", "cannot reshape array", "repeated axis",
               "axis", "ufunc", "ndarray", "numpy", "invalid literal for int()",
               "only integer scalar arrays", "object has no attribute", "not subscriptable",
               "unhashable type", "object is not iterable", "unsupported operand type")
SAMPLES_PER_OP = 3     # the first samples of each op (enough to reach its dims and shapes)
# keyword arguments named like dims that hold something else (tile's dims are repeats,
# tensordot's an int is the number of dims contracted: a RuntimeError in PyTorch)
NOT_DIMS = {("tile", "dims"), ("tensordot", "dims")}

# Where an op legitimately accepts what the sweep makes "wrong" (each with its reason). Fix
# the op rather than list it here.
ACCEPTS = {
    ("roll", "repeated dims"): "a dim listed twice is rolled twice, as in PyTorch",
}


class Case:
    """One broken call of ``op``: ``kind`` (a key of EXPECTED), ``what`` was broken, the
    call, whether it must raise, and (shapes) the size the message must name."""

    def __init__(self, op, kind, what, args, kwargs, must_raise=True, size=None):
        self.op, self.kind, self.what = op, kind, what
        self.args, self.kwargs, self.must_raise, self.size = args, kwargs, must_raise, size

    def __repr__(self):
        return f"{self.op} [{self.kind}: {self.what}]"


def _tensor(a):
    if isinstance(a, tuple):     # (lstm_cell's hx: a pair of tensors)
        return tuple(_tensor(b) for b in a)
    return tg.tensor(np.asarray(a)) if isinstance(a, (np.ndarray, np.generic)) else a


def _inputs(sample):
    """The call's arguments as tapegrad takes them (arrays become tensors)."""
    return [_tensor(a) for a in sample.args], dict(sample.kwargs)


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _dims_like(v):
    """An int or a non-empty tuple/list of ints (a dim argument the sweep can break)."""
    return _is_int(v) or (isinstance(v, (tuple, list)) and len(v) > 0 and
                          all(_is_int(d) for d in v))


def _replace(v, new, i=0):
    """``v`` (an int or a sequence of ints) with entry ``i`` replaced by ``new``."""
    if _is_int(v):
        return new
    out = list(v)
    out[i] = new
    return type(v)(out)


def _valid(op, sample):
    """The sample's call works (the starting point of every broken call)."""
    args, kwargs = _inputs(sample)
    try:
        OPS[op].fn(*args, **kwargs)
    except Exception:   # a sample for another mode (a second device...): not a start point
        return False
    return True


def _first_array(sample):
    return next((i for i, a in enumerate(sample.args) if isinstance(a, np.ndarray)), None)


def _spd(rng):
    a = rng.standard_normal((3, 3))
    return a @ a.T + 3 * np.eye(3)


def _binary(rng):
    return [Sample([rng.standard_normal((2, 3)), rng.standard_normal((3,))])]


def _reduction(rng):
    return [Sample([rng.standard_normal((2, 3))], {"dim": 1})]


# starting points for ops registered without samples (no gradient to check, or random)
FALLBACK = {
    **{op: _binary for op in ("eq", "ne", "lt", "le", "gt", "ge", "float_power",
                              "floor_divide")},
    **{op: _reduction for op in ("all", "any", "argmax", "argmin", "count_nonzero",
                                 "std_mean", "var_mean")},
    **{op: lambda rng: [Sample([rng.standard_normal((2, 3))])]
       for op in ("isfinite", "isinf", "isnan", "t", "histc")},
    **{op: lambda rng: [Sample([_spd(rng)])]
       for op in ("cholesky", "linalg.cholesky", "linalg.eigh", "linalg.eigvalsh", "slogdet")},
    "mm": lambda rng: [Sample([rng.standard_normal((2, 3)), rng.standard_normal((3, 4))])],
    "one_hot": lambda rng: [Sample([rng.integers(0, 3, (2, 3))], {"num_classes": 3})],
    "bernoulli": lambda rng: [Sample([rng.uniform(0, 1, (2, 3))])],
    "poisson": lambda rng: [Sample([rng.uniform(0, 3, (2, 3))])],
    "multinomial": lambda rng: [Sample([rng.uniform(0.1, 1, (2, 3)), 2])],
    "lstm_cell": lambda rng: [Sample([rng.standard_normal((2, 3)),
                                      (rng.standard_normal((2, 4)), rng.standard_normal((2, 4))),
                                      rng.standard_normal((16, 3)),
                                      rng.standard_normal((16, 4))])],
    "normal": lambda rng: [Sample([rng.standard_normal((2, 3)), rng.uniform(0.5, 1, (3,))])],
}


def _samples(op):
    """The op's first samples that run (0-d NumPy scalars as 0-d arrays)."""
    gen = OPS[op].samples or FALLBACK.get(op)
    if gen is None:
        return []
    out = []
    for s in gen(np.random.default_rng(0))[:SAMPLES_PER_OP]:
        s.args = [np.asarray(a) if isinstance(a, np.generic) else a for a in s.args]
        if _valid(op, s):
            out.append(s)
    return out


def dim_cases(op):
    """(a) out-of-range dims (IndexError) and repeated dims (RuntimeError)."""
    for s in _samples(op):
        i0 = _first_array(s)
        if i0 is None:
            continue
        ndim = s.args[i0].ndim
        slots = [("kw", k) for k in DIM_KWARGS
                 if _dims_like(s.kwargs.get(k)) and (op, k) not in NOT_DIMS]
        if op in DIM_POSITION and _is_int(s.args[DIM_POSITION[op]]):
            slots.append(("pos", DIM_POSITION[op]))
        for where, key in slots:
            value = s.kwargs[key] if where == "kw" else s.args[key]
            bad = [(f"{key}={_replace(value, d)}", _replace(value, d)) for d in (ndim + 3,
                                                                           -(ndim + 3))]
            for what, v in bad:
                yield _with(op, "dims", what, s, where, key, v)
            if isinstance(value, (tuple, list)) and ndim:
                rep = _replace(value, value[0], 1) if len(value) > 1 else \
                    type(value)(list(value) * 2)
                yield _with(op, "repeated dims", f"{key}={rep}", s, where, key, rep)


def _with(op, kind, what, s, where, key, v):
    args, kwargs = list(s.args), dict(s.kwargs)
    if where == "kw":
        kwargs[key] = v
    else:
        args[key] = v
    return Case(op, kind, what, args, kwargs)


def shape_cases(op):
    """(b) one tensor input's trailing size +1 (ops with two or more tensor inputs)."""
    for s in _samples(op):
        arrays = [i for i, a in enumerate(s.args) if isinstance(a, np.ndarray) and a.ndim]
        if len(arrays) < 2:
            continue
        for i in arrays:
            a = s.args[i]
            if a.shape[-1] in (0, 1):   # a size 1 broadcasts; grow a nonempty one
                continue
            args = list(s.args)
            args[i] = np.concatenate([a, a[..., -1:]], axis=-1)  # valid values (indices too)
            yield Case(op, "shapes", f"input {i} {list(a.shape)} -> {list(args[i].shape)}",
                       args, dict(s.kwargs), must_raise=False, size=a.shape[-1] + 1)


def type_cases(op):
    """(c) a string, a list of strings or a dict for the tensor input; a string for a dim
    or a size."""
    for s in _samples(op)[:1]:
        i0 = _first_array(s)
        if i0 is not None:
            for bad in ("a", ["a", "b"], {"a": 1}):
                args = list(s.args)
                args[i0] = bad
                yield Case(op, "types", f"input {i0} = {bad!r}", args, dict(s.kwargs))
        for k in DIM_KWARGS + SIZE_KWARGS:
            if _dims_like(s.kwargs.get(k)):
                yield _with(op, "types", f"{k}='a'", s, "kw", k, "a")
        if op in DIM_POSITION and _is_int(s.args[DIM_POSITION[op]]):
            yield _with(op, "types", "dim='a'", s, "pos", DIM_POSITION[op], "a")


def dtype_cases(op):
    """(d) an integer or boolean input (an index, a mask, a count) given as floats: if the op
    refuses it, in PyTorch's categories (a RuntimeError, IndexError or TypeError)."""
    for s in _samples(op):
        for i, a in enumerate(s.args):
            if isinstance(a, np.ndarray) and a.dtype.kind in "biu":
                args = list(s.args)
                args[i] = a.astype(np.float64) + 0.5
                yield Case(op, "dtypes", f"input {i} {a.dtype} -> float64", args,
                           dict(s.kwargs), must_raise=False)


KINDS = {"dims": dim_cases, "shapes": shape_cases, "types": type_cases, "dtypes": dtype_cases}
EXPECTED = {"dims": (IndexError,), "repeated dims": (RuntimeError,),
            "shapes": (ShapeError, IndexError), "types": (TypeError,),
            "dtypes": (RuntimeError, IndexError, TypeError)}


def _names(op):
    info = OPS[op]
    return {n for name in (op,) + tuple(info.aliases) for n in (name, name.rsplit(".", 1)[-1])}


def problem(case):
    """What is wrong with how ``case`` fails (None when it fails as it should)."""
    args, kwargs = _inputs(case)
    try:
        OPS[case.op].fn(*args, **kwargs)
    except Exception as e:   # noqa: BLE001 - every error is judged
        return _judge(case, e)
    if case.must_raise and (case.op, case.kind) not in ACCEPTS:
        return "accepted"
    return None


def _judge(case, e):
    msg = str(e)
    if not isinstance(e, EXPECTED[case.kind]):
        return f"{type(e).__name__}: {msg}"
    low = msg.lower()
    leaked = [w for w in NUMPY_WORDS if w in low]
    if leaked:
        return f"NumPy's words {leaked}: {msg}"
    if not any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", msg) for n in _names(case.op)):
        return f"does not name the op: {msg}"
    if case.kind == "shapes" and not re.search(rf"(?<!\d){case.size}(?!\d)", msg):
        return f"does not name the size {case.size}: {msg}"
    return None


def cases(op):
    """Every broken call the sweep makes of ``op``."""
    return [c for gen in KINDS.values() for c in gen(op)]


# ops the sweep cannot start from: no tensor input to break
NO_INPUT = {"tril_indices": "takes sizes only", "triu_indices": "takes sizes only"}


def report(ops=None):
    """{op: [(case, problem)]} over the registry (run this file as a script to print it)."""
    out = {}
    for op in ops or sorted(OPS):
        bad = [(c, p) for c in cases(op) if (p := problem(c)) is not None]
        if bad:
            out[op] = bad
    return out


@pytest.mark.filterwarnings("ignore")    # (size-mismatch warnings of the losses)
@pytest.mark.parametrize("op", sorted(OPS))
def test_errors(op):
    """Every broken call of ``op`` fails in PyTorch's category, in tapegrad's words."""
    bad = [f"{c!r}: {p}" for c in cases(op) if (p := problem(c)) is not None]
    assert not bad, "\n".join(bad)


def test_the_sweep_reaches_every_op():
    """Each op has a starting point (its samples, or one in FALLBACK), so none escapes."""
    missing = {op for op in OPS if not cases(op)}
    assert missing == set(NO_INPUT)


@pytest.mark.filterwarnings("ignore")
def test_every_accepted_case_is_still_accepted():
    """An ACCEPTS entry whose op now refuses the call is stale: remove it."""
    for op, kind in ACCEPTS:
        kinds = [c for c in cases(op) if c.kind == kind]
        assert kinds and any(problem(c) is None for c in kinds), (op, kind)


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore")
    for op, bad in report().items():
        for c, p in bad:
            print(f"{c!r}: {p}"[:300])
