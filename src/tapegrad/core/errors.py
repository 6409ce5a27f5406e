"""Error types. Each subclasses the built-in category users already catch."""


class GraphFreedError(RuntimeError):
    """Backward through a graph whose saved tensors were released (retain_graph=False)."""


class InplaceModifiedError(RuntimeError):
    """A tensor saved for backward was changed in place before backward ran."""


class GradcheckError(RuntimeError):
    """Analytical and numerical gradients disagree."""
