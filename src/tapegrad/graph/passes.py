"""Passes over a Program: dead code elimination (more to come)."""


def optimize(prog):
    dce(prog)
    return prog


def dce(prog):
    """Drop calls whose results (and side values) nothing live reads. Writes are effects
    and always stay."""
    live = set(prog.out_vids) | {v for _, v in prog.grads}
    keep = []
    for op in reversed(prog.ops):
        if op.kind == "write" or any(v in live for v in op.values_made()):
            live.update(op.values_read())
            if op.kind == "call":
                op.side = [s for s in op.side if s[2] in live]
            keep.append(op)
    prog.ops = keep[::-1]
    for table in (prog.state, prog.consts):
        for v in [v for v in table if v not in live]:
            del table[v]
    return prog
