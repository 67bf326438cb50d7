"""Consistent-hash assignment of experiment units to variants: stable, keyed, independent.

A unit (``context["user"]``, else the intent id) falls into a bucket in [0, 1) given by a
BLAKE2b hash of the experiment id and the unit, so the same unit gets the same variant on
every worker, after every restart and in every Python process (Python's own ``hash`` of a
str changes per process). Putting the experiment id into the hash makes two experiments'
buckets independent: a user early in one experiment's range is anywhere in another's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from models.experiments import Experiment, Variant

# 8 bytes: 2**64 buckets, far finer than any share anyone configures.
_DIGEST_BYTES = 8
_SCALE = float(2 ** (8 * _DIGEST_BYTES))


def assignment_unit(intent_id: str, context: Mapping[str, str]) -> str:
    """The unit an intent is assigned as: its user when the context names one, else itself."""
    user = context.get("user")
    return f"user:{user}" if user else f"intent:{intent_id}"


def bucket(experiment_id: str, unit: str) -> float:
    """Where ``unit`` falls in ``experiment_id``'s [0, 1) range."""
    # The experiment id is length-prefixed, so ("ab", "c") and ("a", "bc") hash differently.
    message = f"{len(experiment_id)}:{experiment_id}\x00{unit}".encode()
    digest = hashlib.blake2b(message, digest_size=_DIGEST_BYTES, person=b"toolwise-ab").digest()
    return int.from_bytes(digest, "big") / _SCALE


def assign(experiment_id: str, unit: str, shares: Sequence[tuple[str, float]]) -> str | None:
    """The variant whose slice of [0, 1) holds the unit's bucket, in the order given.

    Shares may sum to less than 1: units past their sum are not in the experiment (None).
    """
    at = bucket(experiment_id, unit)
    edge = 0.0
    for name, share in shares:
        edge += share
        if at < edge:
            return name
    return None


def assigned_variant(
    experiments: Sequence[Experiment], intent_id: str, context: Mapping[str, str], at: float
) -> tuple[Experiment, Variant] | None:
    """The experiment and variant that plan this intent, if any.

    At most one experiment plans an intent: the earliest started active one whose shares
    take its unit in (shares below 1 leave traffic for later experiments). Each experiment
    hashes the unit with its own id, so being taken in by one says nothing of another.
    """
    unit = assignment_unit(intent_id, context)
    for experiment in sorted(experiments, key=lambda e: (e.started_at, e.experiment_id)):
        if not experiment.active(at):
            continue
        name = assign(experiment.experiment_id, unit, experiment.shares())
        variant = experiment.variant(name) if name is not None else None
        if variant is not None:
            return experiment, variant
    return None
