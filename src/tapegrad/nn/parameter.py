"""Parameter: a leaf tensor that a Module registers as trainable."""
from ..core.tensor import Tensor, _to_array


class Parameter(Tensor):
    """A Tensor that requires grad by default and is registered when assigned to a Module.

    ``Parameter(data)`` shares memory with ``data`` when it is an array or tensor (as
    ``torch.nn.Parameter`` does). Integer parameters must pass ``requires_grad=False``.
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = []
        super().__init__(_to_array(data), requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        out = Parameter(self._data.copy(), requires_grad=self.requires_grad)
        if self._grad is not None:
            out._grad = Tensor(self._grad._data.copy())
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, protocol):
        return (Parameter, (self._data, self.requires_grad))


class Buffer(Tensor):
    """Marker type for ``Module.register_buffer``-style assignment (``self.x = Buffer(t)``)."""

    def __init__(self, data=None, persistent=True):
        super().__init__(_to_array([] if data is None else data))
        self.persistent = persistent
