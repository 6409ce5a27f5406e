"""``torch.nn.modules``: PyTorch's module layout over tapegrad's layers.

Each submodule (``linear``, ``conv``, ``rnn``, ``activation``, ``loss``, ...) imports the
classes from the file of ``tg.nn`` where they are defined, so
``tg.nn.modules.rnn.LSTM is tg.nn.LSTM``: a program or a checkpoint that names a class by
PyTorch's path finds tapegrad's. Nothing is defined here twice.
"""
from . import (activation, batchnorm, container, conv, distance, dropout,  # noqa: F401
               flatten, fold, instancenorm, linear, loss, module, normalization, padding,
               pixelshuffle, pooling, rnn, sparse, transformer, upsampling, utils)
from .module import Module
from .linear import Identity, Linear, Bilinear
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .activation import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .normalization import LayerNorm, GroupNorm, RMSNorm
from .batchnorm import BatchNorm1d, BatchNorm2d
from .instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .dropout import Dropout, Dropout1d, Dropout2d, Dropout3d
from .sparse import Embedding
from .container import Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict
from .transformer import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .padding import *  # noqa: F401,F403
from .pixelshuffle import PixelShuffle, PixelUnshuffle
from .upsampling import Upsample, UpsamplingNearest2d, UpsamplingBilinear2d
from .fold import Fold, Unfold
from .flatten import Flatten, Unflatten
from .distance import PairwiseDistance, CosineSimilarity
