"""OCR settings, validated once and frozen; free of heavy imports (a DAG may read them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

OcrEngine = Literal["rapidocr", "tesseract"]
FrameSampling = Literal["interval", "shots"]


class OcrSettings(BaseModel):
    """Which reader, which frames of a video it reads, and when two readings are one caption."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: OcrEngine = Field(
        default="rapidocr",
        description="rapidocr (PP-OCRv4 detection + recognition, Chinese and Latin script, "
        "models inside its wheel) or tesseract (the system's tesseract, for other scripts "
        "such as Korean)",
    )
    tesseract_languages: str = Field(
        default="kor+eng", description="tesseract's -l argument: installed traineddata names"
    )
    tesseract_psm: int = Field(
        default=11,
        ge=0,
        le=13,
        description="tesseract's page segmentation mode: 11, sparse text, finds captions over "
        "pictures that the default page layout analysis (3) misses",
    )
    min_confidence: float = Field(
        default=0.5, ge=0, le=1, description="readings less sure than this are dropped"
    )
    split_words: bool = Field(
        default=True,
        description="rapidocr: put back the spaces between English words it reads as one run",
    )
    threads: int = Field(default=1, ge=1, description="onnxruntime threads per reader")
    sampling: FrameSampling = Field(
        default="interval",
        description="interval: a frame every interval_s; shots: each shot's keyframe "
        "(one read per shot, so a caption that changes inside a shot may be missed)",
    )
    interval_s: float = Field(default=1.0, gt=0, description="seconds between sampled frames")
    max_side: int = Field(
        default=1280, ge=160, description="frames are scaled so their longer side is at most this"
    )
    merge_iou: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="a box on the next sampled frame overlapping this much (intersection over "
        "union) and reading alike continues the caption",
    )
    merge_similarity: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="...reading alike: at least this text similarity (0-1, edit-based), so "
        "one misread character does not split a caption",
    )
    max_gap: int = Field(
        default=1,
        ge=0,
        description="sampled frames a caption may be missed on and still continue",
    )
