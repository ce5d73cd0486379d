"""What a user's search query becomes: words, never syntax (roost.search.queries)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.dialects import sqlite

from roost.search.dialects import SQLITE
from roost.search.queries import MAX_QUERY_CHARS, MAX_TERMS, search_terms


def test_terms_are_the_words_that_have_a_letter_or_digit() -> None:
    assert search_terms('  Hello "world" * AND ( ) 😀 -x 42 ') == \
        ["Hello", '"world"', "AND", "-x", "42"]
    assert search_terms("a a A") == ["a", "A"]  # repeats once (case is the index's job)
    assert search_terms("a\x00b") == ["a", "b"]  # PostgreSQL refuses NUL in text
    assert search_terms("") == search_terms(" \t\n") == search_terms("* ( ) 😀") == []


def test_a_query_is_bounded() -> None:
    assert len(search_terms(" ".join(f"w{n}" for n in range(100)))) == MAX_TERMS
    assert search_terms("x" * 10_000) == ["x" * MAX_QUERY_CHARS]


HOSTILE = ['"', '""a""', "*", "a*", "NEAR(a", "a:b", "^a", "AND", "OR", "NOT", "(", ")",
           "'", "\\", "{a}", "-a", "+a", "a\"b", "é", "ß"]


@pytest.mark.parametrize("word", HOSTILE)
def test_sqlite_match_expressions_are_quoted_words(word: str) -> None:
    """Every term becomes an FTS5 string: FTS5 parses the expression without error,
    whatever the user typed."""
    terms = search_terms(f"x{word} {word}x")
    compiled = SQLITE.matches(terms).compile(dialect=sqlite.dialect())
    assert "MATCH" in str(compiled)
    [expression] = compiled.params.values()
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(document)")
    db.execute("INSERT INTO f (document) VALUES ('y')")
    assert db.execute("SELECT rowid FROM f WHERE document MATCH ?", (expression,)).fetchall() == []
