"""Looking at the tape: ``print_tape()``, ``get_tape()``."""
import gc

from .core.modes import STATE
from .core.node import Node
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
    last = _newest_node()
    return _nodes_behind(last) if last is not None else []


def _newest_node():
    """The newest recorded node still alive (found among the collector's objects: the
    engine keeps no reference to it, so recording costs nothing for this rare call)."""
    newest = None
    for o in gc.get_objects():   # (type(), not isinstance: that may run a proxy's __class__)
        if issubclass(type(o), Node) and (newest is None or o.seq > newest.seq):
            newest = o
    return newest


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


# -- pictures of the graph ------------------------------------------------------------------------
def _label(node):
    return f"{node.name}\\n{list(node.shape)} {node.dtype}"


def to_dot(output, params=None, name="tapegrad"):
    """Graphviz DOT text of the graph behind ``output``: ops as boxes (name, output shape and
    dtype), leaves as ellipses (shape, dtype, whether they require grad; their names when
    ``params`` maps names to tensors, e.g. ``dict(model.named_parameters())``)."""
    if not isinstance(output, Tensor) or output.node is None:
        raise ValueError("to_dot: the tensor has no graph (it does not require grad)")
    names = {}
    if params is not None:
        items = params.items() if hasattr(params, "items") else params
        names = {id(t.node): n for n, t in items if isinstance(t, Tensor) and t.node is not None}
    lines = [f"digraph {name} {{", '  rankdir="BT";',
             '  node [fontname="Helvetica", fontsize=10];']
    seen, stack = set(), [output.node]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        nid = f"n{n.seq}"
        if n.is_leaf:
            label = names.get(id(n), "leaf")
            flag = "watched" if n.watch else "requires_grad"
            lines.append(f'  {nid} [label="{label}\\n{list(n.shape)} {n.dtype}\\n{flag}", '
                         f'shape=ellipse, style=filled, fillcolor="#d5f5d5"];')
            continue
        lines.append(f'  {nid} [label="{_label(n)}", shape=box, style="rounded,filled", '
                     f'fillcolor="#dde8f8"];')
        for m in n.next:
            if m is not None:
                lines.append(f"  n{m.seq} -> {nid};")
                stack.append(m)
    out = output.node
    lines.append(f'  output [label="output\\n{list(output.shape)} {output.dtype}", '
                 f'shape=plaintext];')
    lines.append(f"  n{out.seq} -> output;")
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw(output, path, params=None):
    """Render the graph behind ``output`` to ``path`` (.png, .svg, .pdf) with Graphviz's
    ``dot`` program; a clear error if Graphviz is not installed."""
    import os
    import shutil
    import subprocess
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError("tg.debug.draw needs the Graphviz 'dot' program, which is not on PATH; "
                           "install Graphviz (e.g. apt-get install graphviz), or render "
                           "tg.debug.to_dot(...) elsewhere")
    fmt = os.path.splitext(str(path))[1].lstrip(".") or "png"
    subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=to_dot(output, params).encode(),
                   check=True)
    return path
