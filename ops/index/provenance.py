"""Which labels the index may publish, and at which threshold, from each model's provenance.

A model trained on a generated stand-in (the demo's clips) says nothing true about real
footage: its labels are withheld from the index unless ``publish_standin_labels`` is set
(the demo sets it), and every withheld model gets a line saying so. Its embeddings still
serve similarity. A version registered before provenance was recorded counts as a
stand-in. Labels are decided at the threshold each version chose on its validation data,
so a model sure of everything is not taken at its word at 0.5.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from ops.settings import Settings

if TYPE_CHECKING:
    from ops.scene.tracking import ModelProvenance

TRAINED_TASKS = ("scene", "genre", "mood")
"""Tasks whose models are trained and registered in MLflow; the others (shots) are code."""

NOT_TRAINED = "n/a"
PUBLISH_SETTING = "CINESCOPE_PUBLISH_STANDIN_LABELS"

ModelKey = tuple[str, str]  # (model_name, model_version)


@dataclass(frozen=True)
class LabelPolicy:
    """What the index build does with each model's labels; the default publishes all."""

    training_data: dict[ModelKey, str] = field(default_factory=dict)
    thresholds: dict[tuple[str, str, str], float] = field(default_factory=dict)
    withheld: frozenset[ModelKey] = frozenset()
    notes: tuple[str, ...] = ()

    def provenance(self, model_name: str, model_version: str) -> str:
        """``generated``, ``real`` or ``unrecorded`` for a trained model, ``n/a`` otherwise."""
        return self.training_data.get((model_name, model_version), NOT_TRAINED)

    def threshold(self, model_name: str, model_version: str, label: str, default: float) -> float:
        return self.thresholds.get((model_name, model_version, label), default)

    def published(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The prediction rows whose model's labels may be indexed."""
        if frame.empty or not self.withheld:
            return frame
        keys = pd.MultiIndex.from_frame(frame[["model_name", "model_version"]].astype(str))
        return frame[~keys.isin(list(self.withheld))]


def label_policy(predictions: Mapping[str, pd.DataFrame], settings: Settings) -> LabelPolicy:
    """Look up every trained model version behind ``predictions`` in the registry."""
    training_data: dict[ModelKey, str] = {}
    thresholds: dict[tuple[str, str, str], float] = {}
    withheld: set[ModelKey] = set()
    notes: list[str] = []
    for task in TRAINED_TASKS:
        frame = predictions.get(task)
        if frame is None or frame.empty:
            continue
        models = frame[["model_name", "model_version"]].astype(str).drop_duplicates()
        for name, version in sorted(models.itertuples(index=False, name=None)):
            found = _provenance(settings.tracking_uri, name, version)
            training_data[(name, version)] = found.training_data
            thresholds |= {
                (name, version, label): value for label, value in found.decision_thresholds.items()
            }
            if found.standin and not settings.publish_standin_labels:
                withheld.add((name, version))
                notes.append(_withheld_note(task, name, version, found.training_data))
    return LabelPolicy(training_data, thresholds, frozenset(withheld), tuple(notes))


def _withheld_note(task: str, name: str, version: str, training_data: str) -> str:
    label = f"v{version}" if version.isdigit() else version
    why = (
        "trained on generated stand-in data"
        if training_data == "generated"
        else "its training data is not recorded (registered before provenance was kept)"
    )
    return (
        f"withheld {task} labels from {name} {label}: {why} (set {PUBLISH_SETTING}=true to publish)"
    )


def _provenance(tracking_uri: str, name: str, version: str) -> ModelProvenance:
    """The registry's record of a version; ``unrecorded`` when the registry lacks it."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from ops.refresh.tasks import embedded_store_missing
    from ops.scene.tracking import UNRECORDED, ModelProvenance, model_provenance

    if embedded_store_missing(tracking_uri):
        return ModelProvenance(UNRECORDED, {})
    try:
        return model_provenance(MlflowClient(tracking_uri), name, version)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return ModelProvenance(UNRECORDED, {})
        raise
