"""Building blocks of the yolops network: Conv (conv + BatchNorm + SiLU), SeparableConv,
Bottleneck, C2f, SPPF, and the folding of BatchNorm into its convolution for inference.

Every block maps an (B, C_in, H, W) tensor to (B, C_out, H', W'); none holds Python
control flow that depends on tensor values, so the network traces and exports to ONNX.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Conv(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> SiLU, 'same' padding for odd kernels.

    ``groups=c_in`` makes it depthwise. After :func:`fuse_conv_bn` the BatchNorm is an
    Identity and the convolution carries the bias; the forward pass is unchanged.
    """

    def __init__(
        self, c_in: int, c_out: int, k: int = 1, s: int = 1, groups: int = 1, act: bool = True
    ):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, k // 2, groups=groups, bias=False)
        # Running statistics follow about the last 10 batches (momentum 0.1, PyTorch's
        # default): trainings of a few hundred steps, the norm on a CPU, would otherwise
        # evaluate with statistics of weights long gone (0.03, the YOLO line's choice for
        # runs of many thousand steps, left a 60-step model predicting nothing in eval mode).
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.1)
        self.act = nn.SiLU(inplace=True) if act else nn.Identity()


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 Conv then pointwise 1x1 Conv (MobileNet): about 1/9 the
    multiply-adds of a full 3x3 Conv when c_out >> 9, for the same receptive field."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(Conv(c_in, c_in, 3, groups=c_in), Conv(c_in, c_out, 1))


class Bottleneck(nn.Module):
    """Two 3x3 Convs with an optional residual (used in the backbone, not in the neck)."""

    def __init__(self, c: int, shortcut: bool = True):
        super().__init__()
        self.cv1 = Conv(c, c, 3)
        self.cv2 = Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x: Tensor) -> Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP block with two convolutions and ``n`` bottlenecks, all outputs concatenated.

    A 1x1 conv makes 2*c_hidden channels and splits them in two halves; the bottlenecks
    run one after another on the second half, and every intermediate map joins the
    final 1x1 conv, so gradients reach each stage through a short path (CSPNet/ELAN idea).
    """

    def __init__(
        self, c_in: int, c_out: int, n: int = 1, shortcut: bool = False, expansion: float = 0.5
    ):
        super().__init__()
        self.hidden = int(c_out * expansion)
        self.cv1 = Conv(c_in, 2 * self.hidden, 1)
        self.blocks = nn.ModuleList(Bottleneck(self.hidden, shortcut) for _ in range(n))
        self.cv2 = Conv((2 + n) * self.hidden, c_out, 1)

    def forward(self, x: Tensor) -> Tensor:
        parts = list(self.cv1(x).chunk(2, dim=1))  # 2 x (B, hidden, H, W)
        for block in self.blocks:
            parts.append(block(parts[-1]))
        return self.cv2(torch.cat(parts, dim=1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 max-pools (receptive fields
    5, 9, 13) concatenated with their input, between two 1x1 convs."""

    def __init__(self, c_in: int, c_out: int, k: int = 5):
        super().__init__()
        hidden = c_in // 2
        self.cv1 = Conv(c_in, hidden, 1)
        self.pool = nn.MaxPool2d(k, stride=1, padding=k // 2)
        self.cv2 = Conv(4 * hidden, c_out, 1)

    def forward(self, x: Tensor) -> Tensor:
        y0 = self.cv1(x)
        y1 = self.pool(y0)
        y2 = self.pool(y1)
        y3 = self.pool(y2)
        return self.cv2(torch.cat((y0, y1, y2, y3), dim=1))


@torch.no_grad()
def fuse_conv_bn(module: Conv) -> None:
    """Fold ``module.bn`` into ``module.conv`` in place (eval-mode statistics).

    BN(x) = gamma * (x - mean) / sqrt(var + eps) + beta is affine per channel, so it
    becomes a per-output-channel scale of the conv weight plus a bias.
    """
    conv, bn = module.conv, module.bn
    if not isinstance(bn, nn.BatchNorm2d):
        return  # already fused
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C_out,)
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        bias=True,
    ).to(conv.weight)
    fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.copy_(bn.bias + (bias - bn.running_mean) * scale)
    module.conv = fused
    module.bn = nn.Identity()
