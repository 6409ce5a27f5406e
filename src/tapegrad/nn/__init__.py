"""Neural networks: modules, layers, losses, initialisation (PyTorch's names).

``tg.nn.functional`` (import as F) holds the ops; this package holds the Module classes
that own parameters and call them, plus ``init`` and ``utils``.
"""
from . import functional  # noqa: F401
from .parameter import Parameter, Buffer
from .module import Module
from .containers import Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict
from .layers import (Identity, Linear, Dense, Bilinear, Embedding, Flatten, Unflatten,
                     PairwiseDistance, CosineSimilarity)
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .pooling import (MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool1d,
                      AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool2d)
from .padding import (ZeroPad1d, ZeroPad2d, ZeroPad3d, ConstantPad1d, ConstantPad2d,
                      ConstantPad3d, ReflectionPad1d, ReflectionPad2d, ReflectionPad3d,
                      ReplicationPad1d, ReplicationPad2d, ReplicationPad3d, CircularPad1d,
                      CircularPad2d, CircularPad3d)
from .spatial import (Upsample, UpsamplingNearest2d, UpsamplingBilinear2d, PixelShuffle,
                      PixelUnshuffle, Fold, Unfold)
from .normalization import (BatchNorm1d, BatchNorm2d, InstanceNorm1d, InstanceNorm2d,
                            InstanceNorm3d, LayerNorm, GroupNorm, RMSNorm)
from .dropout import Dropout, Dropout1d, Dropout2d, Dropout3d
from .rnn import RNNBase, RNN, LSTM, GRU
from .rnn_cell import RNNCellBase, RNNCell, LSTMCell, GRUCell
from .attention import MultiheadAttention
from .transformer import (Transformer, TransformerEncoder, TransformerDecoder,
                          TransformerEncoderLayer, TransformerDecoderLayer)
from .activation import (ReLU, ReLU6, LeakyReLU, PReLU, ELU, SELU, CELU, GELU, SiLU, Mish,
                         Hardtanh, Hardsigmoid, Hardswish, Softsign, Tanhshrink, Threshold, GLU,
                         Sigmoid, Tanh, Softmax, LogSoftmax, Softmin, Softplus, LogSigmoid)
from .loss import (MSELoss, L1Loss, SmoothL1Loss, HuberLoss, CrossEntropyLoss, NLLLoss, BCELoss,
                   BCEWithLogitsLoss, KLDivLoss, CosineEmbeddingLoss, MarginRankingLoss,
                   TripletMarginLoss, PoissonNLLLoss, GaussianNLLLoss, HingeEmbeddingLoss,
                   MultiLabelSoftMarginLoss, MultiMarginLoss,
                   mse_loss, cross_entropy_loss, binary_cross_entropy)
from . import init, utils  # noqa: F401
from .utils import clip_grad_norm_, clip_grad_value_, clip_grad_norm, clip_grad_value  # noqa: F401


def __getattr__(name):
    if name in ("DistributedDataParallel", "parallel"):   # loaded on first use
        import importlib
        parallel = importlib.import_module(__name__ + ".parallel")
        return parallel if name == "parallel" else parallel.DistributedDataParallel
    if name == "modules":   # PyTorch's layout (tg.nn.modules.rnn.LSTM), loaded on first use
        import importlib
        return importlib.import_module(__name__ + ".modules")
    # the seed documents import optimizers from the nn package: ``from gt.nn import SGD``
    from .. import optim
    if hasattr(optim, name) and name[:1].isupper():
        return getattr(optim, name)
    raise AttributeError(f"module 'tapegrad.nn' has no attribute '{name}'")
