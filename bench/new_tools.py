"""The new-tools scenario of ``bench.selection``: tools registered halfway through the stream.

``--new-tools N`` picks N tools (seeded) that join the catalogue only at the middle of the
stream; intents labelled with them are held out until then. The report compares them with
the tools that were there from the start: in the second half as the stream's own rankings
saw them (the first try, and the label among the first five), quarter by quarter beside the
old tools' own first quarters from a cold start, and on the test queries at the end.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.tools import ToolSpec

WINDOWS = 4  # quarters of each half: enough to see a learning curve, each a few hundred intents


def choose(
    tools: Sequence[ToolSpec], train: Sequence[tuple[str, str]], n: int, seed: int
) -> list[str]:
    """``n`` tools that label some training queries, chosen with ``seed`` (sorted names)."""
    if n <= 0:
        return []
    labelled = sorted({label for _, label in train} & {t.name for t in tools})
    if n >= len(labelled):
        raise ValueError(f"--new-tools {n}: only {len(labelled)} tools label training queries")
    picked = np.random.default_rng(seed + 2).choice(len(labelled), size=n, replace=False)
    return sorted(labelled[int(i)] for i in picked)


def _rates(first: Sequence[bool], top5: Sequence[bool]) -> dict[str, float | int]:
    n = len(first)
    return {
        "top1": round(sum(first) / n, 4) if n else float("nan"),
        "top5": round(sum(top5) / n, 4) if n else float("nan"),
        "n": n,
    }


def _curve(
    rows: Sequence[tuple[bool, bool]],
) -> list[dict[str, float | int]]:
    parts = np.array_split(np.arange(len(rows)), WINDOWS)
    return [_rates([rows[i][0] for i in p], [rows[i][1] for i in p]) for p in parts]


def report(
    joining: Sequence[str],
    half: int,
    steps: Sequence[int],
    labels: Sequence[str],
    first_try: Sequence[bool],
    top5: Sequence[bool],
    test_labels: Sequence[str],
    test_hits: Sequence[tuple[bool, bool]],
    held_out: int,
) -> dict[str, object]:
    """The scenario's figures (see the module docstring); ``steps``, ``labels``, ``first_try``
    and ``top5`` describe each streamed intent, ``test_hits`` each test query's greedy ranking."""
    new = set(joining)
    rows = list(zip(steps, labels, first_try, top5, strict=True))
    second_new = [(f, t) for s, lab, f, t in rows if s >= half and lab in new]
    second_old = [(f, t) for s, lab, f, t in rows if s >= half and lab not in new]
    first_old = [(f, t) for s, lab, f, t in rows if s < half and lab not in new]
    test_new = [h for lab, h in zip(test_labels, test_hits, strict=True) if lab in new]
    test_old = [h for lab, h in zip(test_labels, test_hits, strict=True) if lab not in new]
    return {
        "tools": list(joining),
        "joined_at_step": half,
        "held_out_intents": held_out,  # labelled with a new tool before it joined: not streamed
        "second_half": {
            "new": _rates([f for f, _ in second_new], [t for _, t in second_new]),
            "old": _rates([f for f, _ in second_old], [t for _, t in second_old]),
        },
        "second_half_quarters": {"new": _curve(second_new), "old": _curve(second_old)},
        # The old tools' own learning curve from a cold start, to compare how fast each converges:
        "first_half_quarters_old": _curve(first_old),
        "test": {
            "new": _rates([h[0] for h in test_new], [h[1] for h in test_new]),
            "old": _rates([h[0] for h in test_old], [h[1] for h in test_old]),
        },
    }
