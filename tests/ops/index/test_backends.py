"""One set of index tests, run against every search backend (Tantivy, SQLite FTS5 and
PostgreSQL); the facet-limit tests only against the SQL ones (Tantivy has no limit)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import psycopg
import pyarrow as pa
import pytest

from ops.index.layers import FullBuildNeeded
from ops.index.postgres_backend import PostgresSearchBackend, drop, validate_schema_name
from ops.index.query import FACETS, SearchBackend, SearchQuery
from ops.index.schema import DOCUMENT_SCHEMA
from ops.index.search_engine import FACET_MATCHES
from ops.index.sqlite_backend import SqliteSearchBackend
from ops.index.tantivy_backend import TantivySearchBackend

POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"


class BackendFactory(Protocol):
    def __call__(
        self, rows: list[dict[str, Any]], facet_matches: int = FACET_MATCHES
    ) -> SearchBackend: ...


def document(doc_id: str, level: str = "item", **fields: Any) -> dict[str, Any]:
    """A DOCUMENT_SCHEMA row: an item document, or a segment when ``level="segment"``."""
    row: dict[str, Any] = dict.fromkeys(DOCUMENT_SCHEMA.names)
    row.update(
        doc_id=doc_id,
        level=level,
        item_id=doc_id,
        kind="video",
        source="web",
        url=f"http://example.test/{doc_id}",
        tags=[],
        people=[],
        labels=[],
        genres=[],
        moods=[],
        lineage='[{"task": "scene", "model_name": "scene", "model_version": "3"}]',
        vector_row=-1,
    )
    row.update(fields)
    return row


def segment(item: dict[str, Any], label: str, start_s: float, end_s: float) -> dict[str, Any]:
    """A scene of ``item``: its metadata, one label, the span and the label's score."""
    return document(
        f"{item['doc_id']}#{label}@{start_s:g}",
        level="segment",
        **{
            key: item[key]
            for key in ("item_id", "kind", "title", "year", "people", "genres", "moods")
        },
        duration_s=end_s - start_s,
        labels=[label],
        start_s=start_s,
        end_s=end_s,
        score=0.875,
        vector_row=7,
    )


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA).to_pandas()


HARBOUR = document(
    "i1",
    title="Harbour Lights",
    description="A quiet film about a lighthouse keeper and the sea.",
    year=1999,
    duration_s=5400.0,
    tags=["drama", "sea"],
    people=["Ann Lee"],
    labels=["kiss", "beach"],
    genres=["drama"],
    moods=["calm"],
    vector_row=0,
)
QUICK = document(
    "i2",
    title="Kiss Me Quick",
    description="A comedy in the city.",
    year=2005,
    duration_s=3000.0,
    tags=["comedy"],
    people=["Bob Ray"],
    labels=["dance"],
    genres=["comedy"],
    moods=["happy"],
    vector_row=1,
)
NIGHT = document(
    "i3",
    title="City Night",
    description="A documentary with a famous kiss at night.",
    year=2015,
    duration_s=1200.0,
    people=["Ann Lee", "Cy Dee"],
    genres=["documentary"],
    moods=["dark"],
    vector_row=2,
)
SONG = document(
    "i4",
    kind="audio",
    title="Morning Song",
    year=2020,
    duration_s=200.0,
    genres=["jazz"],
    moods=["happy"],
)
UNDATED = document("i5", kind="image", title=None, description="An untitled photograph.")
SCENES = [
    segment(HARBOUR, "kiss", 10.0, 20.0),
    segment(HARBOUR, "beach", 30.0, 45.0),
    segment(NIGHT, "kiss", 5.0, 8.0),
]
CORPUS = [SONG, NIGHT, HARBOUR, SCENES[2], QUICK, SCENES[1], UNDATED, SCENES[0]]
LISTING = ["i3", "i1", "i2", "i4", "i5", "i3#kiss@5", "i1#kiss@10", "i1#beach@30"]
"""Item documents first, then by title, item, start time."""


def expected_facets(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    columns = {"label": "labels", "genre": "genres", "mood": "moods", "person": "people"}
    counts: dict[str, Counter[str]] = {facet: Counter() for facet in FACETS}
    for row in rows:
        counts["kind"][row["kind"]] += 1
        if row["year"] is not None:
            counts["year"][str(row["year"])] += 1
        for facet, column in columns.items():
            counts[facet].update(row[column])
    return {facet: dict(counter) for facet, counter in counts.items()}


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    try:
        with psycopg.connect(POSTGRES_DSN, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_DSN}: {error}")
    return POSTGRES_DSN


def _factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackendFactory]:
    """Build an index of the given documents with the backend ``request.param``, open it."""
    opened: list[SearchBackend] = []
    schemas: list[str] = []
    dsn = request.getfixturevalue("postgres_dsn") if request.param == "postgres" else ""

    def make(rows: list[dict[str, Any]], facet_matches: int = FACET_MATCHES) -> SearchBackend:
        documents = frame(rows)
        backend: SearchBackend
        if request.param == "tantivy":
            folder = tmp_path / f"search-{len(opened)}.tantivy"
            TantivySearchBackend.build(folder, documents)
            backend = TantivySearchBackend.open(folder)
        elif request.param == "sqlite":
            path = tmp_path / f"search-{len(opened)}.sqlite"
            SqliteSearchBackend.build(path, documents)
            backend = SqliteSearchBackend.open(path, facet_matches)
        else:
            schema = f"test_index_{uuid.uuid4().hex[:12]}"
            schemas.append(schema)
            PostgresSearchBackend.build(dsn, schema, documents)
            backend = PostgresSearchBackend.open(dsn, schema, facet_matches)
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        backend.close()
    for schema in schemas:
        drop(dsn, schema)


@pytest.fixture(params=["tantivy", "sqlite", "postgres"])
def backend_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackendFactory]:
    """Build an index of the given documents with one backend and open it."""
    yield from _factory(request, tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def sql_backend_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackendFactory]:
    """As backend_factory, for the backends that count facets over a limited match count."""
    yield from _factory(request, tmp_path)


@pytest.fixture
def corpus(backend_factory: BackendFactory) -> SearchBackend:
    return backend_factory(CORPUS)


def corpus_facets_of(backend: SearchBackend, query: SearchQuery) -> dict[str, dict[str, int]]:
    """The facets of every CORPUS document ``backend`` finds for ``query``."""
    found = set(ids(backend, **query.model_dump(exclude={"page", "page_size"})))
    return expected_facets([row for row in CORPUS if row["doc_id"] in found])


def ids(backend: SearchBackend, **query: Any) -> list[str]:
    return [hit.doc_id for hit in backend.search(SearchQuery(page_size=100, **query)).hits]


def test_a_title_match_outranks_a_label_and_a_description_match(corpus: SearchBackend) -> None:
    page = corpus.search(SearchQuery(q="kiss", level="item"))
    assert [hit.doc_id for hit in page.hits] == ["i2", "i1", "i3"]
    assert page.hits[0].score > page.hits[1].score > page.hits[2].score > 0


def test_words_are_anded_and_stemmed_and_a_star_matches_a_prefix(corpus: SearchBackend) -> None:
    assert ids(corpus, q="quiet lighthouse") == ["i1"]
    assert ids(corpus, q="quiet comedy") == []
    assert ids(corpus, q="lighthouses") == ["i1"]
    assert ids(corpus, q="harb*", level="item") == ["i1"]
    assert ids(corpus, q="harb", level="item") == []
    assert sorted(ids(corpus, q="Cy Dee")) == ["i3", "i3#kiss@5"]
    assert ids(corpus, q="the sea") == ["i1"]


def test_a_word_finds_the_words_that_join_it_to_digits(backend_factory: BackendFactory) -> None:
    backend = backend_factory(
        [
            document("o1", title="obama1"),
            document("o2", title="Trailer", description="The 1080p cut", tags=["take2"]),
            document("o3", title="Obama speaks"),
        ]
    )
    assert sorted(ids(backend, q="obama")) == ["o1", "o3"]
    assert ids(backend, q="obama1") == ["o1"]
    assert ids(backend, q="obama 1") == ["o1"]
    assert ids(backend, q="1080") == ["o2"]
    assert ids(backend, q="1080p") == ["o2"]
    assert ids(backend, q="take") == ["o2"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"level": "item"}, ["i3", "i1", "i2", "i4", "i5"]),
        ({"level": "segment"}, ["i3#kiss@5", "i1#kiss@10", "i1#beach@30"]),
        ({"kind": ["audio", "image"]}, ["i4", "i5"]),
        ({"year_min": 2005}, ["i3", "i2", "i4", "i3#kiss@5"]),
        ({"year_max": 2005}, ["i1", "i2", "i1#kiss@10", "i1#beach@30"]),
        ({"year_min": 2000, "year_max": 2010}, ["i2"]),
        ({"label": ["kiss"]}, ["i1", "i3#kiss@5", "i1#kiss@10"]),
        ({"label": ["kiss", "dance"], "level": "item"}, ["i1", "i2"]),
        ({"genre": ["documentary"]}, ["i3", "i3#kiss@5"]),
        ({"mood": ["happy"]}, ["i2", "i4"]),
        ({"person": ["Ann Lee"], "level": "item"}, ["i3", "i1"]),
        ({"person": ["Ann Lee"], "label": ["beach"]}, ["i1", "i1#beach@30"]),
        ({"min_duration_s": 1000}, ["i3", "i1", "i2"]),
        ({"max_duration_s": 12}, ["i3#kiss@5", "i1#kiss@10"]),
        (
            {"min_duration_s": 10, "max_duration_s": 3000},
            ["i3", "i2", "i4", "i1#kiss@10", "i1#beach@30"],
        ),
        ({"label": ["no-such-label"]}, []),
        ({"person": ["ann LEE"], "level": "item"}, ["i3", "i1"]),
        ({"label": ["KISS"], "level": "item"}, ["i1"]),
        ({"genre": ["Documentary"]}, ["i3", "i3#kiss@5"]),
        ({"mood": ["HAPPY"]}, ["i2", "i4"]),
        ({"kind": ["video"], "q": "kiss", "level": "segment"}, ["i3#kiss@5", "i1#kiss@10"]),
    ],
)
def test_each_filter_narrows_the_listing(
    corpus: SearchBackend, filters: dict[str, Any], expected: list[str]
) -> None:
    found = ids(corpus, **filters)
    if "q" in filters:
        assert sorted(found) == sorted(expected)
    else:
        assert found == expected
    assert corpus.search(SearchQuery(**filters)).total == len(expected)


@pytest.mark.parametrize(
    "query",
    [
        SearchQuery(),
        SearchQuery(level="segment"),
        SearchQuery(level="item"),
        SearchQuery(kind=["video"]),
        SearchQuery(q="kiss"),
        SearchQuery(person=["Ann Lee"], year_max=2010),
    ],
    ids=["all", "segments", "items", "kind", "text", "filtered"],
)
def test_facets_count_every_match(corpus: SearchBackend, query: SearchQuery) -> None:
    matches = set(ids(corpus, **query.model_dump(exclude={"page", "page_size"})))
    expected = expected_facets([row for row in CORPUS if row["doc_id"] in matches])
    page = corpus.search(query)
    assert page.total == len(matches)
    assert page.facets == expected
    assert (page.facets_exact, page.facets_counted) == (True, len(matches))


@pytest.mark.parametrize("query", [{"q": "kiss"}, {"q": "kiss", "kind": ["video"]}])
def test_facets_of_a_broad_search_count_its_best_ranked_matches_and_say_so(
    sql_backend_factory: BackendFactory, query: dict[str, Any]
) -> None:
    capped = sql_backend_factory(CORPUS, facet_matches=2)
    ranked = ids(sql_backend_factory(CORPUS), **query)
    page = capped.search(SearchQuery(**query))
    assert page.total == len(ranked) > 2
    assert (page.facets_exact, page.facets_counted) == (False, 2)
    best = [row for doc_id in ranked[:2] for row in CORPUS if row["doc_id"] == doc_id]
    assert page.facets == expected_facets(best)


@pytest.mark.parametrize(
    ("query", "sampled"),
    [
        ({"kind": ["video"]}, ["i2", "i3#kiss@5"]),
        ({"label": ["kiss", "beach"]}, ["i1", "i3#kiss@5"]),
        ({"level": "item", "kind": ["video"]}, ["i1"]),
    ],
)
def test_facets_of_a_broad_listing_count_an_even_sample_and_say_so(
    sql_backend_factory: BackendFactory, query: dict[str, Any], sampled: list[str]
) -> None:
    """Every k-th listing position (k = ceil(total / limit)) among the matches, at most
    the limit: positions 3, 6 of 6 videos; 2, 6 (not 8) of 4; 2 of 3 video items."""
    capped = sql_backend_factory(CORPUS, facet_matches=2)
    page = capped.search(SearchQuery(**query))
    assert page.total == len(ids(capped, **query)) > 2
    assert (page.facets_exact, page.facets_counted) == (False, len(sampled))
    assert page.facets == expected_facets([row for row in CORPUS if row["doc_id"] in sampled])


def test_facets_up_to_the_limit_are_exact(sql_backend_factory: BackendFactory) -> None:
    capped = sql_backend_factory(CORPUS, facet_matches=5)
    for query, total in ((SearchQuery(q="kiss"), 5), (SearchQuery(q="night"), 2)):
        page = capped.search(query)
        assert (page.total, page.facets_exact, page.facets_counted) == (total, True, total)
        assert page.facets == corpus_facets_of(capped, query)
    listing = capped.search(SearchQuery())
    assert (listing.total, listing.facets_exact, listing.facets_counted) == (8, True, 8)


def test_vector_candidates_beyond_the_limit_count_the_first_ones(
    sql_backend_factory: BackendFactory,
) -> None:
    capped = sql_backend_factory(CORPUS, facet_matches=2)
    page = capped.search(SearchQuery(), doc_ids=["i4", "i2", "i1", "i3"])
    assert (page.total, page.facets_exact, page.facets_counted) == (4, False, 2)
    assert page.facets["kind"] == {"audio": 1, "video": 1}
    assert [hit.doc_id for hit in page.hits] == ["i4", "i2", "i1", "i3"]


def test_pages_beyond_the_facet_limit_keep_the_order(sql_backend_factory: BackendFactory) -> None:
    capped = sql_backend_factory(CORPUS, facet_matches=2)
    for query in ({"q": "kiss"}, {"kind": ["video"]}, {"label": ["kiss", "beach"]}):
        whole = ids(sql_backend_factory(CORPUS), **query)
        pages = [capped.search(SearchQuery(page=n, page_size=2, **query)) for n in (1, 2, 3)]
        assert [hit.doc_id for page in pages for hit in page.hits] == whole[:6]
        assert {page.total for page in pages} == {len(whole)}


@pytest.mark.parametrize("limit", [0, -1])
def test_a_facet_limit_below_one_is_refused(tmp_path: Path, limit: int) -> None:
    path = tmp_path / "search.sqlite"
    SqliteSearchBackend.build(path, frame([HARBOUR]))
    with pytest.raises(ValueError, match="facet limit must be at least 1"):
        SqliteSearchBackend.open(path, facet_matches=limit)


def test_facets_keep_the_20_most_frequent_values(backend_factory: BackendFactory) -> None:
    rows = [
        document(f"d{n:02d}", title=f"clip {n}", people=[f"p{m:02d}" for m in range(n % 25 + 1)])
        for n in range(50)
    ]
    backend = backend_factory(rows)
    for query in (SearchQuery(), SearchQuery(q="clip")):
        people = backend.search(query).facets["person"]
        assert list(people) == [f"p{m:02d}" for m in range(20)]
        assert people["p00"] == 50
        assert people["p19"] == 2 * (25 - 19)


def test_pages_cover_every_match_once_in_order(corpus: SearchBackend) -> None:
    for query in ({}, {"q": "kiss"}, {"label": ["kiss", "beach"]}):
        whole = ids(corpus, **query)
        pages = [corpus.search(SearchQuery(page=n, page_size=3, **query)) for n in (1, 2, 3, 4)]
        assert [hit.doc_id for page in pages for hit in page.hits] == whole
        assert {page.total for page in pages} == {len(whole)}
        assert [len(page.hits) for page in pages][-1] == 0
        assert pages[1].page == 2 and pages[1].page_size == 3


def test_the_listing_is_items_first_by_title_then_scenes(corpus: SearchBackend) -> None:
    page = corpus.search(SearchQuery(page_size=100))
    assert [hit.doc_id for hit in page.hits] == LISTING
    assert {hit.score for hit in page.hits} == {0.0}
    assert {hit.snippet for hit in page.hits} == {None}


def test_hits_carry_the_document_fields_and_a_highlighted_snippet(corpus: SearchBackend) -> None:
    (hit,) = corpus.search(SearchQuery(q="lighthouse")).hits
    assert (hit.doc_id, hit.level, hit.item_id, hit.kind) == ("i1", "item", "i1", "video")
    assert (hit.title, hit.year, hit.duration_s, hit.labels) == (
        "Harbour Lights",
        1999,
        5400.0,
        ["kiss", "beach"],
    )
    assert hit.snippet is not None and "<b>lighthouse</b>" in hit.snippet
    (scene,) = corpus.search(SearchQuery(q="beach", level="segment")).hits
    assert (scene.start_s, scene.end_s, scene.labels) == (30.0, 45.0, ["beach"])
    assert scene.snippet == "Harbour Lights"


def test_doc_ids_keep_the_callers_order_and_the_filters(corpus: SearchBackend) -> None:
    ranked = ["i3#kiss@5", "i2", "missing", "i1", "i2"]
    page = corpus.search(SearchQuery(), doc_ids=ranked)
    assert [hit.doc_id for hit in page.hits] == ["i3#kiss@5", "i2", "i1"]
    assert page.total == 3
    assert [hit.score for hit in page.hits] == sorted(
        (hit.score for hit in page.hits), reverse=True
    )
    assert page.facets["kind"] == {"video": 3}
    narrowed = corpus.search(SearchQuery(level="item", year_min=2000), doc_ids=ranked)
    assert [hit.doc_id for hit in narrowed.hits] == ["i2"]
    second = corpus.search(SearchQuery(page=2, page_size=2), doc_ids=ranked)
    assert [hit.doc_id for hit in second.hits] == ["i1"]
    assert corpus.search(SearchQuery(), doc_ids=[]).total == 0


def test_item_documents_give_the_item_then_its_scenes_by_start(corpus: SearchBackend) -> None:
    found = corpus.item_documents("i1")
    assert [doc["doc_id"] for doc in found] == ["i1", "i1#kiss@10", "i1#beach@30"]
    assert corpus.item_documents("nope") == []


def test_documents_come_back_whole_in_the_order_asked(corpus: SearchBackend) -> None:
    asked = ["i1#kiss@10", "nope", "i5", "i1"]
    found = corpus.documents(asked)
    assert [doc["doc_id"] for doc in found] == ["i1#kiss@10", "i5", "i1"]
    by_id = {row["doc_id"]: row for row in CORPUS}
    for doc in found:
        assert doc == by_id[doc["doc_id"]]
    assert corpus.documents([]) == []


@pytest.mark.parametrize(
    ("text", "total"),
    [
        ('kiss"', 5),
        ("kiss*)", 5),
        ('"', 0),
        ("kiss OR", 0),
        ("title:kiss", 0),
        ("NEAR(kiss city)", 0),
        ("'; DROP TABLE documents; --", 0),
        ("kiss AND NOT", 0),
        ("*", 0),
        ("(((", 0),
        ("a:* & !b | <->", 0),
        ("\\x00 \\' %s {}", 0),
        ("çà et là", 0),
        ("!!!", 0),
    ],
)
def test_hostile_query_text_is_only_words(corpus: SearchBackend, text: str, total: int) -> None:
    page = corpus.search(SearchQuery(q=text))
    assert (page.total, len(page.hits)) == (total, total)
    assert corpus.search(SearchQuery()).total == len(CORPUS)


def test_an_empty_index_answers_with_nothing(backend_factory: BackendFactory) -> None:
    backend = backend_factory([])
    for query in (SearchQuery(), SearchQuery(q="kiss"), SearchQuery(kind=["video"])):
        page = backend.search(query)
        assert (page.total, page.hits) == (0, [])
        assert page.facets == {facet: {} for facet in FACETS}
    assert backend.search(SearchQuery(), doc_ids=["x"]).total == 0
    assert backend.item_documents("x") == []
    assert backend.documents(["x"]) == []


def test_searches_run_from_many_threads(corpus: SearchBackend) -> None:
    queries = [SearchQuery(q="kiss"), SearchQuery(label=["kiss"]), SearchQuery()] * 10
    with ThreadPoolExecutor(max_workers=4) as pool:
        totals = list(pool.map(lambda query: corpus.search(query).total, queries))
    assert totals == [5, 3, len(CORPUS)] * 10


def test_bad_documents_are_refused_with_the_reason(backend_factory: BackendFactory) -> None:
    with pytest.raises(ValueError, match="doc_id not unique"):
        backend_factory([HARBOUR, HARBOUR])


@pytest.mark.parametrize("name", ["Index", "x; DROP SCHEMA public", 'a"b', "1abc", "", "a" * 64])
def test_postgres_schema_names_must_be_plain_identifiers(name: str) -> None:
    with pytest.raises(ValueError, match="not a plain identifier"):
        validate_schema_name(name)


def test_postgres_drop_is_idempotent(postgres_dsn: str) -> None:
    schema = f"test_index_{uuid.uuid4().hex[:12]}"
    PostgresSearchBackend.build(postgres_dsn, schema, frame([HARBOUR]))
    drop(postgres_dsn, schema)
    drop(postgres_dsn, schema)
    with pytest.raises(LookupError, match="does not exist"):
        PostgresSearchBackend.open(postgres_dsn, schema)


@pytest.mark.parametrize(
    ("query", "doc_ids"),
    [
        ({"q": "kiss"}, None),
        ({"kind": ["video"]}, None),
        ({"label": ["kiss", "beach"]}, None),
        ({"q": "kis*"}, None),
        ({}, ["i4", "i2", "i1", "i3"]),
    ],
)
def test_tantivy_facets_count_every_match_however_broad(
    tmp_path: Path, query: dict[str, Any], doc_ids: list[str] | None
) -> None:
    """What the SQL backends cut at their facet limit, Tantivy counts in full."""
    TantivySearchBackend.build(tmp_path / "index", frame(CORPUS))
    backend = TantivySearchBackend.open(tmp_path / "index")
    page = backend.search(SearchQuery(page_size=2, **query), doc_ids)
    found = {
        hit.doc_id for hit in backend.search(SearchQuery(page_size=100, **query), doc_ids).hits
    }
    assert (page.total, page.facets_exact, page.facets_counted) == (len(found), True, len(found))
    assert page.facets == expected_facets([row for row in CORPUS if row["doc_id"] in found])


def test_words_said_or_shown_find_their_segment_with_a_snippet_from_them(
    backend_factory: BackendFactory,
) -> None:
    film = document(
        "f1",
        title="Harbour Lights",
        description="A quiet film about the sea.",
        transcript="the lighthouse keeper waves\nat the passing ships",
        screen_text="GRAND OPENING TONIGHT",
    )
    said = document(
        "f1/speech/0.5-2.9/0",
        level="segment",
        item_id="f1",
        title="Harbour Lights",
        description="A quiet film about the sea.",
        labels=["speech"],
        start_s=0.5,
        end_s=2.9,
        transcript="the lighthouse keeper waves",
    )
    shown = document(
        "f1/text/1-3/0",
        level="segment",
        item_id="f1",
        title="Harbour Lights",
        description="A quiet film about the sea.",
        labels=["text"],
        start_s=1.0,
        end_s=3.0,
        screen_text="GRAND OPENING TONIGHT",
    )
    backend = backend_factory([film, said, shown, QUICK])

    (phrase,) = backend.search(SearchQuery(q="lighthouse", level="segment")).hits
    assert (phrase.doc_id, phrase.start_s, phrase.end_s) == (said["doc_id"], 0.5, 2.9)
    assert phrase.snippet is not None and "<b>lighthouse</b> keeper" in phrase.snippet
    (caption,) = backend.search(SearchQuery(q="opening", level="segment")).hits
    assert (caption.doc_id, caption.start_s, caption.end_s) == (shown["doc_id"], 1.0, 3.0)
    assert caption.snippet is not None and "<b>OPENING</b>" in caption.snippet
    (item,) = backend.search(SearchQuery(q="passing ships", level="item")).hits
    assert item.doc_id == "f1" and item.snippet is not None and "<b>ships</b>" in item.snippet
    # a match in the metadata keeps the description's snippet
    (sea,) = backend.search(SearchQuery(q="sea", level="segment", label=["speech"])).hits
    assert sea.snippet is not None and "<b>sea</b>" in sea.snippet
    assert backend.documents([said["doc_id"]])[0]["transcript"] == said["transcript"]


def test_a_derived_tantivy_index_leaves_its_base_alone_and_answers_as_a_fresh_build(
    tmp_path: Path,
) -> None:
    base, derived, fresh = (tmp_path / name for name in ("base", "derived", "fresh"))
    TantivySearchBackend.build(base, frame(CORPUS))
    before = {path.name: path.read_bytes() for path in base.iterdir() if path.is_file()}
    retitled = HARBOUR | {"title": "Harbour at Dusk", "labels": ["beach"]}
    new = document("i6", title="Another Harbour", people=["Ann Lee"], year=1999)
    changed = [retitled, segment(retitled, "beach", 30.0, 45.0), new]
    TantivySearchBackend.update(base, derived, ["i1", "i5", "i6"], frame(changed))
    kept = [row for row in CORPUS if row["item_id"] not in {"i1", "i5"}]
    TantivySearchBackend.build(fresh, frame(kept + changed))

    assert {path.name: path.read_bytes() for path in base.iterdir() if path.is_file()} == before
    first = TantivySearchBackend.open(derived)
    second = TantivySearchBackend.open(fresh)
    try:
        for query in (
            SearchQuery(page_size=100),
            SearchQuery(q="harbour", page_size=100),
            SearchQuery(level="segment", page_size=100),
            SearchQuery(person=["Ann Lee"], page_size=100),
        ):
            one, other = first.search(query), second.search(query)
            assert (one.total, one.facets) == (other.total, other.facets)
            assert {hit.doc_id for hit in one.hits} == {hit.doc_id for hit in other.hits}
            if not query.q:
                assert [hit.doc_id for hit in one.hits] == [hit.doc_id for hit in other.hits]
        assert first.item_documents("i1") == second.item_documents("i1")
        assert first.item_documents("i5") == []
    finally:
        first.close()
        second.close()
    crowded = document("i7", people=["A", "B", "C", "D"])  # more people than base has columns
    with pytest.raises(FullBuildNeeded, match="person values"):
        TantivySearchBackend.update(base, tmp_path / "crowded", [], frame([crowded]))
    assert not (tmp_path / "crowded").exists()
