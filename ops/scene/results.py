"""What the scene pipeline's steps return: frozen models, passed on whole.

The DAG tasks hand them to each other through XCom, the DVC stages write them as their
JSON outputs (``labels.json``, ``run.json``, ``metrics.json``) and the CLI prints them,
so every caller sees the same fields and none picks keys out of a dict.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ops.scene.params import TrainParams


class StepResult(BaseModel):
    """What a step hands the next one: through XCom, a DVC output file or the CLI, whole."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class RefusedAnnotation(StepResult):
    """An annotation row the checks refused, with the file line and the reason."""

    line: int
    item_id: str | None
    start_s: float | None
    end_s: float | None
    label: str | None
    reason: str


class AnnotationCheckSummary(StepResult):
    """One Great Expectations check on the annotation file: its verdict and failure count."""

    check: str
    description: str | None
    success: bool
    unexpected: int


class AnnotationReport(StepResult):
    """The annotation file's validation: counts and each check's verdict."""

    path: str
    suite: str
    rows: int
    valid: int
    refused: int
    success: bool
    checks: tuple[AnnotationCheckSummary, ...]


class LabelledDataset(StepResult):
    """``labels_step``: the checked annotations' data-registry revision (``labels.json``)."""

    dataset_rev: str | None
    new_version: bool
    valid_rows: int
    refused_rows: tuple[RefusedAnnotation, ...]
    report: AnnotationReport


class PreparedFeatures(StepResult):
    """``features_step``: where the split segment table is and the params it was made with."""

    root: Path
    dataset_rev: str | None
    segments: dict[str, int]  # split -> segment count
    params: TrainParams


class AblationRow(StepResult):
    """One model of the ablation: its modalities, best epoch and flat ``val_*`` metrics."""

    model_config = ConfigDict(frozen=True, extra="allow")
    __pydantic_extra__: dict[str, float]

    variant: str
    frames: bool
    audio: bool
    best_epoch: int


class TrainedModel(StepResult):
    """``train_step``: the MLflow run, the registered version and its numbers (``run.json``)."""

    run_id: str
    model_uri: str
    version: str
    dataset_rev: str | None
    training_data: str
    decision_thresholds: dict[str, float]
    metrics: dict[str, float]
    ablation: tuple[AblationRow, ...]
    device: str
    seconds: float
    params: TrainParams


class GateDecision(StepResult):
    """The champion/challenger decision, with both scores on the same dataset revision."""

    promoted: bool
    reason: str
    challenger: float
    champion: float | None


class EvaluatedModel(StepResult):
    """``evaluate_step``: the gate's verdict and the version's numbers (DVC ``metrics.json``).

    The validation metrics sit at the top level (``val_f1``...), where ``dvc metrics``
    reads them.
    """

    model_config = ConfigDict(frozen=True, extra="allow")
    __pydantic_extra__: dict[str, float]

    gate: GateDecision
    version: str
    training_data: str
    decision_thresholds: dict[str, float]
    ablation: tuple[AblationRow, ...]
