"""Normalisation layers: BatchNorm1d/2d, InstanceNorm1d/2d/3d, LayerNorm, GroupNorm, RMSNorm."""

from .. import backend
from ..core.errors import ShapeError
from ..core.function import warn_user
from ..creation import ones, zeros
from . import functional as F
from .module import Module
from .parameter import Parameter


class _BatchNorm(Module):
    """Batch normalisation with running statistics (buffers ``running_mean``,
    ``running_var``, ``num_batches_tracked``).

    In training mode it normalises with the batch statistics and updates the running ones
    (``running = (1 - momentum) * running + momentum * batch``, unbiased variance);
    in eval mode it uses the running statistics. ``momentum=None`` is a cumulative average.
    """

    _dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.use_bias = bias
        if affine:
            self.weight = Parameter(ones(num_features, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(zeros(num_features, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean",
                                 zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked",
                                 zeros((), dtype=backend.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        """Reset the running statistics: ``running_mean`` to 0, ``running_var`` to 1 and
        ``num_batches_tracked`` to 0 (nothing without ``track_running_stats``).
        """
        if self.track_running_stats:
            for b, v in ((self.running_mean, 0), (self.running_var, 1),
                         (self.num_batches_tracked, 0)):
                b._data[...] = v
                b._vc[0] += 1

    def _check_input(self, x):
        if x.ndim not in self._dims:
            raise ShapeError(f"{type(self).__name__} expects a {' or '.join(map(str, self._dims))}"
                             f"-D input, got shape {list(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}({self.num_features}) got an input with "
                             f"{x.shape[1]} channels (shape {list(x.shape)})")

    def forward(self, x):
        self._check_input(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            n = self.num_batches_tracked
            n._data += 1
            n._vc[0] += 1
            factor = 1.0 / float(n._data) if self.momentum is None else self.momentum
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            use_batch, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) inputs; the output has the input's shape.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` per channel C, with the batch's
    biased mean and variance over every dim but C in training (the running statistics then
    move by ``momentum`` toward the batch's, with its unbiased variance), the running ones in
    eval mode (``F.batch_norm``).

    Args:
        num_features (int): C, the number of channels.
        eps (float): added to the variance for stability.
        momentum (float or None): the running statistics' update rate; None keeps a
            cumulative average.
        affine (bool): learn ``weight`` (ones) and ``bias`` (zeros) of shape (C,).
        track_running_stats (bool): keep ``running_mean``/``running_var`` buffers; without
            them eval mode also uses the batch statistics.
        device (optional): where the parameters and buffers are made.
        dtype (optional): their dtype.
        bias (bool): keyword-only; False with ``affine`` learns ``weight`` only.

    Raises:
        tg.ShapeError: an input of another rank or with another number of channels.
    """
    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) inputs; the output has the input's shape.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` per channel C, with the batch's
    biased mean and variance over every dim but C in training (the running statistics then
    move by ``momentum`` toward the batch's, with its unbiased variance), the running ones in
    eval mode (``F.batch_norm``).

    Args:
        num_features (int): C, the number of channels.
        eps (float): added to the variance for stability.
        momentum (float or None): the running statistics' update rate; None keeps a
            cumulative average.
        affine (bool): learn ``weight`` (ones) and ``bias`` (zeros) of shape (C,).
        track_running_stats (bool): keep ``running_mean``/``running_var`` buffers; without
            them eval mode also uses the batch statistics.
        device (optional): where the parameters and buffers are made.
        dtype (optional): their dtype.
        bias (bool): keyword-only; False with ``affine`` learns ``weight`` only.

    Raises:
        tg.ShapeError: an input of another rank or with another number of channels.
    """
    _dims = (4,)


class _InstanceNorm(_BatchNorm):
    """Instance normalisation: each sample's channel normalised over its spatial dims
    (``F.instance_norm``), then a per-channel affine when ``affine``. With
    ``track_running_stats`` the batch averages of the instance statistics update running
    ones, which eval mode uses (PyTorch's defaults: affine=False, track_running_stats=False).
    A (C, *spatial) input is one unbatched sample."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)

    def forward(self, x):
        unbatched = self._dims[0] - 1
        if x.ndim not in (unbatched, unbatched + 1):
            raise ShapeError(f"{type(self).__name__}: expected a {unbatched}-d (unbatched) or "
                             f"{unbatched + 1}-d input, got shape {list(x.shape)}")
        c = x.shape[x.ndim - unbatched]
        if c != self.num_features:
            if self.affine:
                raise ShapeError(f"{type(self).__name__}({self.num_features}): expected the "
                                 f"input's channel dim to be {self.num_features}, got input "
                                 f"of shape {list(x.shape)}")
            warn_user(f"{type(self).__name__}({self.num_features}): the input's channel dim "
                          f"({c}) does not match num_features, which is unused because "
                          f"affine=False")
        if x.ndim == unbatched:
            return self._instance_norm(x.unsqueeze(0)).squeeze(0)
        return self._instance_norm(x)

    def _instance_norm(self, x):
        return F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                               self.training or not self.track_running_stats,
                               0.0 if self.momentum is None else self.momentum, self.eps)


class InstanceNorm1d(_InstanceNorm):
    """Over (N, C, L) or (C, L) inputs."""
    _dims = (3,)


class InstanceNorm2d(_InstanceNorm):
    """Over (N, C, H, W) or (C, H, W) inputs."""
    _dims = (4,)


class InstanceNorm3d(_InstanceNorm):
    """Over (N, C, D, H, W) or (C, D, H, W) inputs."""
    _dims = (5,)


class LayerNorm(Module):
    """Normalises over the trailing ``normalized_shape`` dims, then scales and shifts."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        _affine_parameters(self, self.normalized_shape, elementwise_affine, bias, dtype, device)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


def _affine_parameters(module, shape, affine, bias, dtype, device=None):
    """weight = ones and bias = zeros of ``shape`` (or None when switched off)."""
    module.register_parameter("weight", Parameter(ones(*shape, dtype=dtype, device=device))
                              if affine else None)
    module.register_parameter("bias", Parameter(zeros(*shape, dtype=dtype, device=device))
                              if affine and bias else None)


class GroupNorm(Module):
    """Normalises each of ``num_groups`` channel groups over (C/G, *spatial)."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None,
                 dtype=None, *, bias=True):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups, self.num_channels = num_groups, num_channels
        self.eps, self.affine, self.use_bias = eps, affine, bias
        _affine_parameters(self, (num_channels,), affine, bias, dtype, device)

    def forward(self, x):
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.use_bias}")


class RMSNorm(Module):
    """Root-mean-square normalisation over the trailing ``normalized_shape`` dims
    (``F.rms_norm``), times a weight (ones) when ``elementwise_affine``. ``eps=None`` is the
    input dtype's machine epsilon."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None,
                 dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.register_parameter("weight", Parameter(ones(*self.normalized_shape, dtype=dtype,
                                                         device=device))
                                if elementwise_affine else None)

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
