"""Run a GX 1.x expectation suite over a pandas frame in a throwaway in-memory context.

Shared by every suite (catalog, annotations, predictions): no analytics, no files,
no progress bars, and failing rows named by ``index_column``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    import great_expectations as gx


@contextlib.contextmanager
def quiet_great_expectations() -> Iterator[None]:
    """Keep GX's INFO chatter and deprecation warnings out of task logs, for this block only."""
    gx_logger = logging.getLogger("great_expectations")
    previous_level = gx_logger.level
    gx_logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", category=DeprecationWarning, module="great_expectations"
            )
            yield
    finally:
        gx_logger.setLevel(previous_level)


def run_suite(
    frame: pd.DataFrame,
    suite: gx.ExpectationSuite,
    *,
    index_column: str,
    run_name: str | None = None,
    run_time: dt.datetime | None = None,
) -> dict[str, Any]:
    """Validate ``frame`` with ``suite``; return the result as a JSON-ready dict."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            analytics_enabled=False,
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            progress_bars=ProgressBarsConfig(globally=False),
        ),
    )
    batch_definition = (
        context.data_sources.add_pandas(suite.name)
        .add_dataframe_asset("rows")
        .add_batch_definition_whole_dataframe("whole frame")
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(
            name=suite.name, data=batch_definition, suite=context.suites.add(suite)
        )
    )
    result = definition.run(
        batch_parameters={"dataframe": frame},
        result_format={
            "result_format": "COMPLETE",
            "unexpected_index_column_names": [index_column],
        },
        run_id=RunIdentifier(run_name=run_name, run_time=run_time),
    )
    return dict(result.to_json_dict())
