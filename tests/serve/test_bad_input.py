"""Bad input: each case a clear 4xx JSON error naming the problem, never a 500,
and the server keeps answering."""

from __future__ import annotations

import base64
import io
import json
import socket
import struct
import zlib

import httpx
import numpy as np
import pytest
from PIL import Image

from serve_support import encode, files, scene


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming ``width`` x ``height``, then a tiny
    compressed stream of zeros: the shape of a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    return encode(scene(), "JPEG")


def cut_jpeg() -> bytes:
    """A JPEG cut in the middle of its data, its end marker re-appended: decoders fill
    the rest with grey and only print a warning."""
    data = jpeg()
    return data[: len(data) // 2] + b"\xff\xd9"


def gif() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(scene()).save(buf, "GIF")
    return buf.getvalue()


CASES = {
    # name: (request kwargs, expected status, expected error code)
    "no body": (dict(headers={"content-type": "application/json"}), 400, "empty_body"),
    "wrong content type": (
        dict(content=b"hello", headers={"content-type": "text/plain"}),
        415,
        "unsupported_media_type",
    ),
    "no content type": (dict(content=b"hello"), 415, "unsupported_media_type"),
    "malformed json": (
        dict(content=b'{"images": [', headers={"content-type": "application/json"}),
        400,
        "malformed_json",
    ),
    "json of the wrong shape": (dict(json={"pictures": []}), 422, "invalid_request"),
    "json with no images": (dict(json={"images": []}), 422, "invalid_request"),
    "bad base64": (dict(json={"images": [{"data": "not base64!!"}]}), 400, "bad_base64"),
    "too many images": (dict(files=files(*[b"x"] * 5)), 413, "too_many_images"),
    "too many images (json)": (
        dict(json={"images": [{"data": "AA=="}] * 5}),
        413,
        "too_many_images",
    ),
    "body too large": (dict(files=files(b"\0" * 300_000)), 413, "body_too_large"),
    "multipart without files": (
        dict(content=b"--abc--\r\n", headers={"content-type": "multipart/form-data; boundary=abc"}),
        400,
        "no_images",
    ),
    "a file in an undocumented field": (
        dict(files=files(encode(scene()), field="image")),
        422,
        "unknown_field",
    ),
    "a text field beside the images": (
        dict(data={"conf": "0.9"}, files=files(encode(scene()))),
        422,
        "unknown_field",
    ),
    "text in the images field": (
        dict(
            content=b'--abc\r\nContent-Disposition: form-data; name="images"\r\n\r\n'
            b"not a file\r\n--abc--\r\n",
            headers={"content-type": "multipart/form-data; boundary=abc"},
        ),
        400,
        "not_a_file",
    ),
    "multipart without boundary": (
        dict(content=b"--x\r\n", headers={"content-type": "multipart/form-data"}),
        400,
        "malformed_multipart",
    ),
    "broken multipart": (
        dict(
            content=b"garbage without parts",
            headers={"content-type": "multipart/form-data; boundary=abc"},
        ),
        400,
        "malformed_multipart",
    ),
    "empty file": (dict(files=files(b"")), 400, "empty_image"),
    "not an image": (dict(files=files(b"this is text, not a picture")), 400, "not_an_image"),
    "garbage after a PNG signature": (
        dict(files=files(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)),
        400,
        "not_an_image",
    ),
    "truncated JPEG": (dict(files=files(jpeg()[:-600])), 400, "corrupt_image"),
    "truncated PNG": (dict(files=files(encode(scene())[:-300])), 400, "corrupt_image"),
    "cut JPEG with its end marker re-appended": (
        dict(files=files(cut_jpeg())),
        400,
        "corrupt_image",
    ),
    "decompression bomb": (
        dict(files=files(png_header_only(30_000, 30_000))),
        413,
        "too_many_pixels",
    ),
    "over the pixel limit": (
        dict(files=files(png_header_only(1100, 1000))),
        413,
        "too_many_pixels",
    ),
    "GIF": (dict(files=files(gif())), 415, "unsupported_image_format"),
    "conf out of range": (
        dict(files=files(encode(scene())), params={"conf": 3}),
        422,
        "invalid_request",
    ),
    "conf not a number (nan)": (
        dict(files=files(encode(scene())), params={"conf": "nan"}),
        422,
        "invalid_request",
    ),
    "iou infinite": (
        dict(files=files(encode(scene())), params={"iou": "inf"}),
        422,
        "invalid_request",
    ),
    "misspelt query parameter": (
        dict(files=files(encode(scene())), params={"confidence": "0.99"}),
        422,
        "unknown_parameter",
    ),
    "max_det not a number": (
        dict(files=files(encode(scene())), params={"max_det": "many"}),
        422,
        "invalid_request",
    ),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory, models_dir):
    from yolops.serve.config import ServeConfig
    from yolops.serve.server import background_server

    root = tmp_path_factory.mktemp("bad-input")
    config = ServeConfig(
        model=str(models_dir / "a.onnx"),
        port=0,
        auth=False,
        workspace=str(root),
        database_url=f"sqlite:///{root / 'yolops.db'}",
        reload_interval=0,
        max_upload_bytes=200_000,
        max_pixels=1_000_000,
        max_images=4,
    )
    with background_server(config) as running:
        yield running


@pytest.mark.parametrize("case", list(CASES))
def test_bad_request_is_a_clear_4xx(server, case):
    kwargs, status, code = CASES[case]
    r = httpx.post(f"{server.url}/v1/predict", timeout=30, **kwargs)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert len(error["message"]) > 10 and "Traceback" not in error["message"]
    # ... and the server is still up and serving.
    assert httpx.post(f"{server.url}/v1/predict", files=files(encode(scene()))).status_code == 200


def test_messages_name_what_is_wrong(server):
    def error(**kwargs) -> str:
        return httpx.post(f"{server.url}/v1/predict", timeout=30, **kwargs).json()["error"][
            "message"
        ]

    png = files(encode(scene()))
    assert "finite" in error(files=png, params={"conf": "nan"})  # not "less than or equal to 1"
    message = error(files=png, params={"confidence": "0.99", "conf": "0.5"})
    assert "'confidence'" in message and "conf, iou, max_det" in message
    assert "'image'" in error(files=files(encode(scene()), field="image"))
    assert "img0.png" in error(files=files(cut_jpeg()))


def test_unknown_query_parameters_are_refused_on_every_route(server):
    r = httpx.get(f"{server.url}/healthz", params={"verbose": "1"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_parameter"
    assert "'verbose'" in r.json()["error"]["message"]
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def raw_request(server, head: bytes) -> tuple[int, dict, dict]:
    """Send ``head`` as it is on a socket: (status, headers, JSON body) of the answer."""
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_part, _, body = data.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


def test_http_layer_refusals_are_json_envelopes(server):
    """What uvicorn/h11 refuse before the app sees a request answers in the same JSON
    envelope as every other 4xx."""
    status, headers, body = raw_request(
        server,
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n",
    )
    assert (status, headers["content-type"]) == (400, "application/json")
    assert body["error"]["code"] == "malformed_request"
    assert "Content-Length" in body["error"]["message"]
    status, headers, body = raw_request(
        server,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    )
    assert (status, headers["content-type"]) == (431, "application/json")
    assert body["error"]["code"] == "headers_too_large" and "16384" in body["error"]["message"]
    assert headers["connection"] == "close"  # not held open until the keep-alive timeout
    # A head still incomplete past the limit: refused by the HTTP layer itself (h11).
    status, headers, body = raw_request(
        server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000
    )
    assert (status, body["error"]["code"]) == (431, "headers_too_large")
    status, _, body = raw_request(server, b"NOT HTTP AT ALL\r\n\r\n")
    assert status == 400 and body["error"]["code"] == "malformed_request"
    assert httpx.get(f"{server.url}/healthz").status_code == 200  # still serving


def test_oversized_body_without_content_length_is_refused_while_streaming(server):
    def chunks():
        for _ in range(30):
            yield b"\0" * 10_000  # 300 kB in all, no Content-Length (chunked)

    r = httpx.post(
        f"{server.url}/v1/predict",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=abc"},
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_odd_but_valid_images_are_served(server):
    grey = np.full((50, 70), 128, np.uint8)
    rgba = np.dstack([scene(64, 48), np.full((48, 64), 200, np.uint8)])
    blobs = [
        encode(grey),
        encode(rgba),
        encode(scene(33, 17), "BMP"),
        encode(scene(64, 48), "WEBP"),
    ]
    r = httpx.post(f"{server.url}/v1/predict", files=files(*blobs))
    assert r.status_code == 200, r.text
    assert [(x["width"], x["height"]) for x in r.json()["results"]] == [
        (70, 50),
        (64, 48),
        (33, 17),
        (64, 48),
    ]
    payload = {"images": [{"data": base64.b64encode(blobs[0]).decode()}]}
    assert httpx.post(f"{server.url}/v1/predict", json=payload).status_code == 200


def test_unknown_routes_and_methods_are_json_errors(server):
    r = httpx.get(f"{server.url}/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = httpx.get(f"{server.url}/v1/predict")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
