"""Ingest one source into a staging area: discover, download or copy, probe.

Each source's task writes only its own staging files and complete files in the
content-addressed store, so sources run in parallel; merging into the catalog
is a separate single step (:mod:`ops.catalog.merge`). What is handed on is a
small reference (paths and counts), never the data itself.

A website's re-crawl asks only about what may have changed: pages and items that the
source dates no later than the copies held, or that are still fresh, are taken as they
are (:mod:`ops.ingest.recrawl`), save in the periodic full revalidation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ops.atomic import atomic_open
from ops.catalog.schema import PROBE_COLUMNS, QUARANTINE_SCHEMA
from ops.catalog.store import read_catalog, write_frame
from ops.ingest.crawl import Refusal, SiteCrawler, canonical_url, picture_link
from ops.ingest.discover import MediaLink, kind_from_mime
from ops.ingest.faceset import FaceSetBuilder, about, previous_rows, read_face_set
from ops.ingest.fetch import FetchError, HttpFetcher, PageCache
from ops.ingest.files import FileEntry, list_files, open_filesystem
from ops.ingest.netguard import NetworkPolicy
from ops.ingest.probe import probe_file
from ops.ingest.rawstore import RawStore, SizeCapExceeded
from ops.ingest.recrawl import FetchedCopy, ParsedPages, RecrawlState
from ops.ingest.robots import RobotsGate
from ops.ingest.sources import (
    FsspecSource,
    HttpSource,
    LocalSource,
    PersonPictures,
    SourceConfigError,
    get_source,
    load_sources,
)
from ops.ingest.staged import IngestStats, StagedSource
from ops.settings import Settings, get_settings

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]
"""progress(phase, done, total): how far a long step has come."""


def make_item_id(source: str, key: str) -> str:
    """Stable across crawls: derived from the source and its own key (or canonical URL)."""
    return hashlib.sha256(f"{source}\n{key}".encode()).hexdigest()[:16]


def list_source_names(settings: Settings | None = None, chosen: Sequence[str] = ()) -> list[str]:
    """The sources to crawl: ``chosen`` (all of them known), or every source when empty."""
    settings = settings or get_settings()
    known = sorted(load_sources(settings.sources_file))
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise SourceConfigError(
            f"unknown source {', '.join(map(repr, unknown))}: {settings.sources_file} "
            f"names {', '.join(known)}; choose among these"
        )
    return list(chosen) or known


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def run_folder_name(run_id: str) -> str:
    """An Airflow run id made safe as a folder name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id)


def _media_columns(
    link: MediaLink, item_id: str, source: str, licence: str | None
) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "source": source,
        "url": link.url,
        "title": link.title,
        "description": link.description,
        "year": link.year,
        "tags": list(link.tags),
        "people": list(link.people),
        "licence": link.licence or licence,
        "expects_audio": link.expects_audio,
    }


def _held(before: Mapping[str, Any]) -> str | None:
    """The sha256 of the content the catalog holds for an item (None: none, or vanished)."""
    sha256 = before.get("sha256")
    return sha256 if isinstance(sha256, str) and before.get("status") != "vanished" else None


def _location(source: HttpSource | LocalSource | FsspecSource) -> str:
    """Where a source is read from, for refusals about the source as a whole."""
    if isinstance(source, HttpSource):
        return next(iter([*source.start_urls, *source.sitemaps, *source.feeds]), source.name)
    return str(source.path) if isinstance(source, LocalSource) else source.url


def _person_folder(
    source: LocalSource | FsspecSource, person: PersonPictures
) -> LocalSource | FsspecSource:
    """The folder source of one declared person's pictures."""
    assert person.folder is not None
    update: dict[str, Any] = {"people": []}
    if isinstance(source, LocalSource):
        update["path"] = source.path.expanduser() / person.folder
    else:
        update["url"] = f"{source.url.rstrip('/')}/{person.folder.as_posix()}"
    return source.model_copy(update=update)


def _probe_columns(
    path: Path, settings: Settings, kind_hint: str | None, mime: str | None, file_name: str | None
) -> dict[str, Any]:
    probed = probe_file(path, max_pixels=settings.image_max_pixels).columns()
    guessed = mimetypes.guess_type(file_name or "")[0]
    probed["kind"] = probed["kind"] or kind_hint or kind_from_mime(mime or guessed)
    probed["mime"] = probed["mime"] or mime or guessed
    return probed


class SourceIngester:
    """Runs one source's ingest into the staging area."""

    def __init__(self, settings: Settings, run_id: str, progress: Progress | None = None) -> None:
        self.settings = settings
        self.run_id = run_id
        self.progress = progress or (lambda phase, done, total: None)
        self.store = RawStore(settings.raw_dir, settings.tmp_dir / "downloads")
        catalog = read_catalog(settings.catalog_path)
        self.previous: dict[str, dict[str, Any]] = {
            row["item_id"]: row for row in catalog.to_dict(orient="records")
        }

    def run(self, source: HttpSource | LocalSource | FsspecSource) -> StagedSource:
        """Stage one source; should it fail as a whole, stage that failure instead.

        A failed source is staged incomplete (its catalog items stay as they
        were) with a ``source`` refusal giving the reason, so the other
        sources' work still reaches the catalog.
        """
        started = time.perf_counter()
        stats = IngestStats(partials_swept=self.store.sweep_partials())
        try:
            if isinstance(source, HttpSource):
                rows, refusals, complete = self._ingest_http(source, stats)
            else:
                rows, refusals, complete = self._ingest_files(source, stats)
        except Exception as exc:  # one source must not sink the others
            log.exception("source %s failed; staged as an incomplete crawl", source.name)
            failure = f"{type(exc).__name__}: {exc}"
            reason = f"source failed ({failure}); its items are kept as they were"
            rows, refusals, complete = [], [Refusal(_location(source), "source", reason)], False
        if source.people:
            refusals += self.collect_face_set(source, stats)
        stats.refused = len(refusals)
        stats.new = sum(1 for r in rows if r["fetch_status"] == "new")
        stats.not_modified = sum(1 for r in rows if r["fetch_status"] == "not_modified")
        stats.unchanged = sum(1 for r in rows if r["fetch_status"] == "unchanged")
        stats.seconds = round(time.perf_counter() - started, 3)
        return self._stage(source.name, rows, refusals, complete, stats)

    # -- http -------------------------------------------------------------------------------
    def _fetcher(
        self, source: HttpSource, stats: IngestStats, *, revalidate_all: bool
    ) -> HttpFetcher:
        def count_retry(url: str, reason: str) -> None:
            stats.retries += 1
            log.info("retrying %s after %s", url, reason)

        return HttpFetcher(
            NetworkPolicy(source.hosts(), frozenset(h.lower() for h in source.allow_private)),
            user_agent=self.settings.http_user_agent,
            timeout_s=source.timeout_s or self.settings.http_timeout_s,
            retries=self.settings.http_retries if source.retries is None else source.retries,
            backoff_s=self.settings.http_backoff_s,
            rate_per_s=source.rate_per_s,
            concurrency=source.concurrency,
            download_deadline_s=self.settings.http_download_deadline_s,
            page_deadline_s=self.settings.http_page_deadline_s,
            page_cache=PageCache(self.settings.http_cache_dir / source.name),
            on_retry=count_retry,
            revalidate_all=revalidate_all,
        )

    def _ingest_http(
        self,
        source: HttpSource,
        stats: IngestStats,
        *,
        person: PersonPictures | None = None,
        previous: Mapping[str, dict[str, Any]] | None = None,
    ) -> tuple[list[dict[str, Any]], list[Refusal], bool]:
        """Crawl ``source``; for a ``person`` of it, just their pages' and declared
        pictures. ``previous`` rows (default: the catalog's) give conditional GETs.

        The source's own crawl skips items still current (:class:`RecrawlState`) unless a
        full revalidation is due; a person's few pictures are always asked about.
        """
        known = self.previous if previous is None else previous
        max_bytes = source.max_bytes or self.settings.max_download_bytes
        started = datetime.now(UTC)
        folder = self.settings.http_cache_dir / source.name
        state = None if person else RecrawlState(folder)
        full = state is None or state.full_revalidation_due(
            started, self.settings.ingest_full_revalidation_s
        )
        stats.full_revalidation = full
        with self._fetcher(source, stats, revalidate_all=full) as fetcher:
            robots = RobotsGate(
                fetcher, self.settings.http_user_agent, enabled=source.respect_robots
            )
            crawler = SiteCrawler(
                source,
                fetcher,
                robots,
                max_pages=self.settings.max_pages_per_source,
                max_links_per_page=self.settings.max_links_per_page,
                pictures_only=person is not None,
                parsed_pages=ParsedPages(None if person else folder),
            )
            declared = person.images if person else []
            found = crawler.discover(picture_link(url, None) for url in declared)
            stats.discovered = len(found.media)
            stats.pages_fetched = found.pages_fetched
            stats.pages_not_modified = found.pages_not_modified
            stats.pages_unchanged = found.pages_unchanged
            stats.external_links_skipped = found.external_links_skipped
            refusals = list(found.refusals)
            now = time.time()

            def item_of(link: MediaLink) -> tuple[str, dict[str, Any], dict[str, Any]]:
                """The item's id, its catalog row (empty when new) and its staged columns."""
                item_id = make_item_id(source.name, link.item_key or canonical_url(link.url))
                columns = _media_columns(link, item_id, source.name, source.licence)
                return item_id, known.get(item_id, {}), columns

            def unchanged_row(link: MediaLink) -> dict[str, Any] | None:
                """The staged row of an item not to ask about, else None."""
                item_id, before, row = item_of(link)
                copy = state.copies.get(item_id) if state and not full else None
                if copy is None or not copy.still_current(link, _held(before), now):
                    return None
                validators = {name: before.get(name) for name in ("etag", "last_modified")}
                return row | validators | {"fetch_status": "unchanged"}

            def fetch_one(link: MediaLink) -> dict[str, Any] | Refusal:
                item_id, before, row = item_of(link)
                try:
                    got = fetcher.download(
                        link.url,
                        self.store,
                        max_bytes=max_bytes,
                        etag=before.get("etag"),
                        last_modified=before.get("last_modified"),
                    )
                except FetchError as exc:
                    return Refusal(link.url, "fetch", exc.reason)
                if state:
                    sha256 = got.sha256 or _held(before)
                    state.copies[item_id] = FetchedCopy(
                        link.url, link.modified, got.fresh_until, sha256
                    )
                row |= {"etag": got.etag, "last_modified": got.last_modified}
                if got.not_modified:
                    return row | {"fetch_status": "not_modified"}
                mime = (got.content_type or "").split(";")[0].strip() or None
                row |= {
                    "sha256": got.sha256,
                    "bytes": got.bytes,
                    "file_name": got.file_name,
                    "fetch_status": "new",
                }
                return row | self._probe_unless_known(
                    got.sha256, before, link.kind_hint, mime, got.file_name
                )

            rows: list[dict[str, Any]] = []
            to_fetch: list[MediaLink] = []
            for link in found.media:
                row = unchanged_row(link)
                if row is None:
                    to_fetch.append(link)
                else:
                    rows.append(row)
            rows += self._map(fetch_one, to_fetch, "download", source.concurrency, refusals)
            stats.downloaded_bytes = fetcher.bytes_downloaded
            stats.requests = fetcher.requests
        if state:
            seen = {row["item_id"] for row in rows} if found.complete else None
            state.save(seen, started if full and found.complete else None)
            crawler.parsed_pages.save()
        return rows, refusals, found.complete

    # -- face sets --------------------------------------------------------------------------
    def collect_face_set(
        self, source: HttpSource | LocalSource | FsspecSource, stats: IngestStats
    ) -> list[Refusal]:
        """Collect the pictures of the people ``source`` declares (ops.ingest.faceset) with
        its own crawler; returns the refusals, each naming the person."""
        face_set = read_face_set(self.settings, source.name)
        builder = FaceSetBuilder(source.name)
        for person in source.people:
            previous = previous_rows(face_set, person.name)
            scratch = IngestStats()
            try:
                if isinstance(source, HttpSource):
                    crawl = source.model_copy(
                        update={"start_urls": person.pages, "feeds": person.feeds, "sitemaps": []}
                    )
                    rows, refused, complete = self._ingest_http(
                        crawl, scratch, person=person, previous=previous
                    )
                else:
                    rows, refused, complete = self._ingest_files(
                        _person_folder(source, person), scratch, previous
                    )
            except Exception as exc:  # one person's failure must not sink the others
                log.exception("face set of %s in %s failed", person.name, source.name)
                reason = f"collection failed ({type(exc).__name__}: {exc}); previous kept"
                rows, refused, complete = [], [Refusal(source.name, "source", reason)], False
            builder.add(person.name, rows, previous, complete)
            builder.refusals += about(person.name, refused)
            stats.requests += scratch.requests
            stats.retries += scratch.retries
            stats.downloaded_bytes += scratch.downloaded_bytes
        stats.face_set_pictures = builder.write(self.settings)
        return builder.refusals

    # -- folders and fsspec -----------------------------------------------------------------
    def _ingest_files(
        self,
        source: LocalSource | FsspecSource,
        stats: IngestStats,
        previous: Mapping[str, dict[str, Any]] | None = None,
    ) -> tuple[list[dict[str, Any]], list[Refusal], bool]:
        known = self.previous if previous is None else previous
        fs, _ = open_filesystem(source)
        entries: list[FileEntry] = []
        refusals: list[Refusal] = []
        for entry in list_files(source):
            (refusals if isinstance(entry, Refusal) else entries).append(entry)  # type: ignore[arg-type]
        stats.discovered = len(entries)
        max_bytes = self.settings.max_download_bytes

        def copy_one(entry: FileEntry) -> dict[str, Any] | Refusal:
            link = entry.link
            item_id = make_item_id(source.name, link.item_key or link.url)
            before = known.get(item_id, {})
            row = _media_columns(link, item_id, source.name, source.licence) | {
                "etag": entry.validator,
                "last_modified": None,
            }
            if before.get("etag") == entry.validator and before.get("sha256"):
                return row | {"fetch_status": "not_modified"}
            if entry.size > max_bytes:
                return Refusal(
                    link.url, "fetch", f"over size cap ({entry.size} > {max_bytes} bytes)"
                )
            try:
                with fs.open(entry.path, "rb") as handle:
                    sha256, nbytes = self.store.put_stream(handle, max_bytes)
            except (OSError, SizeCapExceeded) as exc:
                return Refusal(link.url, "fetch", str(exc))
            stats.downloaded_bytes += nbytes
            name = Path(entry.path).name
            row |= {"sha256": sha256, "bytes": nbytes, "file_name": name, "fetch_status": "new"}
            return row | self._probe_unless_known(sha256, before, None, None, name)

        rows = self._map(copy_one, entries, "copy", 2, refusals)
        reachable = not any(r.check == "source" for r in refusals)
        return rows, refusals, reachable

    # -- shared -----------------------------------------------------------------------------
    def _probe_unless_known(
        self,
        sha256: str | None,
        before: dict[str, Any],
        kind_hint: str | None,
        mime: str | None,
        file_name: str | None,
    ) -> dict[str, Any]:
        """Content seen before needs no new probe: reuse the catalog's media columns."""
        if sha256 and before.get("sha256") == sha256:
            return {name: before.get(name) for name in PROBE_COLUMNS}
        assert sha256 is not None
        return _probe_columns(
            self.store.path_for(sha256), self.settings, kind_hint, mime, file_name
        )

    def _map(
        self,
        work: Callable[[Any], dict[str, Any] | Refusal],
        inputs: Iterable[Any],
        phase: str,
        workers: int,
        refusals: list[Refusal],
    ) -> list[dict[str, Any]]:
        inputs = list(inputs)
        rows: list[dict[str, Any]] = []
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for done, result in enumerate(pool.map(work, inputs), start=1):
                if isinstance(result, Refusal):
                    refusals.append(result)
                else:
                    rows.append(result)
                self.progress(phase, done, len(inputs))
        return rows

    def _stage(
        self,
        name: str,
        rows: list[dict[str, Any]],
        refusals: list[Refusal],
        complete: bool,
        stats: IngestStats,
    ) -> StagedSource:
        folder = self.settings.staging_dir / self.run_id
        folder.mkdir(parents=True, exist_ok=True)
        items_path = folder / f"{name}.items.json"
        refusals_path = folder / f"{name}.refusals.parquet"
        with atomic_open(items_path) as handle:
            handle.write(json.dumps(rows, default=str))
        now = datetime.now(UTC)
        refused = pd.DataFrame(
            [
                {
                    "source": name,
                    "url": r.url,
                    "item_id": None,
                    "stage": "crawl",
                    "check": r.check,
                    "reason": r.reason,
                    "at": now,
                }
                for r in refusals
            ],
            columns=QUARANTINE_SCHEMA.names,
        )
        write_frame(refused, refusals_path, QUARANTINE_SCHEMA)
        seen = sorted({r["item_id"] for r in rows})
        log.info("source %s: %s", name, stats)
        return StagedSource(
            source=name,
            run_id=self.run_id,
            items_path=str(items_path),
            refusals_path=str(refusals_path),
            complete=complete,
            seen_item_ids=seen,
            stats=stats,
        )


def ingest_source(
    name: str,
    *,
    run_id: str | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> StagedSource:
    """Crawl/copy one source into staging (the ``ingest`` task, mapped over sources)."""
    settings = settings or get_settings()
    source = get_source(settings.sources_file, name)
    return SourceIngester(settings, run_id or new_run_id(), progress).run(source)
