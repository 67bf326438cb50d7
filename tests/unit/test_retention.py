"""The retention sweep: due keys go with a tombstone, only by their owner, only if stale."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tables.retention import Retained, RetentionSweeper

HOUR = 3600.0


@dataclass
class FakeTable:
    """A table's local store and the tombstones it sent, as the sweep sees a faust Table."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    tombstones: list[tuple[int, str]] = field(default_factory=list)

    def send_changelog(self, partition: int, key: str, value: Any, **_: Any) -> None:
        assert value is None
        self.tombstones.append((partition, key))

    def write(self, sweeper: RetentionSweeper, key: str, at_s: float, p: int = 0, **more: Any):  # type: ignore[no-untyped-def]
        value = {"at_s": at_s, "p": p, **more}
        self.data[key] = value
        sweeper.note(self, key, value)


def sweeper_with(*tables: FakeTable, owned: set[int] | None = None) -> RetentionSweeper:
    sweeper = RetentionSweeper(lambda _table, p: owned is None or p in owned)
    for table in tables:
        sweeper.add(
            Retained(
                table,
                HOUR,
                open_retention_s=24 * HOUR,
                is_open=lambda value: value.get("done") is None,
            )
        )
    return sweeper


async def test_keys_are_deleted_with_a_tombstone_once_their_retention_has_passed() -> None:
    table = FakeTable("progress")
    sweeper = sweeper_with(table)
    table.write(sweeper, "a", at_s=0.0, done="x")
    table.write(sweeper, "b", at_s=1000.0, p=1, done="x")
    assert await sweeper.sweep(HOUR - 1) == 0
    assert await sweeper.sweep(HOUR + 1) == 1
    assert table.tombstones == [(0, "a")] and set(table.data) == {"b"}
    assert await sweeper.sweep(HOUR + 1000) == 1
    assert table.tombstones == [(0, "a"), (1, "b")] and table.data == {}


async def test_a_key_written_again_lives_a_retention_after_its_last_write() -> None:
    table = FakeTable("progress")
    sweeper = sweeper_with(table)
    table.write(sweeper, "a", at_s=0.0, done="x")
    table.write(sweeper, "a", at_s=HOUR / 2, done="x")
    assert await sweeper.sweep(HOUR + 1) == 0 and "a" in table.data
    assert await sweeper.sweep(1.5 * HOUR + 1) == 1


async def test_an_open_intent_lives_longer_and_does_not_hold_back_closed_ones() -> None:
    table = FakeTable("progress")
    sweeper = sweeper_with(table)
    table.write(sweeper, "open", at_s=0.0, done=None)
    table.write(sweeper, "closed", at_s=1.0, done="x")
    assert await sweeper.sweep(2 * HOUR) == 1 and set(table.data) == {"open"}
    assert await sweeper.sweep(25 * HOUR) == 1 and table.data == {}


async def test_keys_of_partitions_another_worker_owns_are_left_to_it() -> None:
    table = FakeTable("calls")
    sweeper = sweeper_with(table, owned={1})
    table.write(sweeper, "theirs", at_s=0.0, p=0, done="x")
    table.write(sweeper, "mine", at_s=0.0, p=1, done="x")
    assert await sweeper.sweep(2 * HOUR) == 1
    assert table.tombstones == [(1, "mine")] and set(table.data) == {"theirs"}


async def test_a_restarted_worker_finds_what_expires_in_its_store() -> None:
    table = FakeTable("plans")
    table.data = {
        "old": {"at_s": 0.0, "p": 2, "done": "x"},
        "new": {"at_s": 2 * HOUR, "p": 2, "done": "x"},
        "odd": "x",
    }
    sweeper = sweeper_with(table)
    assert await sweeper.rebuild() == 2
    assert await sweeper.sweep(2 * HOUR) == 1
    assert table.tombstones == [(2, "old")] and set(table.data) == {"new", "odd"}
