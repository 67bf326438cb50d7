"""MCP server ``docsearch``: BM25 search over a folder of markdown and text documents."""

from __future__ import annotations

import argparse
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from tools.conventions import LOCAL_READ_ONLY, tool_error, tool_meta, tool_result
from tools.servers._serve import SERVER_LOG_LEVEL, main_for

__all__ = ["DEFAULT_DOCS_DIR", "Bm25", "DocIndex", "Hit", "build_server", "main", "tokenize"]

DEFAULT_DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"
_SUFFIXES = (".md", ".markdown", ".txt")
# A stray log or data dump in the folder must not eat the server's memory.
_MAX_FILE_BYTES = 1_000_000
_SNIPPET_CHARS = 300
MAX_TOP_K = 20

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how i if in into is it its of on or so that the "
    "their then there these this to was what when where which who why will with you your".split()
)


def _stem(word: str) -> str:
    # Plural folding only: enough for 'retries'/'retry' and 'agents'/'agent'
    # without a stemmer's surprises on short technical words.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lowercased words without stopwords, plurals folded."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


@dataclass(frozen=True)
class Document:
    path: str
    title: str
    text: str
    paragraphs: tuple[str, ...]


class Hit(BaseModel):
    path: str = Field(description="Relative to the docs folder.")
    title: str
    score: float
    snippet: str


class SearchResults(BaseModel):
    query: str
    hits: list[Hit]


def _title(path: Path, text: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem.replace("-", " ").replace("_", " ")


def _paragraphs(text: str) -> tuple[str, ...]:
    blocks = (" ".join(block.split()) for block in re.split(r"\n\s*\n", text))
    return tuple(b for b in blocks if b and not b.startswith("#"))


class Bm25:
    """Okapi BM25 with Lucene's idf, ``log(1 + (N - n + 0.5) / (n + 0.5))``.

    rank_bm25's BM25Okapi uses the classic idf, which is zero or negative for a
    term in half the documents or more: on a ten-document folder a good match
    could score nothing. Lucene's form stays positive and ranks the same way.
    """

    def __init__(self, corpus: list[list[str]], k1: float = 1.5, b: float = 0.75) -> None:
        # k1 and b are the usual defaults (k1 in 1.2..2.0, b = 0.75).
        self.k1, self.b = k1, b
        self.frequencies = [Counter(doc) for doc in corpus]
        self.lengths = [len(doc) for doc in corpus]
        self.average_length = (sum(self.lengths) / len(corpus)) if corpus else 0.0
        containing = Counter(term for doc in corpus for term in set(doc))
        n_docs = len(corpus)
        self.idf = {
            term: math.log(1 + (n_docs - n + 0.5) / (n + 0.5)) for term, n in containing.items()
        }

    def scores(self, query: list[str]) -> list[float]:
        out = []
        for frequencies, length in zip(self.frequencies, self.lengths, strict=True):
            norm = self.k1 * (1 - self.b + self.b * length / (self.average_length or 1.0))
            out.append(
                sum(
                    self.idf[term] * frequencies[term] * (self.k1 + 1) / (frequencies[term] + norm)
                    for term in query
                    if frequencies[term]
                )
            )
        return out


class DocIndex:
    """BM25 over every markdown/text file under a folder, one entry per file."""

    def __init__(self, documents: list[Document]) -> None:
        self.documents = documents
        self._bm25 = Bm25([tokenize(f"{doc.title} {doc.text}") for doc in documents])

    @classmethod
    def from_folder(cls, folder: Path | str) -> DocIndex:
        root = Path(folder)
        if not root.is_dir():
            raise FileNotFoundError(f"docs folder {root} does not exist")
        documents = []
        for path in sorted(
            p for p in root.rglob("*") if p.suffix.lower() in _SUFFIXES and p.is_file()
        ):
            if path.stat().st_size > _MAX_FILE_BYTES:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            documents.append(
                Document(str(path.relative_to(root)), _title(path, text), text, _paragraphs(text))
            )
        return cls(documents)

    def search(self, query: str, top_k: int = 3) -> list[Hit]:
        """The best ``top_k`` documents with a positive score, best first."""
        terms = tokenize(query)
        if not terms:
            return []
        scores = self._bm25.scores(terms)
        ranked = sorted(range(len(self.documents)), key=lambda i: -scores[i])
        return [
            Hit(
                path=self.documents[i].path,
                title=self.documents[i].title,
                score=round(float(scores[i]), 4),
                snippet=self._snippet(self.documents[i], terms),
            )
            for i in ranked[:top_k]
            if scores[i] > 0
        ]

    @staticmethod
    def _snippet(doc: Document, terms: list[str]) -> str:
        wanted = set(terms)
        best = max(doc.paragraphs, key=lambda p: len(wanted & set(tokenize(p))), default=doc.text)
        return best if len(best) <= _SNIPPET_CHARS else best[: _SNIPPET_CHARS - 1].rstrip() + "…"


_PATTERNS = (
    # 'documentation' before 'docs?': alternatives are tried in order, and 'doc' would
    # otherwise match and leave 'umentation' in the query.
    r"(?i)(?:search|look up|lookup|find)\s+(?:the\s+)?(?:documentation|docs?)?\s*"
    r"(?:for|about|on)?\s*(?P<query>.+)",
    r"(?i)(?P<query>(?:what|how|why|explain|describe)\b.+)",
)
_KEYWORDS = ("search", "docs", "documentation", "explain", "what is", "how does", "why", "describe")


def build_server(docs_dir: Path | str | None = None) -> MCPServer[Any]:
    """The docsearch server over ``docs_dir`` (default: the bundled tools/docs)."""
    index = DocIndex.from_folder(docs_dir if docs_dir is not None else DEFAULT_DOCS_DIR)
    server: MCPServer[Any] = MCPServer("docsearch", version="1", log_level=SERVER_LOG_LEVEL)

    def search(
        query: str, top_k: Annotated[int, Field(ge=1, le=MAX_TOP_K)] = 3
    ) -> Annotated[CallToolResult, SearchResults]:
        """Search the docs (Kafka, Faust, MCP, retries, Toolwise); return the best passages."""
        if not tokenize(query):
            return tool_error(f"query {query!r} has no searchable words")
        hits = index.search(query, top_k)
        lines = [
            f"{n}. {h.title} ({h.path}, score {h.score:.2f}): {h.snippet}"
            for n, h in enumerate(hits, 1)
        ]
        text = "\n".join(lines) or f"no document matches {query!r}"
        return tool_result(SearchResults(query=query, hits=hits).model_dump(), text)

    server.add_tool(
        search,
        annotations=LOCAL_READ_ONLY,
        meta=tool_meta(patterns=_PATTERNS, keywords=_KEYWORDS, version="1", cacheable=True),
    )
    return server


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--docs-dir", type=Path, default=None, help=f"folder to index (default {DEFAULT_DOCS_DIR})"
    )


main = main_for(
    "docsearch",
    "BM25 document search over MCP.",
    lambda args: build_server(args.docs_dir),
    _add_options,
)

if __name__ == "__main__":
    main(None)
