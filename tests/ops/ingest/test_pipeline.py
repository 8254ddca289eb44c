"""One source's ingest: a failure of the whole source is staged, never raised."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ops.ingest.crawl import Discovery, SiteCrawler
from ops.ingest.pipeline import ingest_source, list_source_names
from ops.ingest.sources import SourceConfigError
from ops.settings import Settings


def test_a_source_that_fails_as_a_whole_is_staged_incomplete_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(self: SiteCrawler, declared: object = ()) -> Discovery:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(SiteCrawler, "discover", crash)
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n  - name: broken\n    kind: http\n    start_urls: ['https://films.example/']\n"
    )
    settings = Settings(home=tmp_path / "home", sources_file=sources)

    staged = ingest_source("broken", settings=settings)

    assert not staged.complete  # so the merge keeps the source's items as they were
    assert json.loads(Path(staged.items_path).read_text()) == []
    refusals = pd.read_parquet(staged.refusals_path)
    assert refusals[["url", "check", "reason"]].to_dict(orient="records") == [
        {
            "url": "https://films.example/",
            "check": "source",
            "reason": "source failed (RecursionError: maximum recursion depth exceeded); "
            "its items are kept as they were",
        }
    ]


def test_the_chosen_sources_are_crawled_and_an_unknown_one_is_refused_by_name(
    tmp_path: Path,
) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n"
        f"  - {{name: inbox, kind: local, path: {tmp_path}}}\n"
        f"  - {{name: attic, kind: local, path: {tmp_path}}}\n"
    )
    settings = Settings(home=tmp_path / "home", sources_file=sources)

    assert list_source_names(settings) == ["attic", "inbox"]
    assert list_source_names(settings, ["inbox"]) == ["inbox"]
    with pytest.raises(SourceConfigError) as refused:
        list_source_names(settings, ["inbox", "cellar"])
    assert str(refused.value) == (
        f"unknown source 'cellar': {sources} names attic, inbox; choose among these"
    )
