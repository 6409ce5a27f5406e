"""Optimizers and learning-rate schedulers (PyTorch's names and update rules).

``SGD(model.parameters(), lr=...)`` with ``step()``/``zero_grad()``, or the seed form
``SGD(learning_rate=...)`` with ``step(params)``/``zero_grad(params)``.
"""
from .optimizer import Optimizer, required
from .sgd import SGD
from .adam import Adam, AdamW
from .adam_variants import Adamax, NAdam, RAdam
from .rmsprop import RMSprop, Adagrad
from .adadelta import Adadelta
from .rprop import Rprop
from .asgd import ASGD
from .lbfgs import LBFGS
from . import lr_scheduler

__all__ = ["Optimizer", "required", "SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam",
           "RMSprop", "Adagrad", "Adadelta", "Rprop", "ASGD", "LBFGS",
           "lr_scheduler"]
