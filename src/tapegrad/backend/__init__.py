"""The one seam to the array library: nothing else in tapegrad imports NumPy.

Everything above this module reaches arrays through ``xp`` (the array module) and
the few helpers here, so a GPU backend only has to provide the same names.
"""
import numpy as xp

ndarray = xp.ndarray
generic = xp.generic

float16 = xp.dtype("float16")
float32 = xp.dtype("float32")
float64 = xp.dtype("float64")
bfloat16 = None  # NumPy has no bfloat16
int8 = xp.dtype("int8")
int16 = xp.dtype("int16")
int32 = xp.dtype("int32")
int64 = xp.dtype("int64")
uint8 = xp.dtype("uint8")
bool_ = xp.dtype("bool")

DEFAULT_FLOAT = float32
DEFAULT_INT = int64

#: dtype -> category used by type promotion: bool < integer < floating
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}


def category(dtype):
    """0 for bool, 1 for integers, 2 for floating dtypes (KeyError otherwise)."""
    return _CATEGORY[dtype.kind]


def is_floating(dtype):
    return dtype.kind == "f"


def promote_types(a, b):
    return xp.promote_types(a, b)


def as_dtype(dtype):
    """Accept tapegrad/NumPy dtypes, their names ('float32') and Python types."""
    if dtype is None:
        return None
    if dtype is float:
        return float32 if DEFAULT_FLOAT is float32 else DEFAULT_FLOAT
    if dtype is int:
        return int64
    if dtype is bool:
        return bool_
    return xp.dtype(dtype)


def asarray(data, dtype=None):
    return xp.asarray(data, dtype=dtype)


def default_rng(seed=None):
    return xp.random.default_rng(seed)


def array_module(*arrays):
    """The array module for these arrays (always NumPy on the CPU backend)."""
    return xp
