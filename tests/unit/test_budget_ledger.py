"""Budget arithmetic: reservations keep the limit, settlements are charged once per call."""

from __future__ import annotations

from agents.budget_ledger import Entry, Reservation, Tally, crossed, reserve, settle, split_charge

WINDOW = (0.0, 86400.0)


def test_a_reservation_that_fits_is_held_and_one_that_does_not_is_denied_with_the_numbers() -> None:
    tally = Tally(spent=6.0, reserved=1.0)
    granted = reserve(tally, None, Reservation("user:ann", "user:ann", 3.0), 10.0, WINDOW)
    assert granted.verdict == "grant"
    assert granted.tally.reserved == 4.0 and granted.portions == {"user:ann": 3.0}

    denied = reserve(granted.tally, None, Reservation("user:ann", "user:ann", 0.5), 10.0, WINDOW)
    assert denied.verdict == "deny"
    assert denied.tally == granted.tally  # nothing held for a denied call
    assert denied.denial is not None
    assert (denied.denial.scope, denied.denial.limit) == ("user:ann", 10.0)
    assert (denied.denial.spent, denied.denial.reserved) == (6.0, 4.0)
    assert denied.denial.remaining == 0.0 and denied.denial.requested == 0.5
    assert (denied.denial.window_start, denied.denial.window_end) == WINDOW


def test_a_reservation_read_twice_is_answered_the_same_and_held_once() -> None:
    request = Reservation("tool:a.b", "tool:a.b", 2.0)
    first = reserve(Tally(), None, request, 10.0, WINDOW)
    again = reserve(first.tally, first.entry, request, 10.0, WINDOW)
    assert again.verdict == "grant" and again.tally == first.tally
    assert again.portions == first.portions


def test_a_redelivered_settlement_is_not_charged_twice() -> None:
    held = reserve(Tally(), None, Reservation("global", "global", 2.0), 10.0, WINDOW)
    tally, entry = settle(held.tally, held.entry, 1.5)
    assert (tally.spent, tally.reserved) == (1.5, 0.0)
    again, same = settle(tally, entry, 1.5)
    assert again == tally and same == entry


def test_a_settlement_without_a_reservation_counts_the_spend_and_the_call() -> None:
    tally, entry = settle(Tally(spent=1.0, calls=2), None, 0.25)
    assert (tally.spent, tally.calls, entry.state) == (1.25, 3, "settled")


def test_the_overshoot_is_bounded_by_what_reserved_calls_cost_beyond_their_estimates() -> None:
    # 64 calls estimated at 1 against a limit of 10, in any order, each costing 1.5 in the end:
    # 10 are granted, so spend reaches at most 10 * 1.5, i.e. the limit plus their excess.
    tally, entries = Tally(), {}
    for n in range(64):
        outcome = reserve(tally, None, Reservation("user:u", "user:u", 1.0), 10.0, WINDOW)
        tally = outcome.tally
        if outcome.verdict == "grant":
            entries[n] = outcome.entry
    assert len(entries) == 10 and tally.reserved == 10.0
    for entry in entries.values():
        tally, _ = settle(tally, entry, 1.5)
    assert tally.spent == 15.0 and tally.spent <= 10.0 + len(entries) * (1.5 - 1.0)


def test_a_global_reservation_walks_the_shards_and_keeps_the_global_limit() -> None:
    # Four shards of a limit of 8 hold 2 each; shard 0 has 1.5 spent, so 3 takes 0.5 there
    # and walks on with 2.5.
    first = reserve(
        Tally(spent=1.5), None, Reservation("global", "global#0", 3.0, shards=4), 8.0, WINDOW
    )
    assert first.verdict == "forward" and first.next_key == "global#1"
    assert abs(first.rest - 2.5) < 1e-9 and first.portions == {"global#0": 0.5}
    onward = Reservation(
        "global", "global#1", first.rest, shards=4, hops=1, portions=first.portions,
        seen_spent=first.seen_spent, seen_reserved=first.seen_reserved,
    )  # fmt: skip
    second = reserve(Tally(), None, onward, 8.0, WINDOW)
    assert second.verdict == "forward" and second.portions == {"global#0": 0.5, "global#1": 2.0}
    last = Reservation("global", "global#3", 8.0, shards=4, hops=3, seen_spent=7.0)
    denied = reserve(Tally(spent=1.0), None, last, 8.0, WINDOW)
    assert denied.verdict == "deny" and denied.denial is not None
    assert denied.denial.spent == 8.0 and denied.denial.scope == "global"


def test_an_alert_is_due_once_when_spend_passes_the_share() -> None:
    assert not crossed(7.9, 10.0, 0.8, alerted=False)
    assert crossed(8.0, 10.0, 0.8, alerted=False)
    assert not crossed(9.0, 10.0, 0.8, alerted=True)
    assert not crossed(9.0, None, 0.8, alerted=False)


def test_a_call_reserved_over_shards_is_charged_in_proportion_to_what_each_held() -> None:
    assert split_charge({"global#0": 1.0, "global#1": 3.0}, 2.0, "global#0") == {
        "global#0": 0.5,
        "global#1": 1.5,
    }
    assert split_charge({}, 2.0, "global#2") == {"global#2": 2.0}


def test_entries_and_tallies_survive_their_table_values() -> None:
    entry = Entry("reserved", held=1.0, passed_on=0.5)
    assert Entry.of(entry.value()) == entry
    tally = Tally(1.0, 2.0, 3, True)
    assert Tally.of({**tally.value(), "at_s": 1.0, "p": 0}) == tally
