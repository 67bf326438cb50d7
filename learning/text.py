"""Intent and tool-description text: tokenizer, and BM25 ranking of tools by their descriptions."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from learning.stemmer import stem

# Function words plus the filler of requests to an assistant ("can you help me find ...").
# They say nothing about which tool fits; keeping them only adds noise to BM25 and to the
# learned word-tool associations. scikit-learn's English list plus request filler.
STOP_WORDS = frozenset(
    """a about above across after afterwards again against all almost alone along already also
    although always am among amongst an and another any anyhow anyone anything anyway anywhere
    are around as at back be became because become becomes becoming been before beforehand
    behind being below beside besides between beyond both but by can cannot could did do does
    doing done down due during each eg either else elsewhere enough etc even ever every everyone
    everything everywhere except few find for former formerly from further get give go had has
    have he hence her here hers herself hey hi him himself his how however i ie if im in indeed
    into is it its itself just keep know let like look looking made many may me meanwhile might
    mine more moreover most mostly much must my myself need neither never nevertheless next no
    nobody none noone nor not nothing now nowhere of off often on once one only onto or other
    others otherwise our ours ourselves out over own perhaps please plugin put rather same see
    seem seemed seeming seems several she should show since so some somehow someone something
    sometime sometimes somewhere still such tell than that the their them themselves then thence
    there thereafter thereby therefore therein thereupon these they this those though through
    throughout thru thus to together too tool toward towards under until up upon us use using
    very via want was we well were what whatever when whence whenever where whereafter whereas
    whereby wherein whereupon wherever whether which while whither who whoever whole whom whose
    why will with within without would yet you your yours yourself yourselves""".split()
)

_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"([a-z])([A-Z])")


def split_identifier(name: str) -> str:
    """'HouseRentingTool' / 'korea_subway' -> 'House Renting Tool' / 'korea subway'."""
    return _CAMEL.sub(r"\1 \2", name).replace("_", " ").replace(".", " ").replace("-", " ")


def words(text: str) -> list[str]:
    """Lower-case content words of ``text``, stop words and one-letter words dropped."""
    found = _WORD.findall(split_identifier(text).lower())
    return [w for w in found if len(w) > 1 and w not in STOP_WORDS]


def terms(text: str) -> list[str]:
    """Porter-stemmed content words, in order, repeats kept."""
    return [stem(w) for w in words(text)]


def unique_terms(text: str) -> list[str]:
    """Stemmed content words, first occurrence order, each once."""
    return list(dict.fromkeys(terms(text)))


def char_ngrams(tokens: Iterable[str], n: int) -> list[str]:
    """Character n-grams of each token with word boundaries marked, for fuzzy matching."""
    grams: list[str] = []
    for token in tokens:
        marked = f"^{token}$"
        grams.extend(marked[i : i + n] for i in range(max(1, len(marked) - n + 1)))
    return grams


class BM25:
    """Okapi BM25 over a fixed set of documents (Robertson & Zaragoza 2009)."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float, b: float) -> None:
        self._n_docs = len(documents)
        lengths = np.array([len(d) for d in documents], dtype=float)
        norm = k1 * (1.0 - b + b * lengths / max(float(lengths.mean()), 1e-9))
        postings: dict[str, list[tuple[int, int]]] = {}
        for doc_id, document in enumerate(documents):
            for term, count in Counter(document).items():
                postings.setdefault(term, []).append((doc_id, count))
        # The documents are fixed, so each term's contribution to each document's score is
        # too: computed once here, a query only adds them up.
        self._contributions: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        for term, found in postings.items():
            ids = np.array([doc_id for doc_id, _ in found], dtype=np.int64)
            tf = np.array([count for _, count in found], dtype=float)
            weight = self.idf(len(found)) * tf * (k1 + 1.0) / (tf + norm[ids])
            self._contributions[term] = (ids, weight)

    def idf(self, df: int) -> float:
        """Lucene's non-negative idf of a term found in ``df`` documents:
        ln(1 + (N - df + 0.5) / (df + 0.5))."""
        return math.log(1.0 + (self._n_docs - df + 0.5) / (df + 0.5))

    def scores(self, query: Iterable[str]) -> npt.NDArray[np.float64]:
        out = np.zeros(self._n_docs)
        for term in dict.fromkeys(query):  # a word repeated in the query counts once
            found = self._contributions.get(term)
            if found is not None:
                ids, weight = found
                out[ids] += weight  # ids are distinct: one posting per document
        return out


@dataclass(frozen=True)
class TextConfig:
    """How descriptions are ranked. Defaults were tuned on a dev split of MetaTool's train part."""

    k1: float = 1.6  # descriptions are one or two sentences: let a repeated word count a bit more
    b: float = 0.5  # lengths vary 5-60 words; full normalisation (0.75) penalised long ones
    name_repeats: int = 2  # a tool's own name ('JobTool') is its best keyword: count it twice
    gram: int = 3  # character trigrams catch morphology Porter misses ('finance'/'financial')
    word_weight: float = 0.6  # word BM25 is more precise; trigrams only break its ties/misses
    # With a sentence encoder, the description prior mixes BM25's log-softmax with that of the
    # embeddings' cosine (temperature 0.02: a cosine 0.02 higher is one nat). Half and half:
    # MetaTool dev cold top-1 58.4 % against 45.9 % BM25 alone and 54.7 % embeddings alone.
    embedding_weight: float = 0.5
    embedding_temperature: float = 0.02


class DescriptionIndex:
    """Ranks tools by how well their name, description and keywords match an intent's text."""

    def __init__(self, documents: Sequence[str], config: TextConfig | None = None) -> None:
        self.config = config or TextConfig()
        word_docs = [terms(doc) for doc in documents]
        gram_docs = [char_ngrams(words(doc), self.config.gram) for doc in documents]
        self._words = BM25(word_docs, self.config.k1, self.config.b)
        self._grams = BM25(gram_docs, self.config.k1, self.config.b)
        self.size = len(documents)

    @staticmethod
    def document(name: str, description: str, keywords: Iterable[str] = ()) -> str:
        """The text indexed for one tool."""
        repeats = TextConfig.name_repeats
        return " ".join([split_identifier(name)] * repeats + [description, *keywords])

    @staticmethod
    def sentence(name: str, description: str, keywords: Iterable[str] = ()) -> str:
        """The text a sentence encoder embeds for one tool: 'House Renting Tool: ...'."""
        extra = f" ({', '.join(keywords)})" if keywords else ""
        return f"{split_identifier(name)}: {description}{extra}"

    def scores(self, text: str) -> npt.NDArray[np.float64]:
        """Fused relevance in [0, 1] per document: each ranker scaled by its best score."""
        word_scores = self._words.scores(terms(text))
        gram_scores = self._grams.scores(char_ngrams(dict.fromkeys(words(text)), self.config.gram))
        fused = np.zeros(self.size)
        for part, weight in ((word_scores, self.config.word_weight),
                             (gram_scores, 1.0 - self.config.word_weight)):  # fmt: skip
            top = float(part.max()) if part.size else 0.0
            if top > 0.0:
                fused += weight * part / top
        return fused
