"""Text handling shared by both search backends: query words, word parts, case folding.

Written once so the SQLite and PostgreSQL backends read a query the same way (the same
notion of a search word and of a prefix) and index the same extra word parts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_TERM = re.compile(r"([^\W_]+)(\*?)")
_WORD = re.compile(r"[^\W_]+")
_LETTERS_OR_DIGITS = re.compile(r"\d+|[^\W\d_]+")


@dataclass(frozen=True)
class Term:
    """One search word; ``prefix`` when the user wrote ``word*`` (matches words starting so)."""

    text: str
    prefix: bool


MIN_PREFIX_LETTERS = 3


def query_terms(q: str) -> list[Term]:
    """The words of a user query: runs of letters and digits, ANDed by the backends.

    Everything else (quotes, operators, SQL, column filters) is a separator, so no user
    text can reach the FTS5 or tsquery syntax; a ``*`` right after a word makes it a prefix.
    A prefix needs ``MIN_PREFIX_LETTERS``: ``s*`` would match nearly every document and
    rank them all (seconds at 10^6 documents) for no useful answer.
    """
    terms = [Term(word.lower(), star == "*") for word, star in _TERM.findall(q)]
    short = [
        f"{term.text}*" for term in terms if term.prefix and len(term.text) < MIN_PREFIX_LETTERS
    ]
    if short:
        raise ValueError(
            f"a prefix search needs at least {MIN_PREFIX_LETTERS} letters before '*' "
            f"(got {', '.join(short)})"
        )
    return terms


def word_parts(values: Iterable[str | list[str] | None]) -> str:
    """The letter and digit runs of each word that joins both (``obama1``: ``obama 1``),
    each once, to index beside the text.

    Both backends' tokenizers keep such a word whole, so without its parts ``obama``
    would not find the item titled ``obama1``.
    """
    texts = (
        text for value in values if value for text in ([value] if isinstance(value, str) else value)
    )
    parts = (
        part
        for text in texts
        for word in _WORD.findall(text)
        if not word.isdigit() and not word.isalpha()
        for part in _LETTERS_OR_DIGITS.findall(word)
    )
    return " ".join(dict.fromkeys(parts))


def fold(values: list[str] | None) -> list[str] | None:
    """Facet values in the form filters compare them (case-insensitive: ``casefold``)."""
    return None if values is None else [value.casefold() for value in values]
