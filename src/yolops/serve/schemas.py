"""Request and response bodies of the HTTP API (they are the OpenAPI spec)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class JsonImage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: str = Field(
        description="The encoded image file (JPEG, PNG, BMP, TIFF or WebP) in base64; "
        "a data: URL prefix is accepted."
    )
    name: str | None = Field(None, max_length=200, description="Echoed back in the result.")


class PredictJson(BaseModel):
    """``application/json`` body of POST /v1/predict."""

    model_config = ConfigDict(extra="forbid")
    images: list[JsonImage] = Field(min_length=1)


class Detection(BaseModel):
    box: list[float] = Field(
        description="x1, y1, x2, y2 in pixels of the original image", min_length=4, max_length=4
    )
    score: float
    class_id: int
    class_name: str


class ImageResult(BaseModel):
    name: str
    width: int
    height: int
    detections: list[Detection]


class ModelVersion(BaseModel):
    name: str
    version: str


class PredictResponse(BaseModel):
    model: ModelVersion
    results: list[ImageResult]
    batch_size: int = Field(description="Images in the inference run that served this request")
    latency_ms: float = Field(description="Time spent in the server, reading the body to answering")


class ModelInfo(BaseModel):
    name: str
    version: str
    path: str
    class_names: list[str]
    imgsz: int
    kind: str
    loaded_at: str


class ModelsResponse(BaseModel):
    models: list[ModelInfo]
    source: str
    hot_reload: bool
    last_reload_error: str | None = None


class ReloadResponse(BaseModel):
    changed: bool
    model: ModelVersion
