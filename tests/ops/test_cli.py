"""The query commands of the CLI: search, item, similar and the index subcommands."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from ops.catalog.store import write_catalog
from ops.cli import app
from ops.index.build import build_index_version, publish_index
from ops.refresh.job import refresh_lock, refresh_lock_path
from ops.settings import Settings
from ops.versioned import POINTER, VersionedStore
from tests.support.index_files import largest_search_file
from tests.support.refresh import RegisterVersion

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


def test_item_lists_its_shots_and_keyframes(published: Settings) -> None:
    from datetime import UTC, datetime

    import pyarrow as pa

    from ops.atomic import write_table
    from ops.predictions.schema import EMBEDDING_SCHEMA, PREDICTION_SCHEMA
    from ops.predictions.store import embeddings_file, predictions_file

    common = {"item_id": "storm", "task": "shots", "model_name": "shot-detector"}
    common |= {"model_version": "abc", "dataset_rev": "n/a", "score": 1.0}
    common |= {"created_at": datetime(2026, 1, 1, tzinfo=UTC)}
    rows = [
        common | {"label": label, "start_s": start, "end_s": end}
        for label, start, end in (
            ("shot", 0.0, 1.5),
            ("keyframe", 0.75, 0.75),
            ("shot", 1.5, 4.0),
            ("keyframe", 2.75, 2.75),
        )
    ]
    store = VersionedStore(published.predictions_dir)
    version = store.create()
    write_table(
        pa.Table.from_pylist(rows, PREDICTION_SCHEMA), predictions_file(version.path, "shots")
    )
    write_table(EMBEDDING_SCHEMA.empty_table(), embeddings_file(version.path, "shots"))
    store.publish(store.seal(version, {"run_id": "test", "tasks": {}}).name)
    publish_index(published, build_index_version(published, version.name).name)

    result = runner.invoke(app, ["item", "storm"])

    assert result.exit_code == 0, result.output
    assert "shots" in result.output
    assert "0.75" in result.output and "2.75" in result.output  # the keyframe times
    assert "1.50" in result.output and "4.00" in result.output


def test_similar_never_lists_the_item(published: Settings) -> None:
    printed = runner.invoke(app, ["similar", "harbour", "-k", "3"])
    assert printed.exit_code == 0, printed.output
    assert "items similar to harbour" in printed.output

    for options in (["-k", "3"], ["--any-kind"]):
        result = runner.invoke(app, ["similar", "harbour", *options, "--json"])
        assert result.exit_code == 0, result.output
        listed = [entry["item_id"] for entry in json.loads(result.output)["similar"]]
        assert listed == ["storm"], options  # the other film is found, the item itself never


def test_index_versions_rollback_and_publish(published: Settings) -> None:
    listed = runner.invoke(app, ["index", "versions"])
    assert listed.exit_code == 0, listed.output
    assert "v000001" in listed.output and "v000002" in listed.output
    assert listed.output.count("full") == 2  # the second build changed nothing: a repair

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
    assert "Downloading artifacts" not in first.output  # no MLflow progress bars
    assert "published index v000001" in first.output

    again = runner.invoke(app, ["refresh", "--run-id", "cli-2"])
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output and "the live index is unchanged" in again.output

    lineage = runner.invoke(app, ["lineage", "clip-a"], terminal_width=200)
    assert lineage.exit_code == 0, lineage.output
    assert "index v000001" in lineage.output and "predictions v000001" in lineage.output
    assert "shot-detector" in lineage.output and "labels/scene/v1" in lineage.output

    image = runner.invoke(app, ["lineage", "still"], terminal_width=200)
    assert image.exit_code == 0, image.output
    assert "labels/scene/v1" in image.output  # its content vector comes from the scene model
    assert "shot-detector" not in image.output  # an image has no shots


def test_lineage_before_any_refresh_says_what_to_do(home: Settings) -> None:
    result = runner.invoke(app, ["lineage", "anything"])
    assert result.exit_code == 1
    assert "cinescope refresh" in result.output


def said(text: str) -> str:
    """Text without any whitespace, so rich's line wrapping (even inside paths) is moot."""
    return "".join(text.split())


def test_a_garbage_index_pointer_is_a_clear_error_and_publish_repairs_it(
    published: Settings,
) -> None:
    pointer = published.index_dir / POINTER
    pointer.write_text("garbage\n")
    problem = (
        f"the pointer {pointer} is broken ('garbage' is not a version name (expected v000001 "
        "and so on)); kept versions: v000001, v000002. Repair: `cinescope index publish "
        "<version>` with one of the kept versions"
    )
    for args in (
        ["search", "harbour"],
        ["index", "versions"],
        ["index", "rollback"],
        ["item", "clip-a"],
        ["similar", "clip-a"],
        ["lineage", "clip-a"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert said(problem) in said(result.output), args
        assert result.exception is None or isinstance(result.exception, SystemExit), args
    repaired = runner.invoke(app, ["index", "publish", "v000002"])
    assert repaired.exit_code == 0 and "live index: v000002" in repaired.output
    assert runner.invoke(app, ["search", "harbour"]).exit_code == 0


def test_a_truncated_index_file_is_a_message_on_stderr_not_a_traceback(
    published: Settings,
) -> None:
    live = largest_search_file(published.index_dir / "v000002")
    live.write_bytes(live.read_bytes()[:4096])
    for args in (["search", "harbour"], ["item", "harbour"], ["similar", "harbour"]):
        result = runner.invoke(app, [*args, "--json"])
        assert result.exit_code == 1, (args, result.output)
        assert result.stdout == "", args
        assert said(f"index v000002 is damaged: {live} is 4096 bytes") in said(result.stderr)
        assert result.exception is None or isinstance(result.exception, SystemExit), args


def test_refresh_is_refused_while_another_refresh_holds_the_lock(published: Settings) -> None:
    holding, release = threading.Event(), threading.Event()

    def other_refresh() -> None:
        with refresh_lock(published, "run-elsewhere"):
            holding.set()
            release.wait()

    thread = threading.Thread(target=other_refresh)
    thread.start()
    holding.wait()
    try:
        result = runner.invoke(app, ["refresh", "--run-id", "mine"])
    finally:
        release.set()
        thread.join()
    assert result.exit_code == 1
    assert said(result.output).startswith(
        said("refresh mine refused: another one is running (refresh run-elsewhere, pid ")
    )
    assert said(result.output).endswith(
        said(f"lock {refresh_lock_path(published)}). Wait for it to finish, then run again.")
    )


def test_refresh_says_it_withholds_stand_in_labels_and_item_shows_the_provenance(
    refresh_home: Settings, register_version: RegisterVersion
) -> None:
    register_version(refresh_home.tracking_uri, "labels/scene/v2", training_data="generated")
    refreshed = runner.invoke(app, ["refresh", "--run-id", "cli-1"], terminal_width=300)
    assert refreshed.exit_code == 0, refreshed.output
    assert "withheld scene labels from scene v2: trained on generated stand-in data" in (
        " ".join(refreshed.output.split())
    )

    item = runner.invoke(app, ["item", "clip-a"], terminal_width=200)
    assert item.exit_code == 0, item.output
    scene_row = r"│ scene\s+│ scene\s+│ 2\s+│[^\n]*│ generated\s+│ withheld\s+│"
    assert re.search(scene_row, item.output), item.output


def test_a_missing_index_pointer_names_the_kept_versions_and_the_repair(
    published: Settings,
) -> None:
    pointer = published.index_dir / POINTER
    pointer.unlink()
    result = runner.invoke(app, ["search", "harbour"])
    assert result.exit_code == 1
    assert said(result.output) == said(
        f"the pointer {pointer} is missing, although versions were published (kept: "
        "v000001, v000002). Repair: `cinescope index publish <version>` with one of the "
        "kept versions"
    )


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command under ``command`` (subcommands of groups included)."""
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield path
        return
    for name, sub in subcommands.items():
        yield from _commands(sub, (*path, name))


def test_every_option_has_help_and_no_type_placeholder() -> None:
    root = typer.main.get_command(app)
    paths = list(_commands(root))
    assert ("search",) in paths and ("index", "versions") in paths
    for path in paths:
        command = root
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        for param in command.params:
            if param.param_type_name == "option":
                assert param.help, f"cinescope {' '.join(path)} {param.opts[0]} has no help"
        shown = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert shown.exit_code == 0, shown.output
        options = shown.output.partition("Options:")[2]  # typer types every argument
        placeholders = re.findall(r"<[a-z]+(?:\[[a-z]+\])?(?: range)?>", options)
        assert placeholders == [], f"cinescope {' '.join(path)} --help shows {placeholders}"


def test_search_person_ignores_case_and_unknown_kinds_are_refused(published: Settings) -> None:
    found = runner.invoke(app, ["search", "--person", "ada STONE", "--json"])
    assert found.exit_code == 0, found.output
    assert [hit["item_id"] for hit in json.loads(found.stdout)["hits"]] == ["harbour"]

    refused = runner.invoke(app, ["search", "--kind", "film"])
    assert refused.exit_code == 2
    assert "'video', 'audio' or 'image'" in refused.output and "film" in refused.output


def test_search_filters_by_genre_mood_and_duration(published: Settings) -> None:
    def total(*args: str) -> int:
        result = runner.invoke(app, ["search", "--json", *args])
        assert result.exit_code == 0, result.output
        return int(json.loads(result.stdout)["total"])

    assert total("--level", "item", "--min-duration-s", "3", "--max-duration-s", "5") == 2
    assert total("--max-duration-s", "3") == 0
    for option, value in (("--genre", "jazz"), ("--mood", "calm")):  # no model gave any yet
        refused = runner.invoke(app, ["search", option, value])
        assert refused.exit_code == 2, refused.output
        assert f"unknown {option[2:]} '{value}'" in refused.output


def test_lineage_of_an_item_not_in_the_index_fails(published: Settings) -> None:
    result = runner.invoke(app, ["lineage", "nothing"])

    assert result.exit_code == 1
    assert "'nothing' is not in index v000002" in result.output


@pytest.mark.parametrize(
    ("args", "check"),
    [
        (["search", "harbour"], lambda out: out["total"] == 1 and out["hits"][0]["doc_id"]),
        (["item", "harbour"], lambda out: out["item"]["title"] == "Kiss at the harbour"),
        (["similar", "harbour"], lambda out: out["item_id"] == "harbour"),
        (["lineage", "harbour"], lambda out: out["index_version"] == "v000002"),
        (["index", "versions"], lambda out: [v["live"] for v in out] == [False, True]),
        (["catalog"], lambda out: {row["item_id"] for row in out} == {"harbour", "storm"}),
        (["quarantine"], lambda out: out == []),
        (["datasets", "list"], lambda out: out == []),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_json_prints_one_document_and_nothing_else(
    published: Settings, args: list[str], check: Callable[[Any], Any]
) -> None:
    result = runner.invoke(app, [*args, "--json"], terminal_width=80)

    assert result.exit_code == 0, result.output
    assert check(json.loads(result.stdout))


def test_a_failed_json_command_keeps_stdout_empty(published: Settings) -> None:
    result = runner.invoke(app, ["item", "nothing", "--json"])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "'nothing' is not in index" in result.stderr


@pytest.mark.parametrize(
    ("conf", "refusal"),
    [
        (
            '{"tasks": ["karaoke"]}',
            "catalog_refresh not triggered: params refused by RefreshParams: "
            "tasks.0: Input should be 'scene', 'shots', 'faces', 'genre', 'mood', "
            "'speech' or 'ocr'",
        ),
        ('{"forse": ["scene"]}', "forse: Extra inputs are not permitted"),
        ("{tasks: 1}", "--conf is not JSON (Expecting property name enclosed in double quotes"),
    ],
)
def test_trigger_refuses_bad_params_before_calling_airflow(
    home: Settings, monkeypatch: pytest.MonkeyPatch, conf: str, refusal: str
) -> None:
    import ops.stack

    def no_airflow(*args: object) -> None:
        raise AssertionError("bad params reached the Airflow API")

    monkeypatch.setattr(ops.stack, "AirflowApi", no_airflow)

    result = runner.invoke(app, ["trigger", "catalog_refresh", "--conf", conf])

    assert result.exit_code == 1
    assert said(refusal) in said(result.output)


def test_refresh_refuses_forcing_a_task_it_does_not_run(home: Settings) -> None:
    result = runner.invoke(app, ["refresh", "--task", "shots", "--force", "scene"])

    assert result.exit_code == 2
    assert said("force names scene, which tasks does not include") in said(result.output)


def test_dag_test_refuses_bad_params_before_airflow_starts(home: Settings) -> None:
    conf = '{"use_frames": false, "use_audio": false}'
    result = runner.invoke(app, ["dag", "test", "train_scene", "--conf", conf])

    assert result.exit_code == 1
    assert said(
        "train_scene not run: params refused by TrainParams: params: Value error, "
        "at least one of use_frames and use_audio must be true"
    ) in said(result.output)
    assert not home.airflow_home.exists()  # Airflow never started


def test_version_prints_json_that_parses_however_long_its_paths(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pydantic import BaseModel

    class Versioned(BaseModel):
        revision: str
        path: str

    versioned = Versioned(revision="v3", path="/data/" + "deep/" * 40 + "catalog.parquet")
    monkeypatch.setattr("ops.catalog.lifecycle.version_catalog", lambda: versioned)

    result = runner.invoke(app, ["version"], terminal_width=80)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == versioned.model_dump()


def test_mood_video_refuses_an_unknown_mood_and_says_what_is_missing(
    home: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "out.mp4"
    unknown = runner.invoke(app, ["mood-video", "--mood", "purple", str(out)])
    assert unknown.exit_code == 2 and "bad option mood" in unknown.output
    nothing = runner.invoke(app, ["mood-video", "--mood", "calm", str(out)])
    assert nothing.exit_code == 1
    assert "no mood predictions yet: run catalog_refresh with a mood champion" in nothing.output
    assert not out.exists()


def test_transcript_prints_what_an_item_says_as_webvtt(home: Settings, catalog: Any) -> None:
    import shutil

    from ops.sample_site import words

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (make test installs it: Debian package espeak-ng)")
    catalog.write([catalog.media_row("monologue", words.spoken_clip())])
    said = runner.invoke(app, ["transcript", "monologue", "--lang", "en"])
    assert said.exit_code == 0, said.output
    assert said.output.startswith("WEBVTT\n\n00:00:00.")
    assert words.SPOKEN_WORD in said.output
    missing = runner.invoke(app, ["transcript", "nowhere"])
    assert missing.exit_code == 2 and "'nowhere' is not in the catalog" in missing.output
    unknown = runner.invoke(app, ["transcript", "monologue", "--lang", "xx"])
    assert unknown.exit_code == 2
