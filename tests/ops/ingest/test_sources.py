from pathlib import Path

import pytest

from ops.ingest.sources import HttpSource, LocalSource, SourceConfigError, load_sources
from ops.settings import REPO_ROOT


def test_repository_registry_loads() -> None:
    sources = load_sources(REPO_ROOT / "sources.yaml")
    assert isinstance(sources["sample-site"], HttpSource)
    assert isinstance(sources["inbox"], LocalSource)


def test_env_expansion_and_default_hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITE_PORT", "9000")
    path = tmp_path / "s.yaml"
    path.write_text(
        "sources:\n  - name: web\n    kind: http\n"
        "    start_urls: ['http://Example.org:${SITE_PORT}/a', 'http://x.test/${MISSING:-b}']\n"
    )
    source = load_sources(path)["web"]
    assert isinstance(source, HttpSource)
    assert source.start_urls == ["http://Example.org:9000/a", "http://x.test/b"]
    assert source.hosts() == frozenset({"example.org", "x.test"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sources: [{name: a, kind: ftp}]", "invalid source"),
        ("sources: [{name: a, kind: local, path: /x}, {name: a, kind: local, path: /y}]", "twice"),
        ("sources: [{name: 'Bad Name', kind: local, path: /x}]", "invalid source"),
        ("sources: [{name: a, kind: http, start_urls: ['${NOPE}']}]", "NOPE is not set"),
        ("sources: [unclosed", "not valid YAML"),
    ],
)
def test_malformed_registry_is_refused_clearly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SourceConfigError, match=message):
        load_sources(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceConfigError, match="not found"):
        load_sources(tmp_path / "none.yaml")
