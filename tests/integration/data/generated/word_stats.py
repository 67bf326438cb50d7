from collections import Counter
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Stats:
    words: int
    distinct: int
    top: list


def run(text, top=1):
    words = text.lower().split()
    if not words:
        raise ValueError("no words to count")
    counts = Counter(words)
    return asdict(Stats(len(words), len(counts), counts.most_common(top)))
