"""BM25 document search over the bundled docs and over a folder the test writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.servers.docsearch import DEFAULT_DOCS_DIR, Bm25, DocIndex, tokenize


@pytest.fixture(scope="module")
def bundled() -> DocIndex:
    return DocIndex.from_folder(DEFAULT_DOCS_DIR)


def test_bundled_docs_are_indexed(bundled: DocIndex) -> None:
    assert len(bundled.documents) >= 10
    assert all(doc.title and doc.paragraphs for doc in bundled.documents)


@pytest.mark.parametrize(
    ("query", "best"),
    [
        ("kafka consumer group offsets", "kafka.md"),
        ("exponential backoff with jitter", "retries.md"),
        ("thompson sampling for choosing a tool", "bandits.md"),
        ("redis ttl cache key", "caching.md"),
        ("faust agents and tables changelog", "faust.md"),
        ("model context protocol transports", "mcp.md"),
    ],
)
def test_best_hit_is_the_relevant_document(bundled: DocIndex, query: str, best: str) -> None:
    hits = bundled.search(query, top_k=3)
    assert hits[0].path == best
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_top_k_and_no_match(bundled: DocIndex) -> None:
    assert len(bundled.search("tool", top_k=2)) <= 2
    assert bundled.search("zebra xylophone", top_k=5) == []
    assert bundled.search("the of and", top_k=5) == []  # stopwords only


def test_snippet_is_the_matching_paragraph(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Alpha\n\nNothing here.\n\nThe walrus sings at dawn.\n")
    (tmp_path / "b.txt").write_text("Beta text about penguins.\n")
    (tmp_path / "ignored.bin").write_text("walrus walrus walrus")
    index = DocIndex.from_folder(tmp_path)
    assert sorted(d.path for d in index.documents) == ["a.md", "b.txt"]
    [hit] = index.search("walrus", top_k=3)
    assert (hit.path, hit.title, hit.snippet) == ("a.md", "Alpha", "The walrus sings at dawn.")


def test_empty_and_missing_folders(tmp_path: Path) -> None:
    assert DocIndex.from_folder(tmp_path).search("anything") == []
    with pytest.raises(FileNotFoundError):
        DocIndex.from_folder(tmp_path / "missing")


def test_tokenize_folds_plurals_and_drops_stopwords() -> None:
    assert tokenize("The Retries of Agents") == ["retry", "agent"]


def test_idf_stays_positive_on_tiny_corpora() -> None:
    # Classic Okapi idf is log(1) = 0 for a term in one of two documents.
    bm25 = Bm25([["walrus"], ["penguin"]])
    first, second = bm25.scores(["walrus"])
    assert first > 0 and second == 0
