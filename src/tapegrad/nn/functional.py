"""``tg.nn.functional`` (import as F): the neural-network ops, by their PyTorch names.

Every op registers itself once (in tapegrad/ops); this module only re-exports them, so
``F.relu is tg.relu``.
"""
from ..core.registry import OPS as _OPS
from .. import ops as _ops  # noqa: F401  (registers every op)

globals().update({_name: _info.fn for _name, _info in _OPS.items()})
for _info in list(_OPS.values()):
    for _alias in _info.aliases:
        globals()[_alias] = _info.fn
# ops registered under PyTorch's full name where the short one is taken by another op
# (``nn.functional.unfold``: ``unfold`` is Tensor.unfold) are F.<short name> here
for _name, _info in list(_OPS.items()):
    if _name.startswith("nn.functional."):
        globals()[_name[len("nn.functional."):]] = _info.fn
