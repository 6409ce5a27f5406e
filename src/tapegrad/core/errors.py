"""Error types. Each subclasses the built-in category users already catch."""


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
