"""The yolops detector: an anchor-free YOLO (CSP backbone with C2f blocks, SPPF, PAN neck,
decoupled head per stride with distribution-focal box regression).

The network only maps images to raw head outputs (:class:`HeadOutput`), the same in
training and evaluation; :func:`decode` turns them into boxes and scores, the loss
(:mod:`yolops.model.loss`) and post-processing (:mod:`yolops.model.postprocess`) live
apart. Sizes come from :data:`SCALES` through :func:`build_model`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from yolops.errors import ConfigError
from yolops.model.layers import SPPF, C2f, Conv, SeparableConv, fuse_conv_bn

# scale -> (depth multiple, width multiple, max channels), applied to the base network
# below (YOLOv8 proportions). Changing a row changes the weights a checkpoint fits.
# "n" is tuned for 2 CPU cores: every C2f holds one bottleneck, and channels are
# (16, 32, 48, 96, 144), about 0.75 GFLOPs at 320x320 (YOLOv8n: 2.2).
SCALES: dict[str, tuple[float, float, int]] = {
    "n": (0.2, 0.1875, 768),
    "s": (0.33, 0.50, 1024),
    "m": (0.67, 0.75, 768),
}
_BASE_CHANNELS = (64, 128, 256, 512, 1024)  # stem, P2, P3, P4, P5
_BASE_DEPTHS = (3, 6, 6, 3)  # C2f repeats at P2, P3, P4, P5; the neck uses 3
STRIDES = (8, 16, 32)
REG_MAX = 16


@dataclass
class HeadOutput:
    """Raw head outputs for A anchor points (all strides, finest first, row-major).

    box_dist: (B, A, 4 * reg_max) logits of the left/top/right/bottom distance
        distributions over bins 0..reg_max-1, in stride units.
    cls_logits: (B, A, C) class logits (sigmoid gives independent probabilities).
    anchors: (A, 2) anchor-point centres (x, y) in input pixels, (grid + 0.5) * stride.
    strides: (A,) float stride of each anchor point, in pixels.
    """

    box_dist: Tensor
    cls_logits: Tensor
    anchors: Tensor
    strides: Tensor


def _channels(c: int, width: float, max_channels: int) -> int:
    """Base channels scaled by ``width``, capped, rounded up to a multiple of 16 (CPU
    kernels work on blocks of 16 channels with AVX-512: fewer would be padded anyway)."""
    return int(math.ceil(min(c, max_channels) * width / 16) * 16)


def _repeats(n: int, depth: float) -> int:
    return max(round(n * depth), 1)


class Backbone(nn.Module):
    """(B, 3, H, W) -> P3 (stride 8), P4 (stride 16), P5 (stride 32) feature maps."""

    def __init__(self, ch: tuple[int, ...], depths: tuple[int, ...]):
        super().__init__()
        c1, c2, c3, c4, c5 = ch
        self.stem = Conv(3, c1, 3, 2)
        self.stage2 = nn.Sequential(Conv(c1, c2, 3, 2), C2f(c2, c2, depths[0], shortcut=True))
        self.stage3 = nn.Sequential(Conv(c2, c3, 3, 2), C2f(c3, c3, depths[1], shortcut=True))
        self.stage4 = nn.Sequential(Conv(c3, c4, 3, 2), C2f(c4, c4, depths[2], shortcut=True))
        self.stage5 = nn.Sequential(
            Conv(c4, c5, 3, 2), C2f(c5, c5, depths[3], shortcut=True), SPPF(c5, c5)
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        p3 = self.stage3(self.stage2(self.stem(x)))
        p4 = self.stage4(p3)
        return p3, p4, self.stage5(p4)


class Neck(nn.Module):
    """PAN: a top-down path (upsample, concat, C2f) then a bottom-up one (strided conv,
    concat, C2f), so every output level mixes fine detail and coarse context."""

    def __init__(self, ch: tuple[int, int, int], n: int):
        super().__init__()
        c3, c4, c5 = ch
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.top4 = C2f(c5 + c4, c4, n)
        self.top3 = C2f(c4 + c3, c3, n)
        self.down3 = Conv(c3, c3, 3, 2)
        self.bottom4 = C2f(c3 + c4, c4, n)
        self.down4 = Conv(c4, c4, 3, 2)
        self.bottom5 = C2f(c4 + c5, c5, n)

    def forward(self, p3: Tensor, p4: Tensor, p5: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        t4 = self.top4(torch.cat((self.up(p5), p4), 1))
        n3 = self.top3(torch.cat((self.up(t4), p3), 1))
        n4 = self.bottom4(torch.cat((self.down3(n3), t4), 1))
        n5 = self.bottom5(torch.cat((self.down4(n4), p5), 1))
        return n3, n4, n5


class Head(nn.Module):
    """Decoupled head: per level, a box branch (-> 4 * reg_max) and a class branch (-> C),
    each two depthwise-separable convs and a 1x1 prediction conv. Separable convs keep
    the head, the costliest part of a YOLOv8-style model at stride 8, about 8x cheaper.
    """

    def __init__(
        self, ch: tuple[int, ...], num_classes: int, reg_max: int, strides: tuple[int, ...]
    ):
        super().__init__()
        self.strides = strides
        c_box = max(16, ch[0] // 4, 4 * reg_max)
        c_cls = max(ch[0], min(num_classes, 100))
        self.box = nn.ModuleList(
            nn.Sequential(
                SeparableConv(c, c_box),
                SeparableConv(c_box, c_box),
                nn.Conv2d(c_box, 4 * reg_max, 1),
            )
            for c in ch
        )
        self.cls = nn.ModuleList(
            nn.Sequential(
                SeparableConv(c, c_cls),
                SeparableConv(c_cls, c_cls),
                nn.Conv2d(c_cls, num_classes, 1),
            )
            for c in ch
        )
        self.init_biases(num_classes)

    @torch.no_grad()
    def init_biases(self, num_classes: int) -> None:
        """Start from a sensible prior, which matters when training from scratch for a
        few hundred steps: every box distribution uniform (logit 1.0 everywhere), and
        every class probability about 5 objects per class spread over the anchor
        points of a 640x640 image at that stride (focal-loss-style prior), so the
        first steps are not spent pushing millions of background scores down."""
        for box, cls, s in zip(self.box, self.cls, self.strides):
            box[-1].bias.fill_(1.0)
            cls[-1].bias.fill_(math.log(5 / num_classes / (640 / s) ** 2))

    def forward(self, feats: tuple[Tensor, ...]) -> HeadOutput:
        boxes, scores, anchors, strides = [], [], [], []
        for x, box, cls, s in zip(feats, self.box, self.cls, self.strides):
            boxes.append(box(x).flatten(2))  # (B, 4R, h*w)
            scores.append(cls(x).flatten(2))  # (B, C, h*w)
            a = _anchor_points(x.shape[-2], x.shape[-1], s, x.device)  # (h*w, 2)
            anchors.append(a)
            strides.append(torch.full_like(a[:, 0], float(s)))
        return HeadOutput(
            box_dist=torch.cat(boxes, 2).transpose(1, 2),  # (B, A, 4R)
            cls_logits=torch.cat(scores, 2).transpose(1, 2),  # (B, A, C)
            anchors=torch.cat(anchors, 0),
            strides=torch.cat(strides, 0),
        )


def _anchor_points(h: int, w: int, stride: int, device: torch.device | None = None) -> Tensor:
    """(h*w, 2) cell centres (x, y) in input pixels of an h x w feature map, row-major.
    Always float32: in half precision, pixel coordinates past 256 would round."""
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * stride
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * stride
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), -1).reshape(-1, 2)


def anchor_grid(
    height: int,
    width: int,
    strides: tuple[int, ...] = STRIDES,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """Anchor points of a (height, width) input, as the head lays them out: (A, 2)
    centres (x, y) in pixels, finest stride first, and (A,) their strides."""
    points = [
        _anchor_points(math.ceil(height / s), math.ceil(width / s), s, device) for s in strides
    ]
    per_point = [torch.full((len(p),), float(s), device=device) for p, s in zip(points, strides)]
    return torch.cat(points), torch.cat(per_point)


class YOLO(nn.Module):
    """The detector. ``forward`` takes (B, 3, H, W) images in [0, 1], H and W multiples
    of 32, and returns a :class:`HeadOutput` in training and evaluation alike."""

    def __init__(
        self,
        scale: str,
        num_classes: int,
        depth: float,
        width: float,
        max_channels: int,
        reg_max: int = REG_MAX,
    ):
        super().__init__()
        self.scale = scale
        self.num_classes = num_classes
        self.reg_max = reg_max
        self.strides = STRIDES
        ch = tuple(_channels(c, width, max_channels) for c in _BASE_CHANNELS)
        depths = tuple(_repeats(n, depth) for n in _BASE_DEPTHS)
        self.backbone = Backbone(ch, depths)
        self.neck = Neck(ch[2:], _repeats(3, depth))
        self.head = Head(ch[2:], num_classes, reg_max, STRIDES)

    def forward(self, images: Tensor) -> HeadOutput:
        return self.head(self.neck(*self.backbone(images)))

    def fuse(self) -> YOLO:
        """Fold every BatchNorm into its convolution, in place; for inference only
        (the fused model no longer trains its normalisation)."""
        for m in self.modules():
            if isinstance(m, Conv):
                fuse_conv_bn(m)
        return self

    @torch.no_grad()
    def info(self, imgsz: int = 640) -> dict:
        """{"params": trainable + frozen parameter count, "gflops": 2 * multiply-adds of
        every convolution for one imgsz x imgsz image, "layers": leaf module count}."""
        macs = 0

        def count(conv: nn.Conv2d, _inp: tuple[Tensor], out: Tensor) -> None:
            nonlocal macs
            k = conv.kernel_size[0] * conv.kernel_size[1] * conv.in_channels // conv.groups
            macs += out.numel() * k

        hooks = [m.register_forward_hook(count) for m in self.modules() if isinstance(m, nn.Conv2d)]
        was_training = self.training
        try:
            self.eval()  # eval: the dummy pass must not move BatchNorm statistics
            p = next(self.parameters())
            self(torch.zeros(1, 3, imgsz, imgsz, device=p.device, dtype=p.dtype))
        finally:
            for h in hooks:
                h.remove()
            self.train(was_training)
        return {
            "params": sum(p.numel() for p in self.parameters()),
            "gflops": 2 * macs / 1e9,
            "layers": sum(1 for m in self.modules() if not list(m.children())),
        }


def build_model(scale: str = "n", num_classes: int = 80) -> YOLO:
    """A freshly initialised detector of a named size (see :data:`SCALES`)."""
    if scale not in SCALES:
        raise ConfigError(f"unknown model scale {scale!r}; choose one of {', '.join(SCALES)}")
    if num_classes < 1:
        raise ConfigError(f"a detector needs at least one class, got num_classes={num_classes}")
    depth, width, max_channels = SCALES[scale]
    return YOLO(scale, num_classes, depth, width, max_channels)


def expected_distances(box_dist: Tensor) -> Tensor:
    """(..., 4 * R) distribution logits -> (..., 4) expected ltrb distances, stride units."""
    probs = box_dist.unflatten(-1, (4, -1)).softmax(-1)  # (..., 4, R)
    bins = torch.arange(probs.shape[-1], device=probs.device, dtype=probs.dtype)
    # (R, 1) column, not an (R,) vector: ONNX Runtime runs the matrix-vector form ~8x slower
    return (probs @ bins[:, None]).squeeze(-1)


def distances_to_xyxy(ltrb: Tensor, anchors: Tensor) -> Tensor:
    """(..., A, 4) ltrb distances in pixels around (A, 2) anchor points -> (..., A, 4) xyxy."""
    return torch.cat((anchors - ltrb[..., :2], anchors + ltrb[..., 2:]), -1)


def decode_boxes(out: HeadOutput) -> Tensor:
    """(B, A, 4) predicted boxes, xyxy in input pixels (differentiable)."""
    return distances_to_xyxy(expected_distances(out.box_dist) * out.strides[:, None], out.anchors)


def decode(out: HeadOutput) -> tuple[Tensor, Tensor]:
    """Boxes (B, A, 4) xyxy in input pixels and scores (B, A, C) sigmoid probabilities."""
    return decode_boxes(out), out.cls_logits.sigmoid()
