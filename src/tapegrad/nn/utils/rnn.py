"""Batches of sequences of different lengths (PyTorch's ``nn.utils.rnn``).

A :class:`PackedSequence` holds the time steps of a batch of sequences sorted longest
first, step by step: ``data`` (sum of lengths, *) has at time t the ``batch_sizes[t]``
sequences still running (rows t*B..., as PyTorch lays them out), ``sorted_indices`` maps
the sorted order back to the caller's batch order (``unsorted_indices`` is its inverse).
The recurrent layers (nn/rnn.py) take packed batches and give each sequence's final state
at its own last step.

Packing and padding are one gather each (a getitem with an index array), so gradients flow
through them to any order. Indices and lengths are int64 tensors; ``batch_sizes`` and the
lengths returned by :func:`pad_packed_sequence` live on the CPU, as in PyTorch.
"""
from collections import namedtuple

from ... import backend
from ...core.errors import ShapeError
from ...core.tensor import Tensor
from ...creation import tensor as _tensor
from ...ops._util import const_like
from ...ops.index import cat, stack
from ...ops.pad import pad as _pad

xp = backend.xp

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence",
           "pad_sequence", "unpad_sequence", "pack_sequence", "unpack_sequence"]


def invert_permutation(permutation):
    """The inverse of a permutation given as an int64 tensor (None stays None)."""
    if permutation is None:
        return None
    inv = xp.empty(permutation.shape[0], dtype=xp.int64)
    inv[permutation.cpu().numpy()] = xp.arange(permutation.shape[0])
    return const_like(inv, permutation)


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices",
                                                   "unsorted_indices"])):
    """A packed batch of sequences (made by :func:`pack_padded_sequence` or
    :func:`pack_sequence`; rarely built by hand).

    Fields: ``data`` (N, *), ``batch_sizes`` (T,) int64 on the CPU, ``sorted_indices`` and
    ``unsorted_indices`` (B,) int64 or None (the batch was sorted already). When only
    ``sorted_indices`` is given, ``unsorted_indices`` is its inverse.
    """

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:
            raise TypeError("PackedSequence: batch_sizes is required (build one with "
                            "pack_padded_sequence or pack_sequence)")
        if not isinstance(batch_sizes, Tensor):
            batch_sizes = _tensor(list(batch_sizes), dtype="int64")
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """The same sequence with ``data`` converted by ``Tensor.to(*args, **kwargs)``;
        the indices follow data's device, batch_sizes stays on the CPU."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        move = (lambda t: None if t is None else t.to(data.device))
        return type(self)(data, self.batch_sizes, move(self.sorted_indices),
                          move(self.unsorted_indices))

    def cpu(self):
        """The sequence with its data on the CPU."""
        return self.to("cpu")

    def cuda(self, device=None):
        """The sequence with its data on a CUDA device."""
        return self.to("cuda" if device is None else device)

    def double(self):
        """The sequence with float64 data."""
        return self.to(dtype="float64")

    def float(self):
        """The sequence with float32 data."""
        return self.to(dtype="float32")

    def half(self):
        """The sequence with float16 data."""
        return self.to(dtype="float16")

    @property
    def is_cuda(self):
        """Whether the data is on a CUDA device."""
        return self.data.is_cuda


def _sizes(batch_sizes):
    """batch_sizes (a tensor or a sequence) as a tuple of Python ints."""
    if isinstance(batch_sizes, Tensor):
        return tuple(int(b) for b in batch_sizes.cpu().tolist())
    return tuple(int(b) for b in batch_sizes)


def packed_rows(batch_sizes):
    """The rows t * B + b of a time-major (T, B) grid that a packed batch holds, in packed
    order (host int64 array)."""
    batch = batch_sizes[0]
    return xp.concatenate([t * batch + xp.arange(n) for t, n in enumerate(batch_sizes)])


def pack_rows(padded, batch_sizes):
    """Packed data (N, *) from a time-major padded tensor (T, B, *) (one gather)."""
    steps, batch = padded.shape[0], padded.shape[1]
    flat = padded.reshape((steps * batch,) + tuple(padded.shape[2:]))
    return flat[const_like(packed_rows(batch_sizes), padded)]


def unpack_rows(data, batch_sizes, steps=None, padding_value=0.0):
    """The time-major padded tensor (steps, B, *) holding packed ``data``, other places
    ``padding_value`` (one gather from data with a padding row appended)."""
    steps = len(batch_sizes) if steps is None else steps
    batch, total = batch_sizes[0], data.shape[0]
    where = xp.full(steps * batch, total, dtype=xp.int64)
    where[packed_rows(batch_sizes)] = xp.arange(total)
    fill = const_like(xp.full((1,) + tuple(data.shape[1:]), padding_value), data, data.dtype)
    out = cat([data, fill], dim=0)[const_like(where, data)]
    return out.reshape((steps, batch) + tuple(data.shape[1:]))


def _lengths(lengths, op):
    if isinstance(lengths, Tensor):
        if lengths.ndim != 1:
            raise ShapeError(f"{op}: lengths must be a 1-D tensor, got shape "
                             f"{list(lengths.shape)}")
        return [int(v) for v in lengths.cpu().tolist()]
    return [int(v) for v in lengths]


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) ((B, T, *) with ``batch_first``) of sequences of the
    given ``lengths`` (a list or a 1-D int64 tensor).

    With ``enforce_sorted=True`` the lengths must decrease; otherwise the batch is sorted
    (stably, longest first) and the permutation kept in ``sorted_indices``.
    Raises ShapeError when the lengths don't match the batch or exceed T, ValueError for a
    length <= 0 or (enforce_sorted) unsorted lengths.
    """
    op = "pack_padded_sequence"
    lengths = _lengths(lengths, op)
    bdim = 0 if batch_first else 1
    if input.ndim < 2:
        raise ShapeError(f"{op}: input must have at least 2 dims (time and batch), got shape "
                         f"{list(input.shape)}")
    if len(lengths) != input.shape[bdim]:
        raise ShapeError(f"{op}: expected len(lengths) to be equal to batch_size, but got "
                         f"{len(lengths)} (batch_size={input.shape[bdim]})")
    if any(v <= 0 for v in lengths):
        raise ValueError(f"{op}: length of all samples has to be greater than 0, but found "
                         f"an element in 'lengths' that is <= 0: {lengths}")
    sorted_indices = None
    if enforce_sorted:
        if any(a < b for a, b in zip(lengths, lengths[1:])):
            raise ValueError(f"{op}: `lengths` array must be sorted in decreasing order when "
                             f"`enforce_sorted` is True (got {lengths}). You can pass "
                             f"`enforce_sorted=False` to pack_padded_sequence and/or "
                             f"pack_sequence to sidestep this requirement.")
    else:
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        lengths = [lengths[i] for i in order]
        sorted_indices = const_like(xp.asarray(order, dtype=xp.int64), input)
        input = input.index_select(bdim, sorted_indices)
    steps = input.shape[1 - bdim]
    if lengths[0] > steps:
        raise ShapeError(f"{op}: a sequence of length {lengths[0]} does not fit in the "
                         f"input's {steps} time steps (shape {list(input.shape)})")
    if batch_first:
        input = input.transpose(0, 1)
    batch_sizes = [sum(1 for v in lengths if v > t) for t in range(lengths[0])]
    data = pack_rows(input[:lengths[0]], batch_sizes)
    return PackedSequence(data, _tensor(batch_sizes, dtype="int64"), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo :func:`pack_padded_sequence`: (padded (T, B, *) or (B, T, *), lengths) in the
    caller's batch order; T is ``total_length`` when given (ValueError if it is shorter
    than the longest sequence). ``lengths`` is an int64 CPU tensor."""
    data, batch_sizes, _, unsorted = sequence
    sizes = _sizes(batch_sizes)
    steps = len(sizes)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"pad_packed_sequence: expected total_length to be at least the "
                             f"length of the longest sequence in input, but got "
                             f"total_length={total_length} and max sequence length being "
                             f"{steps}")
        steps = int(total_length)
    out = unpack_rows(data, sizes, steps, padding_value)
    lengths = [sum(1 for n in sizes if n > b) for b in range(sizes[0])]
    if batch_first:
        out = out.transpose(0, 1)
    if unsorted is not None:
        out = out.index_select(0 if batch_first else 1, unsorted)
        lengths = [lengths[i] for i in unsorted.cpu().tolist()]
    return out, _tensor(lengths, dtype="int64")


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors (L_i, *) into (max L, B, *) ((B, max L, *) with ``batch_first``),
    filling with ``padding_value`` on the ``padding_side`` ('right' or 'left').
    Raises ShapeError when the trailing dims differ, ValueError for a bad padding_side."""
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got "
                         f"{padding_side!r}")
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: received an empty list of sequences")
    trail = tuple(sequences[0].shape[1:])
    for i, s in enumerate(sequences):
        if s.ndim == 0 or tuple(s.shape[1:]) != trail:
            raise ShapeError(f"pad_sequence: every sequence must have shape (L, "
                             f"{', '.join(map(str, trail)) or ''}...) with the same trailing "
                             f"dims; sequence {i} has shape {list(s.shape)}, sequence 0 "
                             f"{list(sequences[0].shape)}")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        extra = longest - s.shape[0]
        widths = (0, 0) * len(trail) + ((0, extra) if padding_side == "right" else (extra, 0))
        padded.append(_pad(s, widths, value=padding_value) if extra else s)
    return stack(padded, dim=0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences (L_i, *) in a padded batch (inverse of :func:`pad_sequence`)."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[i, :n] for i, n in enumerate(_lengths(lengths, "unpad_sequence"))]


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors (L_i, *) (sorted longest first unless ``enforce_sorted`` is
    False)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths,
                                enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of tensors (L_i, *) in a PackedSequence (inverse of :func:`pack_sequence`)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
