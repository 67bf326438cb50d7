"""Faust patches and partition helpers: never commit past an unprocessed offset, never skip one."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any, NamedTuple

from aiokafka import TopicPartition
from intervaltree import IntervalTree

from streams.faust_patches import (
    _new_offset_without_holes,
    _seek_to_committed_or_beginning,
    _table_manager_on_start_at_once,
    _verify_event_path_with_position,
)
from streams.partitions import HoleWatchdog, hold, release

TP = ("tw-intents", 0)


def consumer(committed: int | None, acked: list[int]) -> Any:
    return SimpleNamespace(
        _acked=defaultdict(list, {TP: list(acked)}),
        _acked_index=defaultdict(set, {TP: set(acked)}),
        _committed_offset=defaultdict(lambda: None, {TP: committed}),
        _gap=defaultdict(IntervalTree),
    )


def test_contiguous_acks_commit_past_the_last_one() -> None:
    assert _new_offset_without_holes(consumer(5, [5, 6, 7]), TP) == 8


def test_one_unprocessed_message_holds_the_commit_back() -> None:
    # Offset 5 was never acked: Faust 0.15.3 alone would commit 8 here.
    assert _new_offset_without_holes(consumer(5, [6, 7]), TP) is None


def test_the_commit_moves_once_the_hole_is_filled() -> None:
    c = consumer(5, [6, 7])
    assert _new_offset_without_holes(c, TP) is None
    c._acked[TP].append(5)
    c._acked_index[TP].add(5)
    assert _new_offset_without_holes(c, TP) == 8


def test_a_fresh_partition_does_not_commit_past_a_call_still_running_at_its_head() -> None:
    # Never committed (None): Faust 0.15.3 skips its head check and would commit 3 while
    # offset 0 is still being handled by one of the executor's 16 actors.
    c = consumer(None, [1, 2])
    running = SimpleNamespace(tp=TP, offset=0, acked=False)
    c._unacked_messages = [running]
    assert _new_offset_without_holes(c, TP) is None
    running.acked = True
    c._acked[TP].insert(0, 0)
    c._acked_index[TP].add(0)
    assert _new_offset_without_holes(c, TP) == 3


def test_a_record_left_to_the_next_owner_holds_the_commit_back() -> None:
    # Cancelled at shutdown, then acked by Faust's stream anyway: not past it, ever, here.
    c = consumer(5, [5, 6, 7])
    hold(TP, 6)
    try:
        assert _new_offset_without_holes(c, TP) is None
        assert _new_offset_without_holes(consumer(5, [5]), TP) == 6  # below it: fine
    finally:
        release(TP, 6)
    assert _new_offset_without_holes(c, TP) == 8


class FakeConsumer:
    def __init__(self, tp: Any, committed: int, highwater: int, acked: list[int]) -> None:
        self.tp = tp
        self._committed_offset = {tp: committed}
        self._highwater = highwater
        self._acked = {tp: acked}
        self._unacked_messages: list[Any] = []
        self._read_offset = {tp: highwater - 1}
        self.seeks: list[tuple[Any, int]] = []
        self.resumed: list[Any] = []

    def assignment(self) -> set[Any]:
        return {self.tp}

    async def highwaters(self, *tps: Any) -> dict[Any, int]:
        return {tp: self._highwater for tp in tps}

    async def earliest_offsets(self, *tps: Any) -> dict[Any, int]:
        return {tp: 0 for tp in tps}

    def resume_partitions(self, tps: set[Any]) -> None:
        self.resumed.extend(tps)

    async def seek(self, tp: Any, offset: int) -> None:
        self.seeks.append((tp, offset))


def fake_app(consumer: FakeConsumer, queued: int = 0) -> Any:
    queue = SimpleNamespace(qsize=lambda: queued)
    return SimpleNamespace(
        consumer=consumer,
        rebalancing=False,
        flow_control=SimpleNamespace(is_active=lambda: True, _queues=[queue]),
        tables=SimpleNamespace(changelog_topics=set()),
        topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
    )


class Part(NamedTuple):
    topic: str
    partition: int


PART = Part("tw-intents", 1)


async def test_a_partition_stuck_behind_a_hole_is_read_again_from_the_committed_offset() -> None:
    consumer = FakeConsumer(PART, committed=5, highwater=9, acked=[6, 7, 8])
    watchdog = HoleWatchdog(fake_app(consumer), checks=3)
    for _ in range(2):
        await watchdog.check()
    assert consumer.seeks == []  # not before `checks` checks in a row
    await watchdog.check()
    assert consumer.seeks == [(PART, 5)]
    assert consumer.resumed == [PART]


async def test_a_partition_never_read_is_read_from_the_log_start() -> None:
    consumer = FakeConsumer(PART, committed=0, highwater=29, acked=[])
    consumer._committed_offset[PART] = None  # type: ignore[assignment]
    consumer._read_offset[PART] = None  # type: ignore[assignment]
    watchdog = HoleWatchdog(fake_app(consumer), checks=3)
    for _ in range(3):
        await watchdog.check()
    assert consumer.seeks == [(PART, 0)]


async def test_work_in_flight_or_queued_is_not_a_hole() -> None:
    in_flight = FakeConsumer(PART, committed=5, highwater=9, acked=[6, 7, 8])
    in_flight._unacked_messages = [SimpleNamespace(tp=PART, offset=5, acked=False)]
    queued = FakeConsumer(PART, committed=5, highwater=9, acked=[6, 7, 8])
    caught_up = FakeConsumer(PART, committed=9, highwater=9, acked=[])
    for consumer, app in [
        (in_flight, fake_app(in_flight)),
        (queued, fake_app(queued, queued=3)),
        (caught_up, fake_app(caught_up)),
    ]:
        watchdog = HoleWatchdog(app, checks=3)
        for _ in range(5):
            await watchdog.check()
        assert consumer.seeks == []


async def test_a_commit_that_moves_resets_the_count() -> None:
    consumer = FakeConsumer(PART, committed=5, highwater=20, acked=[7])
    watchdog = HoleWatchdog(fake_app(consumer), checks=3)
    for committed in (5, 5, 6, 6):
        consumer._committed_offset[PART] = committed
        await watchdog.check()
    assert consumer.seeks == []


class SeekingConsumer:
    """Faust's aiokafka consumer as far as the seek after a rebalance goes."""

    def __init__(self, committed: dict[Any, int | None], changelogs: set[str]) -> None:
        self.sought: dict[Any, int] = {}

        async def seek_to_committed() -> dict[Any, int | None]:
            return dict(committed)

        async def earliest_offsets(*tps: Any) -> dict[Any, int]:
            return {tp: 3 for tp in tps}  # older records deleted by retention

        async def seek_wait(offsets: dict[Any, int]) -> None:
            self.sought.update(offsets)

        self._thread = SimpleNamespace(
            seek_to_committed=seek_to_committed,
            earliest_offsets=earliest_offsets,
            seek_wait=seek_wait,
        )
        self.app = SimpleNamespace(
            tables=SimpleNamespace(changelog_topics=changelogs),
            topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
        )


async def test_stream_partitions_never_committed_are_read_from_the_log_start() -> None:
    # aiokafka seeks only where the committed offset is above 0; the rest would
    # keep whatever position the fetcher had, past records Faust threw away.
    never = Part("tw-tool-calls", 1)
    zero = Part("tw-intents", 0)
    committed = Part("tw-plans", 0)
    changelog = Part("tw-progress-changelog", 0)
    consumer = SeekingConsumer(
        {never: None, zero: 0, committed: 7, changelog: None}, changelogs={changelog.topic}
    )
    offsets = await _seek_to_committed_or_beginning(consumer)
    assert consumer.sought == {never: 3, zero: 3}
    assert offsets[committed] == 7  # Faust still learns the committed offsets


def consumer_thread(positions: dict[Any, int | None]) -> Any:
    states = {
        tp: SimpleNamespace(has_valid_position=position is not None)
        for tp, position in positions.items()
    }
    assignment = SimpleNamespace(state_value=states.get)
    subscriptions = SimpleNamespace(subscription=SimpleNamespace(assignment=assignment))
    return SimpleNamespace(
        _consumer=SimpleNamespace(_fetcher=SimpleNamespace(_subscriptions=subscriptions))
    )


def test_the_livelock_check_skips_partitions_without_a_position(monkeypatch: Any) -> None:
    import streams.faust_patches as fixes

    checked: list[Any] = []
    monkeypatch.setattr(fixes, "_verify_event_path", lambda self, now, tp: checked.append(tp))
    resetting, reading = TopicPartition("tw-intents", 0), TopicPartition("tw-intents", 1)
    thread = consumer_thread({resetting: None, reading: 7})
    for tp in (resetting, reading, TopicPartition("tw-intents", 2)):  # 2: not assigned
        _verify_event_path_with_position(thread, 0.0, tp)
    assert checked == [reading]  # Faust's check would assert on the other two


async def test_the_table_manager_starts_recovery_without_waiting_a_second() -> None:
    done: list[str] = []

    async def sleep(seconds: float) -> None:
        raise AssertionError(f"slept {seconds} s: every table is registered before the start")

    async def update_channels() -> None:
        done.append("channels")

    async def start_recovery() -> None:
        done.append("recovery")

    manager = SimpleNamespace(
        should_stop=False,
        sleep=sleep,
        _update_channels=update_channels,
        recovery=SimpleNamespace(start=start_recovery),
    )
    await _table_manager_on_start_at_once(manager)
    assert done == ["channels", "recovery"]
