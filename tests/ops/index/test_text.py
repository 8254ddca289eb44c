"""Text handling: query words and prefixes, word parts, case folding."""

from __future__ import annotations

import pytest

from ops.index.text import Term, fold, query_terms, word_parts


def test_query_terms_keep_only_words_and_a_trailing_star() -> None:
    assert query_terms('Kiss "me" OR title:quick* -- ; DROP') == [
        Term("kiss", False),
        Term("me", False),
        Term("or", False),
        Term("title", False),
        Term("quick", True),
        Term("drop", False),
    ]
    assert query_terms("car_chase été 2024") == [
        Term("car", False),
        Term("chase", False),
        Term("été", False),
        Term("2024", False),
    ]
    assert query_terms('*"():^ !!') == []


@pytest.mark.parametrize("q", ["s*", "love st*", "a* b*"])
def test_a_prefix_shorter_than_three_letters_is_refused(q: str) -> None:
    with pytest.raises(ValueError, match="at least 3 letters before"):
        query_terms(q)


def test_a_three_letter_prefix_is_accepted() -> None:
    assert query_terms("sto*") == [Term("sto", True)]


def test_word_parts_split_only_words_that_join_letters_and_digits() -> None:
    assert word_parts(["obama1", None, ["Take2", "plain", "2024"], "1080p cut, obama1"]) == (
        "obama 1 Take 2 1080 p"
    )
    assert word_parts(["no digits here", "42"]) == ""


def test_fold_compares_values_whatever_their_case() -> None:
    assert fold(["Ada STONE", "Straße"]) == ["ada stone", "strasse"]
    assert fold(None) is None
