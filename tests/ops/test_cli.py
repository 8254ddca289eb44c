"""The query commands of the CLI: search, item, similar and the index subcommands."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from ops.catalog.store import write_catalog
from ops.cli import app
from ops.index.build import build_index_version, publish_index
from ops.settings import Settings
from ops.versioned import VersionedStore

runner = CliRunner()


@pytest.fixture
def published(home: Settings) -> Settings:
    """Two published index versions of a two-film catalog (no predictions yet)."""
    films = [("harbour", "Kiss at the harbour", ["Ada Stone"]), ("storm", "Storm at sea", [])]
    rows = [
        {
            "item_id": item_id,
            "source": "test",
            "url": f"https://example.test/{item_id}",
            "kind": "video",
            "sha256": item_id * 8,
            "duration_s": 4.0,
            "title": title,
            "year": 1999,
            "people": people,
            "status": "ok",
        }
        for item_id, title, people in films
    ]
    write_catalog(pd.DataFrame(rows), home.catalog_path)
    predictions = VersionedStore(home.predictions_dir)
    empty = predictions.seal(predictions.create(), {"run_id": "test", "tasks": {}})
    predictions.publish(empty.name)
    for _ in range(2):
        publish_index(home, build_index_version(home, empty.name).name)
    return home


def test_search_prints_hits_and_facets(published: Settings) -> None:
    result = runner.invoke(app, ["search", "harbour", "--level", "item"])

    assert result.exit_code == 0, result.output
    assert "1 matches" in result.output
    assert "harbour" in result.output
    assert "facets" in result.output


def test_item_prints_the_document(published: Settings) -> None:
    result = runner.invoke(app, ["item", "harbour"])

    assert result.exit_code == 0, result.output
    assert "Kiss at the harbour" in result.output
    unknown = runner.invoke(app, ["item", "nothing"])
    assert unknown.exit_code == 1
    assert "'nothing' is not in index v000002" in unknown.output


def test_similar_never_lists_the_item(published: Settings) -> None:
    result = runner.invoke(app, ["similar", "harbour", "-k", "3"])

    assert result.exit_code == 0, result.output
    assert "items similar to harbour" in result.output


def test_index_versions_rollback_and_publish(published: Settings) -> None:
    listed = runner.invoke(app, ["index", "versions"])
    assert listed.exit_code == 0, listed.output
    assert "v000001" in listed.output and "v000002" in listed.output

    rolled = runner.invoke(app, ["index", "rollback"])
    assert rolled.exit_code == 0, rolled.output
    assert "live index: v000001" in rolled.output
    assert VersionedStore(published.index_dir).current().name == "v000001"

    again = runner.invoke(app, ["index", "rollback"])
    assert again.exit_code == 1
    assert "nothing older" in again.output

    republished = runner.invoke(app, ["index", "publish", "v000002"])
    assert republished.exit_code == 0, republished.output
    unknown = runner.invoke(app, ["index", "publish", "v000009"])
    assert unknown.exit_code == 1
    assert "v000009" in unknown.output


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["search", "--year-min", "2010", "--year-max", "1990"], "year_min is after year_max"),
        (["search", "kiss", "--like", "harbour"], "not both"),
        (["search", "--page-size", "500"], "page_size"),
    ],
)
def test_bad_search_input_says_why(home: Settings, args: list[str], complaint: str) -> None:
    result = runner.invoke(app, args)

    assert result.exit_code == 2
    assert complaint in result.output


@pytest.mark.parametrize("args", [["search", "kiss"], ["item", "harbour"], ["similar", "x"]])
def test_nothing_published_says_what_to_run(home: Settings, args: list[str]) -> None:
    result = runner.invoke(app, args)

    assert result.exit_code == 1
    assert "no search index is published" in result.output


def test_serve_help_names_its_overrides(home: Settings) -> None:
    result = runner.invoke(app, ["serve", "--help"])

    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output


def test_refresh_then_lineage_names_the_models_and_revisions(refresh_home: Settings) -> None:
    first = runner.invoke(app, ["refresh", "--run-id", "cli-1"])
    assert first.exit_code == 0, first.output
    assert "published index v000001" in first.output

    again = runner.invoke(app, ["refresh", "--run-id", "cli-2"])
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output and "the live index is unchanged" in again.output

    lineage = runner.invoke(app, ["lineage", "clip-a"], terminal_width=200)
    assert lineage.exit_code == 0, lineage.output
    assert "index v000001" in lineage.output and "predictions v000001" in lineage.output
    assert "shot-detector" in lineage.output and "labels/scene/v1" in lineage.output

    image = runner.invoke(app, ["lineage", "still"])
    assert "metadata only" in image.output


def test_lineage_before_any_refresh_says_what_to_do(home: Settings) -> None:
    result = runner.invoke(app, ["lineage", "anything"])
    assert result.exit_code == 1
    assert "cinescope refresh" in result.output
