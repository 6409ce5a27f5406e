"""Regenerate the op table of the documentation site (docs/ops.md) from the op registry.

    python scripts/op_table.py          # rewrite the table in docs/ops.md
    python scripts/op_table.py --check  # exit 1 if docs/ops.md is out of date (tests run this)
"""
import pathlib
import sys

import tapegrad  # noqa: F401  (registers every op)
from tapegrad.core.registry import OPS

PAGE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "ops.md"
START, END = "<!-- ops:start -->", "<!-- ops:end -->"


def summary(doc):
    line = (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""
    # escaped: Markdown would read "out[i][index[i][j]]" as a reference link
    return line.replace("|", "\\|").replace("[", "\\[")


def table():
    rows = ["| op | aliases | kind | Tensor method | 2nd order | what it computes |",
            "|---|---|---|---|---|---|"]
    for name in sorted(OPS):
        info = OPS[name]
        prim = info.primitive
        differentiable = prim is None or prim.differentiable
        rows.append(f"| `{name}` | {', '.join(f'`{a}`' for a in info.aliases)} | {info.kind} | "
                    f"{'yes' if info.method else ''} | {'yes' if differentiable else 'no grad'} | "
                    f"{summary(info.doc)} |")
    return "\n".join(rows)


def render(text):
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{len(OPS)} ops, generated from the registry by "\
           f"`python scripts/op_table.py`.\n\n{table()}\n{END}{tail}"


def main(argv):
    text = PAGE.read_text()
    new = render(text)
    if "--check" in argv:
        return 0 if new == text else 1
    PAGE.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
