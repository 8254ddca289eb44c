"""The catalog refresh, step by step: one function per task of the ``catalog_refresh`` DAG.

``cinescope refresh`` runs the same steps in order in one process. Steps take and return
the frozen models of :mod:`ops.refresh.results`: small references (run id, version
names, counts), never data. Nothing goes live until
the prediction checks pass: the candidate predictions version and index version are
only published by the last step, so a failing check leaves the previous index serving,
and a failed step discards the versions its run built, so none is left behind.

One refresh at a time: each step that writes versions holds the refresh lock under the
data root (``cinescope refresh`` holds it for the whole run); a second run is refused
with the holder's pid. The live index and predictions are verified against the checksums
in their manifests before they are trusted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from ops.errors import BrokenStateError
from ops.locks import exclusive
from ops.refresh.results import (
    BuiltIndex,
    CheckedIndex,
    InferredShard,
    MergedPredictions,
    PlannedShard,
    PublishedRefresh,
    RefreshOutcome,
    RefreshParams,
    RefreshPlanned,
)
from ops.settings import Settings, get_settings
from ops.versioned import VersionError

if TYPE_CHECKING:
    from ops.validation.predictions_suite import PredictionCheck

logger = logging.getLogger(__name__)


class NothingChanged(Exception):
    """No new predictions and no catalog change since the live index: nothing to build."""


class PredictionCheckFailed(RuntimeError):
    """The new predictions failed their checks; the previous index stays live."""


class DamagedPredictions(BrokenStateError):
    """The live predictions version's files do not match its manifest."""


def refresh_lock_path(settings: Settings) -> Path:
    return settings.home / "locks" / "refresh.lock"


@contextmanager
def refresh_lock(settings: Settings, run_id: str) -> Iterator[None]:
    """Hold the one refresh lock (re-entrant, so a whole run can hold what its steps take)."""
    with exclusive(refresh_lock_path(settings), f"refresh {run_id}"):
        yield


def plan_step(
    run_id: str, params: RefreshParams | None = None, settings: Settings | None = None
) -> RefreshPlanned:
    """Plan the run; say whether the index must be rebuilt (new predictions, the
    catalog's indexed metadata changed since the live index was built, or the live
    index fails verification)."""
    settings = settings or get_settings()
    with refresh_lock(settings, run_id):
        return _plan(run_id, params or RefreshParams(), settings)


def _plan(run_id: str, params: RefreshParams, settings: Settings) -> RefreshPlanned:
    from ops.index.build import index_store
    from ops.refresh.plan import plan_refresh

    _verify_live_predictions(settings)
    plan = plan_refresh(settings, run_id, params)
    live = index_store(settings).current()
    if not plan.nothing_to_do:
        rebuild, why = True, "new or removed predictions"
    elif params.full_index_build:
        rebuild, why = True, "a full index build was asked for"
    elif live is None:
        rebuild, why = True, "no index is published yet"
    elif damage := live.problems():  # checksums: only when nothing else forces a rebuild
        rebuild, why = True, f"the live index {live.name} is damaged ({'; '.join(damage)})"
    elif (manifest := live.manifest()).get("catalog_digest") != plan.catalog_digest:
        rebuild, why = True, f"catalog metadata changed since index {live.name}"
    elif manifest.get("publish_standin_labels", False) != settings.publish_standin_labels:
        rebuild, why = True, f"publish_standin_labels changed since index {live.name}"
    else:
        rebuild, why = False, f"catalog unchanged since index {live.name}"
    logger.info("refresh %s: %s; index: %s", run_id, plan.summary, why)
    return RefreshPlanned(
        run_id=run_id,
        summary=plan.summary,
        items_planned=plan.items_planned,
        nothing_to_do=plan.nothing_to_do,
        shards=[
            PlannedShard(
                task=shard["task"],
                index=shard["index"],
                items=len(shard["items"]),
                seconds=shard["seconds"],
            )
            for shard in plan.shards
        ],
        rebuild=rebuild,
        rebuild_reason=why,
        full_index_build=params.full_index_build,
    )


def infer_step(
    planned: RefreshPlanned, shard: PlannedShard, settings: Settings | None = None
) -> InferredShard:
    """Run one shard (a retry replaces the shard's output; it never adds to it)."""
    from ops.refresh.infer import infer_shard

    result = infer_shard(settings or get_settings(), planned.run_id, shard.task, shard.index)
    logger.info("%s", result.summary)
    return InferredShard(
        task=result.task,
        index=result.index,
        path=str(result.path),
        items=result.items,
        ok=result.ok,
        failed=result.failed,
        rows=result.rows,
        seconds=result.seconds,
    )


def merge_step(planned: RefreshPlanned, settings: Settings | None = None) -> MergedPredictions:
    """Merge the shards into a new, unpublished predictions version (none when nothing
    was inferred or removed: the live version is reused)."""
    from ops.predictions.store import PredictionsStore
    from ops.refresh.merge import merge_shards

    settings = settings or get_settings()
    with refresh_lock(settings, planned.run_id):
        if planned.nothing_to_do:
            live = PredictionsStore(settings).store.current()
            predictions_version, new = (live.name if live else None), False
        else:
            predictions_version, new = merge_shards(settings, planned.run_id).name, True
    return MergedPredictions(
        run_id=planned.run_id,
        predictions_version=predictions_version,
        new_predictions=new,
        rebuild=planned.rebuild,
        rebuild_reason=planned.rebuild_reason,
        full_index_build=planned.full_index_build,
    )


def build_step(merged: MergedPredictions, settings: Settings | None = None) -> BuiltIndex:
    """Build and seal a new index version over the merged predictions, unpublished:
    derived from the live one where it can be (what changed costs, not the catalog's
    size), else in full (ops.index.build says when and why)."""
    from ops.index.build import build_index_version

    settings = settings or get_settings()
    if not merged.rebuild:
        raise NothingChanged(f"nothing to build: {merged.rebuild_reason}")
    with refresh_lock(settings, merged.run_id), _discarded_on_failure(settings, merged):
        version = build_index_version(
            settings, merged.predictions_version, full=merged.full_index_build
        )
    manifest = version.manifest()
    build = manifest["build"]
    how = (
        f"derived from {build['from']}: {build['changed_items']} items changed, "
        f"{build['removed_items']} removed"
        if build["kind"] == "incremental"
        else f"in full: {build['reason']}"
    )
    logger.info(
        "built index %s (%s): %d documents (%d segments), %d vectors",
        version.name,
        how,
        manifest["documents"],
        manifest["segments"],
        manifest["vectors"],
    )
    withheld = list(manifest.get("withheld_labels", []))
    for note in withheld:
        logger.warning("%s", note)
    return BuiltIndex(
        merged=merged,
        index_version=version.name,
        documents=manifest["documents"],
        withheld_labels=withheld,
    )


def check_step(built: BuiltIndex, settings: Settings | None = None) -> CheckedIndex:
    """Run the prediction checks over this run's new rows; on failure, discard the built
    index and predictions versions and raise, so the live ones keep serving."""
    settings = settings or get_settings()
    merged = built.merged
    if not merged.new_predictions or merged.predictions_version is None:
        return CheckedIndex(built=built, check="no new predictions to check")
    with (
        refresh_lock(settings, merged.run_id),
        _discarded_on_failure(settings, merged, built.index_version),
    ):
        check = _check_new_predictions(settings, merged.run_id, merged.predictions_version)
        if check is None:
            return CheckedIndex(
                built=built, check="no new rows to check (this run only removed items)"
            )
        if not check.passed:
            raise PredictionCheckFailed(
                f"{check.summary}; index {built.index_version} and predictions "
                f"{merged.predictions_version} discarded, the live index stays "
                f"(report: {check.report_html})"
            )
    logger.info("%s", check.summary)
    return CheckedIndex(built=built, check=check.summary, check_report=str(check.report_html))


def publish_step(checked: CheckedIndex, settings: Settings | None = None) -> PublishedRefresh:
    """Make the index and then the predictions live (pointer switches, each refused when
    the version fails verification), then prune old ones. The index goes first: should
    the predictions switch fail, the next run plans their items again, whereas live
    predictions under a stale index would read as up to date and never be indexed."""
    from ops.index.build import prune_indexes, publish_index
    from ops.predictions.store import PredictionsStore

    settings = settings or get_settings()
    built, merged = checked.built, checked.built.merged
    predictions = PredictionsStore(settings).store
    with refresh_lock(settings, merged.run_id):
        index = publish_index(settings, built.index_version)
        if merged.new_predictions and merged.predictions_version is not None:
            predictions.publish(merged.predictions_version)
        pruned = [version.name for version in prune_indexes(settings)]
        pruned += [version.name for version in predictions.prune(settings.index_keep_versions)]
    logger.info("published index %s (pruned: %s)", index.name, ", ".join(pruned) or "none")
    return PublishedRefresh(
        index_version=index.name,
        predictions_version=merged.predictions_version,
        documents=built.documents,
        pruned=pruned,
    )


def run_refresh(
    run_id: str,
    settings: Settings | None = None,
    report: Callable[[str], None] = logger.info,
    params: RefreshParams | None = None,
) -> RefreshOutcome:
    """Every step in order in this process (what ``cinescope refresh`` runs), holding
    the refresh lock throughout."""
    settings = settings or get_settings()
    with refresh_lock(settings, run_id):
        return _run_steps(run_id, params or RefreshParams(), settings, report)


def _run_steps(
    run_id: str, params: RefreshParams, settings: Settings, report: Callable[[str], None]
) -> RefreshOutcome:
    planned = plan_step(run_id, params, settings)
    report(f"plan: {planned.summary}")
    for shard in planned.shards:
        result = infer_step(planned, shard, settings)
        report(
            f"shard {shard.name}: {result.ok} ok, "
            f"{result.failed} failed, {result.rows} rows in {result.seconds:.1f} s"
        )
    merged = merge_step(planned, settings)
    try:
        built = build_step(merged, settings)
    except NothingChanged as exc:
        report(str(exc))
        return RefreshOutcome(plan=planned, published=None, reason=str(exc))
    for note in built.withheld_labels:
        report(note)
    checked = check_step(built, settings)
    report(f"check: {checked.check}")
    published = publish_step(checked, settings)
    report(f"published index {published.index_version} ({published.documents} documents)")
    return RefreshOutcome(plan=planned, published=published)


@contextmanager
def _discarded_on_failure(
    settings: Settings, merged: MergedPredictions, index_version: str | None = None
) -> Iterator[None]:
    """On any failure, delete the unpublished versions this run built (a retry of the run
    starts over; nothing half-made stays behind)."""
    from ops.index.build import drop_index_version
    from ops.predictions.store import PredictionsStore

    try:
        yield
    except BaseException:
        with suppress(VersionError):  # gone already (a retry): the first failure is reported
            if index_version:
                drop_index_version(settings, index_version)
        with suppress(VersionError):
            if merged.new_predictions and merged.predictions_version is not None:
                PredictionsStore(settings).store.discard(merged.predictions_version)
        raise


def _verify_live_predictions(settings: Settings) -> None:
    """Refuse to plan over a live predictions version whose files were damaged."""
    from ops.predictions.store import PredictionsStore

    store = PredictionsStore(settings).store
    live = store.current()
    if live is None:
        return
    problems = live.problems()
    if problems:
        raise DamagedPredictions(
            f"the live predictions version {live.name} is damaged: {'; '.join(problems)}. "
            f"Repair: {store.repair}"
        )


def _check_new_predictions(
    settings: Settings, run_id: str, predictions_version: str
) -> PredictionCheck | None:
    import pandas as pd

    from ops.catalog.store import read_catalog
    from ops.predictions.store import PredictionsStore
    from ops.refresh.plan import load_plan
    from ops.refresh.registry import get_task
    from ops.validation.predictions_suite import check_predictions

    plan = load_plan(settings, run_id)
    store = PredictionsStore(settings)
    if not plan.shards:
        return None  # nothing was inferred: no new rows
    frames = []
    vocabulary: dict[str, list[str] | None] = {}
    for task in sorted({shard["task"] for shard in plan.shards}):
        shards = [shard for shard in plan.shards if shard["task"] == task]
        planned = {item for shard in shards for item in shard["items"]}
        frames.append(store.read_predictions(task, predictions_version, items=planned))
        vocabulary[task] = get_task(task).vocabulary(plan.model(task), settings)
    return check_predictions(
        pd.concat(frames, ignore_index=True),
        read_catalog(settings.catalog_path),
        vocabulary,
        reports_dir=settings.reports_dir,
        run_name=run_id,
    )
