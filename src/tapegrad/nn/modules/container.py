"""``torch.nn.modules.container``: the containers
(``tg.nn``'s classes, imported from where they live)."""
from ..containers import Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]
