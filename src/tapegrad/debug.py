"""Looking at the tape: ``print_tape()``, ``get_tape()``."""
from .core.function import LAST
from .core.modes import STATE
from .core.tensor import Tensor
from . import tape as _tape


def _nodes_behind(node):
    """Every node that leads to ``node`` (iteratively), in recording order."""
    seen, stack = set(), [node]
    while stack:
        n = stack.pop()
        if n is None or n in seen or n.is_leaf:
            continue
        seen.add(n)
        stack.extend(n.next)
    return sorted(seen, key=lambda n: n.seq)


def _pick(source):
    if isinstance(source, _tape.GradientTape):
        return list(source._nodes)
    if isinstance(source, Tensor):
        return _nodes_behind(source.node) if source.node is not None else []
    if STATE.tapes:
        return list(STATE.tapes[-1]._nodes)
    if _tape.LAST_TAPE[0] is not None and _tape.LAST_TAPE[0]._nodes:
        return list(_tape.LAST_TAPE[0]._nodes)
    last = LAST[0]() if LAST[0] is not None else None
    return _nodes_behind(last) if last is not None else []


def get_tape(source=None):
    """The recorded ops as a list of dicts (index, op, shape, dtype, inputs, seq). ``source``:
    a GradientTape or a tensor; by default the recording tape, else the last tape used, else
    the graph behind the newest recorded op."""
    return [dict(_tape.entry(i, n)._asdict(), seq=n.seq) for i, n in enumerate(_pick(source))]


def print_tape(source=None, file=None):
    """Print one line per recorded op: index, op name, output shape and dtype, input ids
    (``#n`` is the op recorded n-th, ``leaf#n`` a leaf, ``-`` a constant)."""
    rows = get_tape(source)
    if not rows:
        print("(empty tape)", file=file)
        return
    for r in rows:
        ins = ", ".join("-" if i is None else i for i in r["inputs"])
        print(f"{r['index']:>4}  #{r['seq']:<6} {r['op']:<14} {str(list(r['shape'])):<16} "
              f"{r['dtype']:<8} <- {ins}", file=file)
