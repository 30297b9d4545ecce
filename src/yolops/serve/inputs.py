"""From an HTTP request to RGB images, refusing bad input with a clear 4xx.

Order of checks, cheapest first: the declared and actual body size, the content
type, the body's structure (multipart form or JSON), the number of images, then
per image the header (format, pixel count, so a decompression bomb is refused
before a byte is decoded) and last the decode (corrupt or truncated data). A JPEG
much larger than the model's input is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's
DCT scaling, through PIL's draft mode); its original size is kept for the answer.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass

import numpy as np
from fastapi import Request
from PIL import Image, ImageOps
from pydantic import ValidationError
from starlette.formparsers import MultiPartException, MultiPartParser

from yolops.api_errors import ApiError, describe_validation
from yolops.data.images import check_jpeg_data, open_image, reduction_factor
from yolops.errors import ImageReadError
from yolops.serve.schemas import PredictJson

FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP")
CONTENT_TYPES = ("multipart/form-data", "application/json")
FIELD = "images"  # the one multipart field images are read from (documented in OpenAPI)


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


@dataclass(frozen=True)
class DecodedImage:
    name: str
    image: np.ndarray  # (h, w, 3) RGB uint8, reduced from ``size`` for a large JPEG
    data: bytes  # the bytes as sent (kept for the labeling sample)
    size: tuple[int, int]  # (width, height) of the original image, EXIF orientation applied

    @property
    def reduced(self) -> bool:
        return self.size != (self.image.shape[1], self.image.shape[0])


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(
                400, "bad_content_length", f"Content-Length {declared!r} is not a number"
            )
        if int(declared) > limit:
            raise ApiError(
                413, "body_too_large", f"the body has {int(declared)} bytes; the limit is {limit}"
            )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise ApiError(
            400,
            "empty_body",
            "the request has no body; send images as multipart/form-data "
            '(field \'images\') or JSON {"images": [{"data": base64}]}',
        )
    return body


async def parse_uploads(request: Request, body: bytes, max_images: int) -> list[Upload]:
    """The encoded images of a multipart or JSON body."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        uploads = await _from_multipart(request, body, max_images)
    elif media == "application/json":
        uploads = _from_json(body, max_images)
    else:
        shown = media or "none"
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type {shown!r} is not accepted; use {' or '.join(CONTENT_TYPES)}",
        )
    if not uploads:
        raise ApiError(
            400, "no_images", "the form holds no image files; send them in the field 'images'"
        )
    if len(uploads) > max_images:
        raise ApiError(
            413, "too_many_images", f"{len(uploads)} images sent; at most {max_images} per request"
        )
    return uploads


async def _from_multipart(request: Request, body: bytes, max_images: int) -> list[Upload]:
    async def once():
        yield body

    parser = MultiPartParser(request.headers, once(), max_files=max_images, max_fields=100)
    try:
        form = await parser.parse()
    except MultiPartException as e:
        if "files" in str(e).lower():
            raise ApiError(
                413,
                "too_many_images",
                f"more than {max_images} images sent; at most {max_images} per request",
            ) from None
        raise ApiError(
            400, "malformed_multipart", f"the multipart body cannot be read: {e}"
        ) from None
    except Exception as e:  # python-multipart's own errors for broken framing
        raise ApiError(
            400, "malformed_multipart", f"the multipart body cannot be read: {e}"
        ) from None
    uploads = []
    try:
        items = form.multi_items()
        unknown = sorted({field for field, _ in items if field != FIELD})
        if unknown:
            raise ApiError(
                422,
                "unknown_field",
                f"form field(s) {', '.join(repr(f) for f in unknown)} are not read: send image "
                f"files in the field {FIELD!r} only; options (conf, iou, max_det) go in the "
                "query string",
            )
        for field, value in items:
            if isinstance(value, str):
                raise ApiError(
                    400,
                    "not_a_file",
                    f"the field {FIELD!r} holds text, not a file; send each image as a file "
                    "part (Content-Disposition with a filename)",
                )
            data = await value.read()
            uploads.append(Upload(value.filename or f"{field}[{len(uploads)}]", data))
    finally:
        await form.close()
    return uploads


def _from_json(body: bytes, max_images: int) -> list[Upload]:
    try:
        payload = PredictJson.model_validate_json(body)
    except ValidationError as e:
        if any(err.get("type") == "json_invalid" for err in e.errors()):
            raise ApiError(
                400, "malformed_json", f"the body is not valid JSON: {e.errors()[0].get('msg')}"
            ) from None
        raise ApiError(422, "invalid_request", describe_validation(e.errors())) from None
    if len(payload.images) > max_images:
        raise ApiError(
            413,
            "too_many_images",
            f"{len(payload.images)} images sent; at most {max_images} per request",
        )
    uploads = []
    for i, item in enumerate(payload.images):
        text = item.data.split(",", 1)[1] if item.data.startswith("data:") else item.data
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "bad_base64", f"images[{i}].data is not valid base64") from None
        uploads.append(Upload(item.name or f"images[{i}]", data))
    return uploads


def decode_upload(upload: Upload, max_pixels: int, imgsz: int | None = None) -> DecodedImage:
    """RGB pixels of one upload (EXIF orientation applied, as `yolops predict` reads files).

    With ``imgsz``, a JPEG is decoded at the reduced scale
    :func:`yolops.data.images.reduction_factor` allows for a model of that input size."""
    if not upload.data:
        raise ApiError(400, "empty_image", f"image {upload.name!r} is empty (0 bytes)")
    try:
        im = open_image(io.BytesIO(upload.data), upload.name)
    except ImageReadError as e:
        if e.code == "image_too_large":
            raise ApiError(
                413,
                "too_many_pixels",
                f"image {upload.name!r} has more pixels than the limit of {max_pixels}",
            ) from None
        raise ApiError(
            400, "not_an_image", f"image {upload.name!r} is not a readable image file"
        ) from None
    with im:
        if im.format not in FORMATS:
            raise ApiError(
                415,
                "unsupported_image_format",
                f"image {upload.name!r} is {im.format}; accepted: {', '.join(FORMATS)}",
            )
        width, height = im.size
        if width <= 0 or height <= 0:
            raise ApiError(400, "not_an_image", f"image {upload.name!r} has size {width}x{height}")
        if width * height > max_pixels:
            raise ApiError(
                413,
                "too_many_pixels",
                f"image {upload.name!r} is {width}x{height} = "
                f"{width * height} pixels; the limit is {max_pixels}",
            )
        factor = reduction_factor(width, height, imgsz) if imgsz and im.format == "JPEG" else 1
        if factor > 1:
            # A JPEG's EXIF is in its header (other formats may decode to read it).
            swapped = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
            size = (height, width) if swapped else (width, height)
            # PIL picks the largest scale whose output is at least the size asked for:
            # exactly 1/factor here, ceil(side / factor) pixels as libjpeg gives.
            im.draft("RGB", (width // factor, height // factor))
        try:
            if im.format == "JPEG":
                # A cut JPEG with its end marker re-appended decodes without an error
                # (grey where data is missing): compare with filler, at the scale used.
                check_jpeg_data(upload.data, upload.name, factor)
            im.load()
            rgb = ImageOps.exif_transpose(im).convert("RGB")
        except ImageReadError as e:
            raise ApiError(
                400, "corrupt_image", f"image {upload.name!r} is corrupt or truncated ({e.reason})"
            ) from None
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise ApiError(
                400,
                "corrupt_image",
                f"image {upload.name!r} is corrupt or truncated ({_reason(e)})",
            ) from None
    return DecodedImage(
        upload.name, np.asarray(rgb, dtype=np.uint8), upload.data, size if factor > 1 else rgb.size
    )


def _reason(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:120] if text else type(e).__name__
