"""The query API: search, item details, similar items and index admin over HTTP.

Reads are open; calls that change which index version is live, and face curation
decisions (ops/api/faces.py, the page at /curate), need the bearer token
(ops/api/auth.py). The published index is opened on first use and reopened when its
pointer moves, so a publish or a rollback (from here, the CLI or the refresh DAG) is
served from the next request on, without a restart.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field

from ops.api.auth import TokenGuard
from ops.api.faces import faces_router
from ops.index.build import index_store, index_versions, publish_index, rollback_index
from ops.index.query import SearchPage, SearchQuery, SimilarItem
from ops.index.reader import DamagedIndex, NoPublishedIndex, PublishedIndex
from ops.settings import Settings, get_settings
from ops.versioned import BrokenPointer, VersionError

NOT_PUBLISHED = (
    "no index has been published yet: run `cinescope refresh` or trigger the catalog_refresh DAG"
)
NO_FACE_MODEL = (
    "this index holds no person appearances: no face-gallery champion has run yet (name "
    "people on /curate, then `cinescope faces gallery` and a refresh); credited people are "
    "searchable with GET /search?person=<name>"
)
VERSION_PATTERN = r"^v\d{6}$"
MAX_SIMILAR = 50
PERSON_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
"""Some visible character, and no control characters."""

ItemId = Annotated[str, Path(min_length=1, max_length=200, description="catalog item id")]
VersionName = Annotated[str, Path(pattern=VERSION_PATTERN, description="e.g. v000003")]


class Health(BaseModel):
    status: str = Field(description="'ok', 'no index published', or 'broken' (503)")
    index_version: str | None
    problem: str | None = Field(default=None, description="what is broken, and the repair")


class TimedText(BaseModel):
    """Words said or shown, and when (seconds from the start)."""

    start_s: float
    end_s: float
    text: str


class ItemDetail(BaseModel):
    """An item document, its scene, shot, speech and caption spans by start time, and
    prediction lineage."""

    index_version: str
    item: dict[str, Any]
    segments: list[dict[str, Any]] = Field(description="scenes: spans with a label and score")
    shots: list[dict[str, Any]] = Field(description="shots: spans with their keyframe_s")
    transcript: list[TimedText] = Field(description="what is said, phrase by phrase")
    screen_text: list[TimedText] = Field(description="captions shown in the video, by time")
    lineage: list[dict[str, Any]]


class SimilarItems(BaseModel):
    index_version: str
    item_id: str
    similar: list[SimilarItem]


class Appearances(BaseModel):
    index_version: str
    person: str
    appearances: list[dict[str, Any]]
    note: str | None = None


class IndexVersion(BaseModel):
    version: str
    live: bool
    manifest: dict[str, Any]


class LiveChange(BaseModel):
    """Which version is live after an admin call, and which was before."""

    live: str
    previous: str | None


@dataclass
class _Opened:
    reader: PublishedIndex
    users: int = 0
    retired: bool = False


class LiveIndex:
    """The published index, shared by requests and swapped when the pointer moves.

    A reader replaced by a newer version is closed once the last request using it
    finishes, so a publish never breaks a search in flight.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._store = index_store(settings)
        self._lock = threading.Lock()
        self._opened: _Opened | None = None

    def live_version(self) -> str | None:
        live = self._store.current()
        return live.name if live else None

    @contextmanager
    def reader(self) -> Iterator[PublishedIndex]:
        """The reader of the live version, for the duration of one request."""
        name = self.live_version()
        if name is None:
            raise NoPublishedIndex(self._store.missing_pointer() or NOT_PUBLISHED)
        with self._lock:
            opened = self._opened
            if opened is None or opened.reader.version != name:
                fresh = _Opened(PublishedIndex.open(self._settings, name))
                if opened is not None:
                    self._retire(opened)
                opened = self._opened = fresh
            opened.users += 1
        try:
            yield opened.reader
        finally:
            with self._lock:
                opened.users -= 1
                if opened.retired and opened.users == 0:
                    opened.reader.close()

    def _retire(self, opened: _Opened) -> None:
        opened.retired = True
        if opened.users == 0:
            opened.reader.close()

    def close(self) -> None:
        with self._lock:
            if self._opened is not None:
                self._retire(self._opened)
                self._opened = None


def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    """No index published, a broken pointer or a damaged index: 503 naming the file and
    the repair."""
    return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over ``settings``' published index (settings read from the environment
    when not given); nothing is opened until the first request."""
    settings = settings or get_settings()
    live = LiveIndex(settings)
    require_token = Depends(TokenGuard(settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        live.close()

    # /docs and /redoc load Swagger UI and ReDoc from the API itself (/static-offline-docs),
    # not from a CDN, so they work on an air-gapped host
    app = FastAPIOffline(
        lifespan=lifespan,
        title="cinescope query API",
        version=_package_version(),
        description=(
            "Search the media catalog (BM25 full text or vector 'more like this', with "
            "facets), read an item with its scenes and prediction lineage, get similar "
            "items, and manage which index version is live. Admin endpoints need "
            "`Authorization: Bearer <token>` (see `cinescope serve`)."
        ),
    )
    for unavailable in (NoPublishedIndex, BrokenPointer, DamagedIndex):
        app.add_exception_handler(unavailable, _unavailable)
    app.include_router(faces_router(settings, require_token))

    @app.get("/health", tags=["status"], response_model=Health, responses={503: {"model": Health}})
    def health() -> Health | JSONResponse:
        """Liveness, which index version answers queries, and (503) what is broken: the
        index pointer, or live index files that no longer match their manifest."""
        store = index_store(settings)
        try:
            version = store.current()
        except BrokenPointer as error:
            return _unhealthy(None, str(error))
        if version is None:
            missing = store.missing_pointer()
            if missing:
                return _unhealthy(None, missing)
            return Health(status="no index published", index_version=None)
        problems = version.problems(checksums=False)  # sizes only: cheap enough per probe
        if problems:
            return _unhealthy(
                version.name, f"index {version.name} is damaged: {'; '.join(problems)}"
            )
        return Health(status="ok", index_version=version.name)

    def _live_or_none() -> str | None:
        """The live version for admin calls, which must work to repair a broken pointer."""
        try:
            return live.live_version()
        except BrokenPointer:
            return None

    @app.get("/search", tags=["query"], responses={400: {}, 503: {}})
    def search(query: Annotated[SearchQuery, Query()]) -> SearchPage:
        """Full-text (``q``) or vector (``like=<doc_id>``) search with filters and facets.

        List filters are repeated parameters (``?kind=video&kind=audio``)."""
        with live.reader() as reader:
            try:
                return reader.search(query)
            except ValueError as error:  # e.g. like= names a document without a vector
                raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(error)) from error

    @app.get("/items/{item_id}", tags=["query"], responses={404: {}, 503: {}})
    def item(item_id: ItemId) -> ItemDetail:
        """An item, its scenes, its shots (with keyframe times), what is said in it and
        shown on screen (with times), and which models produced its predictions."""
        with live.reader() as reader:
            found = reader.item(item_id)
            version = reader.version
        if found is None:
            raise _unknown_item(item_id, version)
        return ItemDetail(index_version=version, **found)

    @app.get("/items/{item_id}/similar", tags=["query"], responses={404: {}, 503: {}})
    def similar(
        item_id: ItemId,
        k: Annotated[int, Query(ge=1, le=MAX_SIMILAR, description="at most this many")] = 10,
        any_kind: Annotated[
            bool, Query(description="also items of other kinds (default: the item's own kind)")
        ] = False,
    ) -> SimilarItems:
        """Items like this one (content + metadata, diversified), never itself, best first;
        fewer than ``k`` when too few are related."""
        with live.reader() as reader:
            if reader.item(item_id) is None:
                raise _unknown_item(item_id, reader.version)
            return SimilarItems(
                index_version=reader.version,
                item_id=item_id,
                similar=reader.similar(item_id, k, any_kind=any_kind),
            )

    @app.get("/items/{item_id}/music", tags=["query"], responses={404: {}, 503: {}})
    def music(
        item_id: ItemId,
        k: Annotated[int, Query(ge=1, le=MAX_SIMILAR, description="at most this many")] = 10,
    ) -> SimilarItems:
        """Music for a picture or a video: tracks whose mood matches its mood, nearest on
        the mood circle first, each with the reason (empty when it has no mood)."""
        with live.reader() as reader:
            if reader.item(item_id) is None:
                raise _unknown_item(item_id, reader.version)
            return SimilarItems(
                index_version=reader.version,
                item_id=item_id,
                similar=reader.music_for(item_id, k),
            )

    @app.get("/people/{name}/appearances", tags=["query"], responses={503: {}})
    def appearances(
        name: Annotated[str, Path(max_length=200, pattern=PERSON_PATTERN)],
    ) -> Appearances:
        """Where a named person is on screen: item, start, end, score and the face-gallery
        version that recognised them (from the live index)."""
        with live.reader() as reader:
            found = reader.appearances(name)
            return Appearances(
                index_version=reader.version,
                person=name,
                appearances=found or [],
                note=NO_FACE_MODEL if found is None else None,
            )

    @app.get("/index/versions", tags=["index"])
    def versions() -> list[IndexVersion]:
        """The kept index versions, oldest first, and which one is live."""
        return kept_index_versions(settings, _live_or_none())

    @app.post(
        "/admin/index/rollback",
        tags=["index"],
        dependencies=[require_token],
        responses={401: {}, 403: {}, 404: {}, 409: {}},
    )
    def rollback(
        to: Annotated[
            str | None,
            Query(pattern=VERSION_PATTERN, description="default: the version before the live one"),
        ] = None,
    ) -> LiveChange:
        """Make an older kept version live again (one pointer switch); refused for a
        version whose files fail verification."""
        previous = _live_or_none()
        if to is not None:
            _require_version(settings, to)
        try:
            version = rollback_index(settings, to=to)
        except VersionError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from error
        return LiveChange(live=version.name, previous=previous)

    @app.post(
        "/admin/index/publish/{version}",
        tags=["index"],
        dependencies=[require_token],
        responses={401: {}, 403: {}, 404: {}, 409: {}},
    )
    def publish(version: VersionName) -> LiveChange:
        """Make a built (sealed) index version live; refused (409) when its files fail
        verification. Also the repair for a broken pointer."""
        previous = _live_or_none()
        _require_version(settings, version)
        try:
            return LiveChange(live=publish_index(settings, version).name, previous=previous)
        except VersionError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from error

    return app


def _unhealthy(version: str | None, problem: str) -> JSONResponse:
    body = Health(status="broken", index_version=version, problem=problem)
    return JSONResponse(body.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


def kept_index_versions(settings: Settings, live: str | None) -> list[IndexVersion]:
    """The kept index versions, oldest first, marking the ``live`` one (API and CLI)."""
    return [
        IndexVersion(version=version.name, live=version.name == live, manifest=version.manifest())
        for version in index_versions(settings)
    ]


def _unknown_item(item_id: str, version: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND, detail=f"item {item_id!r} is not in index {version}"
    )


def _require_version(settings: Settings, name: str) -> None:
    kept = ", ".join(version.name for version in index_versions(settings)) or "none"
    if name not in kept.split(", "):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"index version {name} does not exist; kept versions: {kept}",
        )


def _package_version() -> str:
    try:
        return package_version("cinescope")
    except PackageNotFoundError:
        return "0.0.0+unknown"
