"""The catalog refresh, step by step: one function per task of the ``catalog_refresh`` DAG.

``cinescope refresh`` runs the same steps in order in one process. Steps pass small
JSON references (run id, version names, counts), never data. Nothing goes live until
the prediction checks pass: the candidate predictions version and index version are
only published by the last step, so a failing check leaves the previous index serving.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ops.settings import Settings, get_settings

if TYPE_CHECKING:
    from ops.validation.predictions_suite import PredictionCheck

logger = logging.getLogger(__name__)


class NothingChanged(Exception):
    """No new predictions and no catalog change since the live index: nothing to build."""


class PredictionCheckFailed(RuntimeError):
    """The new predictions failed their checks; the previous index stays live."""


def plan_step(run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """Plan the run; say whether the index must be rebuilt (new predictions, or the
    catalog's indexed metadata changed since the live index was built)."""
    from ops.index.build import index_store
    from ops.refresh.plan import plan_refresh

    settings = settings or get_settings()
    plan = plan_refresh(settings, run_id)
    live = index_store(settings).current()
    if not plan.nothing_to_do:
        rebuild, why = True, "new or removed predictions"
    elif live is None:
        rebuild, why = True, "no index is published yet"
    elif live.manifest().get("catalog_digest") != plan.catalog_digest:
        rebuild, why = True, f"catalog metadata changed since index {live.name}"
    else:
        rebuild, why = False, f"catalog unchanged since index {live.name}"
    logger.info("refresh %s: %s; index: %s", run_id, plan.summary, why)
    return {
        "run_id": run_id,
        "summary": plan.summary,
        "items_planned": plan.items_planned,
        "nothing_to_do": plan.nothing_to_do,
        "shards": [
            {
                "task": shard["task"],
                "index": shard["index"],
                "items": len(shard["items"]),
                "seconds": shard["seconds"],
            }
            for shard in plan.shards
        ],
        "rebuild": rebuild,
        "rebuild_reason": why,
    }


def infer_step(run_id: str, shard: dict[str, Any], settings: Settings | None = None) -> dict:
    """Run one shard (a retry replaces the shard's output; it never adds to it)."""
    from ops.refresh.infer import infer_shard

    result = infer_shard(settings or get_settings(), run_id, shard["task"], int(shard["index"]))
    logger.info("%s", result.summary)
    return result.to_json()


def merge_step(planned: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """Merge the shards into a new, unpublished predictions version (none when nothing
    was inferred or removed: the live version is reused)."""
    from ops.predictions.store import PredictionsStore
    from ops.refresh.merge import merge_shards

    settings = settings or get_settings()
    if planned["nothing_to_do"]:
        live = PredictionsStore(settings).store.current()
        predictions_version, new = (live.name if live else None), False
    else:
        predictions_version, new = merge_shards(settings, planned["run_id"]).name, True
    return {
        "run_id": planned["run_id"],
        "predictions_version": predictions_version,
        "new_predictions": new,
        "rebuild": planned["rebuild"],
        "rebuild_reason": planned["rebuild_reason"],
    }


def build_step(merged: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """Build and seal a new index version over the merged predictions, unpublished."""
    from ops.index.build import build_index_version

    settings = settings or get_settings()
    if not merged["rebuild"]:
        raise NothingChanged(f"nothing to build: {merged['rebuild_reason']}")
    version = build_index_version(settings, merged["predictions_version"])
    manifest = version.manifest()
    logger.info(
        "built index %s: %d documents (%d segments), %d vectors",
        version.name,
        manifest["documents"],
        manifest["segments"],
        manifest["vectors"],
    )
    return merged | {"index_version": version.name, "documents": manifest["documents"]}


def check_step(built: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """Run the prediction checks over this run's new rows; on failure, discard the built
    index version and raise, so the live one keeps serving."""
    from ops.index.build import drop_index_version

    settings = settings or get_settings()
    if not built["new_predictions"]:
        return built | {"check": "no new predictions to check"}
    check = _check_new_predictions(settings, built["run_id"], built["predictions_version"])
    if not check.passed:
        drop_index_version(settings, built["index_version"])  # never to go live
        raise PredictionCheckFailed(
            f"{check.summary}; index {built['index_version']} discarded, the live index "
            f"stays (report: {check.report_html})"
        )
    logger.info("%s", check.summary)
    return built | {"check": check.summary, "check_report": str(check.report_html)}


def publish_step(checked: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """Make the predictions and the index live (pointer switches), then prune old ones."""
    from ops.index.build import prune_indexes, publish_index
    from ops.predictions.store import PredictionsStore

    settings = settings or get_settings()
    predictions = PredictionsStore(settings).store
    if checked["new_predictions"]:
        predictions.publish(checked["predictions_version"])
    index = publish_index(settings, checked["index_version"])
    pruned = [version.name for version in prune_indexes(settings)]
    pruned += [version.name for version in predictions.prune(settings.index_keep_versions)]
    logger.info("published index %s (pruned: %s)", index.name, ", ".join(pruned) or "none")
    return {
        "index_version": index.name,
        "predictions_version": checked["predictions_version"],
        "documents": checked["documents"],
        "pruned": pruned,
    }


def run_refresh(
    run_id: str,
    settings: Settings | None = None,
    report: Callable[[str], None] = logger.info,
) -> dict[str, Any]:
    """Every step in order in this process (what ``cinescope refresh`` runs)."""
    settings = settings or get_settings()
    planned = plan_step(run_id, settings)
    report(f"plan: {planned['summary']}")
    for shard in planned["shards"]:
        result = infer_step(run_id, shard, settings)
        report(
            f"shard {shard['task']}-{shard['index']:04d}: {result['ok']} ok, "
            f"{result['failed']} failed, {result['rows']} rows in {result['seconds']:.1f} s"
        )
    merged = merge_step(planned, settings)
    try:
        built = build_step(merged, settings)
    except NothingChanged as exc:
        report(str(exc))
        return {"published": False, "reason": str(exc), "plan": planned}
    checked = check_step(built, settings)
    report(f"check: {checked['check']}")
    published = publish_step(checked, settings)
    report(f"published index {published['index_version']} ({published['documents']} documents)")
    return {"published": True, "plan": planned} | published


def _check_new_predictions(
    settings: Settings, run_id: str, predictions_version: str
) -> PredictionCheck:
    import pandas as pd

    from ops.catalog.store import read_catalog
    from ops.predictions.store import PredictionsStore
    from ops.refresh.plan import load_plan
    from ops.refresh.tasks import get_task
    from ops.validation.predictions_suite import check_predictions

    plan = load_plan(settings, run_id)
    store = PredictionsStore(settings)
    frames, vocabulary = [], {}
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
