"""Static graphs and compiled mode: one IR (ir.Program) behind two front doors.

- ``tg.compile(fn)`` traces a Python function of tensors (a whole training step) and
  replays it on arrays (compiled.py).
- ``tg.Graph()`` builds a graph with placeholders and variables, the seed's form (builder.py).
"""
from .tracer import TraceError
from .compiled import compile, Compiled
from .builder import Graph

__all__ = ["compile", "Compiled", "Graph", "TraceError"]
