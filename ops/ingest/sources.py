"""The sources registry: a YAML file listing where the catalog comes from.

Strings may reference environment variables as ``${NAME}`` or ``${NAME:-default}``
so one registry file serves a laptop, CI and a cluster.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SOURCE_NAME = r"^[a-z0-9][a-z0-9_-]*$"


class SourceConfigError(ValueError):
    """The sources file is missing, malformed or names an unknown source."""


class PersonPictures(BaseModel):
    """Where a source shows one person: pages (their pictures are taken), feeds and
    picture URLs on a website, or a folder of pictures on a folder source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    pages: list[str] = []
    feeds: list[str] = []
    images: list[str] = []
    folder: Path | None = Field(default=None, description="relative to the source's path")

    def urls(self) -> list[str]:
        return [*self.pages, *self.feeds, *self.images]


class _Source(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=SOURCE_NAME)
    licence: str | None = Field(default=None, description="default licence for its items")
    language: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2,3}$",
        description="what its items speak (en, ko, ...): the speech recogniser their "
        "transcripts come from; unset: the speech settings' default language",
    )
    people: list[PersonPictures] = Field(
        default=[], description="people whose pictures form this source's face set"
    )

    @model_validator(mode="after")
    def _people_fit_the_kind(self) -> Self:
        names = [person.name for person in self.people]
        if len(names) != len(set(names)):
            raise ValueError("a person is declared twice")
        web = isinstance(self, HttpSource)
        for person in self.people:
            if web and person.folder is not None:
                raise ValueError(f"{person.name}: a website's people have pages, feeds or images")
            if not web and (person.urls() or person.folder is None):
                raise ValueError(f"{person.name}: a folder source's people each have a folder")
            if web and not person.urls():
                raise ValueError(f"{person.name}: declare pages, feeds or images")
        return self


class HttpSource(_Source):
    """A website: start pages, sitemaps and JSON feeds, crawled politely."""

    kind: Literal["http"] = "http"
    start_urls: list[str] = []
    sitemaps: list[str] = []
    feeds: list[str] = []
    allowed_hosts: list[str] = Field(
        default=[], description="hosts links may lead to; default: the hosts of the entry URLs"
    )
    allow_private: list[str] = Field(
        default=[], description="host or host:port allowed although private/loopback"
    )
    rate_per_s: float = Field(default=5.0, gt=0, description="requests per second per host")
    concurrency: int = Field(default=4, ge=1, le=64, description="parallel requests per host")
    timeout_s: float | None = Field(default=None, gt=0)
    retries: int | None = Field(default=None, ge=0)
    max_bytes: int | None = Field(default=None, gt=0)
    respect_robots: bool = True

    def entry_hosts(self) -> set[str]:
        urls = [*self.start_urls, *self.sitemaps, *self.feeds]
        urls += [url for person in self.people for url in person.urls()]
        return {urlsplit(u).hostname or "" for u in urls} - {""}

    def hosts(self) -> frozenset[str]:
        return frozenset(h.lower() for h in (self.allowed_hosts or self.entry_hosts()))


class LocalSource(_Source):
    """A folder on this machine; a ``<file>.json`` sidecar may carry metadata."""

    kind: Literal["local"] = "local"
    path: Path
    patterns: list[str] = ["**/*"]


class FsspecSource(_Source):
    """Any fsspec URL (s3://, gs://, memory://, ...)."""

    kind: Literal["fsspec"] = "fsspec"
    url: str
    patterns: list[str] = ["**/*"]
    storage_options: dict[str, Any] = {}


Source = Annotated[HttpSource | LocalSource | FsspecSource, Field(discriminator="kind")]
_SOURCE_LIST: TypeAdapter[list[Source]] = TypeAdapter(list[Source])


def expand_env(value: Any) -> Any:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string of a YAML tree."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise SourceConfigError(f"environment variable {name} is not set")

        return _ENV_REF.sub(substitute, value)
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    return value


def load_sources(path: Path) -> dict[str, HttpSource | LocalSource | FsspecSource]:
    """Read and validate the registry; names must be unique."""
    if not path.is_file():
        raise SourceConfigError(f"sources file not found: {path}")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SourceConfigError(f"{path} is not valid YAML: {exc}") from exc
    raw = expand_env(document.get("sources", []))
    try:
        sources = _SOURCE_LIST.validate_python(raw)
    except ValidationError as exc:
        raise SourceConfigError(f"{path}: invalid source definition:\n{exc}") from exc
    by_name: dict[str, HttpSource | LocalSource | FsspecSource] = {}
    for source in sources:
        if source.name in by_name:
            raise SourceConfigError(f"{path}: source name {source.name!r} is used twice")
        by_name[source.name] = source
    return by_name


def get_source(path: Path, name: str) -> HttpSource | LocalSource | FsspecSource:
    sources = load_sources(path)
    if name not in sources:
        raise SourceConfigError(f"unknown source {name!r}; known: {', '.join(sorted(sources))}")
    return sources[name]
