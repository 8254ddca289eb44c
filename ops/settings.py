"""One settings object for the whole platform (env prefix ``CINESCOPE_``).

Everything lives under one data root so a fresh clone runs with no server;
the distributed deployment overrides single locations (tracking URI, remote).
Reading settings is cheap and has no side effects, so DAG files may call it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ops.recommend.params import RecommendParams

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Platform settings; every field can be set as ``CINESCOPE_<NAME>``, and a nested one
    as ``CINESCOPE_<NAME>__<FIELD>`` (e.g. ``CINESCOPE_RECOMMEND__CF_WEIGHT``)."""

    model_config = SettingsConfigDict(
        env_prefix="CINESCOPE_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    home: Path = Field(default=Path("var"), description="data root for every embedded store")
    sources_file: Path = Field(
        default=REPO_ROOT / "sources.yaml", description="YAML registry of catalog sources"
    )
    generated_source: str = Field(
        default="inbox",
        description="the local source whose folder takes generated media (mood videos)",
    )
    ingest_schedule: str = "@hourly"

    http_timeout_s: float = Field(default=10.0, gt=0)
    http_retries: int = Field(default=3, ge=0, description="retries after the first attempt")
    http_backoff_s: float = Field(
        default=0.5, ge=0, description="first retry delay, doubled each time"
    )
    http_download_deadline_s: float = Field(
        default=600.0,
        gt=0,
        description="total time one media download may take (a trickling server is cut off)",
    )
    http_page_deadline_s: float = Field(
        default=60.0,
        gt=0,
        description="total time one page, sitemap or feed may take (retries included)",
    )
    http_user_agent: str = "cinescope/0.1 (+catalog crawler)"
    max_download_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    max_pages_per_source: int = Field(
        default=10_000, gt=0, description="pages fetched per crawl; past it the crawl is incomplete"
    )
    max_links_per_page: int = Field(
        default=5_000, gt=0, description="links followed from one page; the rest are reported"
    )
    ingest_full_revalidation_s: float = Field(
        default=86_400.0,
        ge=0,
        description="a website's crawl asks about every page and item (conditional GET) "
        "when its last such crawl is older than this; between them, what the sitemap "
        "lastmod, feed date_modified or HTTP freshness says is unchanged is not asked. "
        "0: every crawl",
    )
    image_max_pixels: int = Field(default=64_000_000, gt=0, description="decompression-bomb cap")

    min_video_width: int = Field(default=32, gt=0)
    min_video_height: int = Field(default=32, gt=0)
    min_image_width: int = Field(default=32, gt=0, description="smaller images: quarantined")
    min_image_height: int = Field(default=32, gt=0)
    max_duration_s: float = Field(default=6 * 3600, gt=0)

    sample_site_port: int = Field(default=8765, gt=0, lt=65536, description="port of the demo site")

    scene_params_file: Path = Field(
        default=REPO_ROOT / "params.yaml",
        description="training parameters (DVC params file): its scene, genre and mood sections",
    )
    scene_labels_dir: Path | None = Field(
        default=None, description="labelled scene dataset folder; default: home/datasets/scene"
    )
    genre_data_dir: Path | None = Field(
        default=None,
        description="labelled music, one sub-folder per genre; default: home/datasets/genre, "
        "where generated stand-ins are written when it is missing",
    )
    mood_data_dir: Path | None = Field(
        default=None,
        description="labelled pictures, one sub-folder per mood; default: home/datasets/mood, "
        "where generated stand-ins are written when it is missing",
    )

    gpu_pool_slots: int = Field(default=1, ge=1)
    refresh_parallel_shards: int = Field(
        default=4,
        ge=1,
        description="most inference shards of one refresh running at once (also capped by "
        "the gpu pool's slots): raise both with the number of inference workers",
    )

    refresh_schedule: str = "@daily"
    refresh_shard_seconds: float = Field(
        default=1800.0, gt=0, description="media seconds per inference shard (sized by duration)"
    )
    inference_threads: int = Field(
        default=1,
        ge=1,
        description="torch threads per CPU inference worker (measured faster than more here)",
    )
    index_keep_versions: int = Field(default=3, ge=1, description="published versions kept")
    publish_standin_labels: bool = Field(
        default=False,
        description="index labels of models trained on generated stand-in data (the demo's)",
    )
    search_backend: str = Field(
        default="tantivy",
        pattern="^(tantivy|sqlite|postgres)$",
        description="tantivy (embedded, exact facets), sqlite (embedded) or postgres",
    )
    search_facet_matches: int = Field(
        default=10_000,
        ge=1,
        description="sqlite and postgres only: facets of a broad query count its best-ranked "
        "N matches (marked inexact); tantivy counts every match",
    )
    search_postgres_dsn: str | None = Field(
        default=None, description="PostgreSQL for the postgres search backend"
    )
    vector_rerank: int | None = Field(
        default=None,
        ge=1,
        description="candidates a large vector index re-ranks exactly per search: more "
        "finds more true neighbours but is slower; None: 256",
    )
    vector_search_threads: int = Field(
        default=1, ge=1, description="FAISS threads per vector search in a reader process"
    )
    interactions_file: Path | None = Field(
        default=None, description="CSV of (user, item, event, time) for collaborative filtering"
    )
    recommend: RecommendParams = Field(
        default=RecommendParams(), description="how the recommendation table is built"
    )
    api_token: str | None = Field(
        default=None, description="bearer token for write/admin API calls; default: generated"
    )
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, gt=0, lt=65536)
    mlflow_tracking_uri: str | None = Field(default=None, description="default: SQLite under home")
    dvc_remote: str | None = Field(default=None, description="default: a folder under home")

    @field_validator("home", "sources_file")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    def params_section(self, section: str) -> dict[str, Any]:
        """One section of the params file (``scene_params_file``); empty when the file or
        the section is absent, so a model's defaults apply."""
        path = self.scene_params_file
        if not path.is_file():
            return {}
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        values = document.get(section, {}) if isinstance(document, dict) else {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: section {section!r} must be a mapping, got {values!r}")
        return values

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def raw_dir(self) -> Path:
        """Content-addressed media store: only complete, hashed files ever land here."""
        return self.home / "raw"

    @property
    def tmp_dir(self) -> Path:
        """Scratch space for partial downloads, outside the raw store."""
        return self.home / "tmp"

    @property
    def tables_dir(self) -> Path:
        return self.home / "tables"

    @property
    def staging_dir(self) -> Path:
        return self.home / "staging"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def http_cache_dir(self) -> Path:
        return self.home / "http-cache"

    @property
    def registry_dir(self) -> Path:
        """The DVC data registry: a git + DVC repository of dataset snapshots."""
        return self.home / "registry"

    @property
    def dvc_remote_url(self) -> str:
        return self.dvc_remote or str(self.home / "dvc-remote")

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def catalog_path(self) -> Path:
        return self.tables_dir / "catalog.parquet"

    @property
    def quarantine_path(self) -> Path:
        return self.tables_dir / "quarantine.parquet"

    @property
    def predictions_dir(self) -> Path:
        """Versioned predictions store: one folder per version, a pointer to the live one."""
        return self.home / "predictions"

    @property
    def index_dir(self) -> Path:
        """Versioned search + recommendation indexes, published by a pointer switch."""
        return self.home / "index"

    @property
    def refresh_dir(self) -> Path:
        """Per-run refresh work: plans and shard outputs."""
        return self.home / "refresh"


def get_settings() -> Settings:
    """Read settings from the environment now (not cached, so tests can change it)."""
    return Settings()
