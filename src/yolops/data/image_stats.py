"""The statistics of an image's look that serving logs and monitoring compares:
brightness, contrast and sharpness, measured the same way wherever they are taken
(the server on every request, the reference statistics on the training data)."""

from __future__ import annotations

import cv2
import numpy as np

# Statistics are computed on a copy at most this many pixels wide or high: they
# describe the image's look, which a thumbnail keeps, at a fraction of the cost.
STATS_SIDE = 256
STATS = ("brightness", "contrast", "sharpness")


def image_statistics(image: np.ndarray) -> dict[str, float]:
    """Brightness (mean grey level, 0..255), contrast (its standard deviation) and
    sharpness (variance of the Laplacian) of an RGB uint8 image (H, W, 3), on a
    thumbnail at most ``STATS_SIDE`` pixels a side."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    scale = STATS_SIDE / max(grey.shape)
    if scale < 1:
        grey = cv2.resize(
            grey,
            (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale))),
            interpolation=cv2.INTER_AREA,
        )
    return {
        "brightness": float(grey.mean()),
        "contrast": float(grey.std()),
        "sharpness": float(cv2.Laplacian(grey, cv2.CV_64F).var()),
    }
