"""Versions by intent-id hash (canary shares) and nodes by health and latency."""

from __future__ import annotations

import random
from collections import Counter

from models.registry import NodeStatus
from tools.mesh.policy import MeshPolicy
from tools.mesh.routing import NodeChoice, canary_bucket, choose_version, order_nodes

POLICY = MeshPolicy()


def test_a_canary_takes_its_share_of_intents_and_an_intent_always_the_same_version() -> None:
    chosen = Counter(
        choose_version("units.convert", f"intent-{i}", "1", ("2", 0.1)) for i in range(2000)
    )
    assert abs(chosen["2"] / 2000 - 0.1) <= 0.03, chosen
    again = [choose_version("units.convert", f"intent-{i}", "1", ("2", 0.1)) for i in range(50)]
    assert again == [
        choose_version("units.convert", f"intent-{i}", "1", ("2", 0.1)) for i in range(50)
    ]


def test_canary_buckets_of_two_tools_are_independent() -> None:
    a = [canary_bucket("a.t", f"i{n}") < 0.5 for n in range(1000)]
    b = [canary_bucket("b.t", f"i{n}") < 0.5 for n in range(1000)]
    agree = sum(x == y for x, y in zip(a, b, strict=True)) / 1000
    assert 0.45 < agree < 0.55


def test_no_canary_or_a_canary_of_the_active_version_sends_everything_to_it() -> None:
    assert {choose_version("t", f"i{n}", "1", None) for n in range(100)} == {"1"}
    assert {choose_version("t", f"i{n}", "1", ("1", 0.5)) for n in range(100)} == {"1"}


def first_choices(choices: list[NodeChoice], draws: int = 4000) -> Counter[str]:
    rng = random.Random(3)
    return Counter(order_nodes(choices, POLICY, rng)[0] for _ in range(draws))


def test_the_faster_node_gets_more_traffic_and_equal_nodes_share_it() -> None:
    fast_slow = first_choices(
        [NodeChoice("a", NodeStatus.ONLINE, 10.0), NodeChoice("b", NodeStatus.ONLINE, 40.0)]
    )
    assert 0.75 < fast_slow["a"] / 4000 < 0.85  # weights 1/10 : 1/40
    equal = first_choices(
        [NodeChoice("a", NodeStatus.ONLINE, 10.0), NodeChoice("b", NodeStatus.ONLINE, 10.0)]
    )
    assert 0.45 < equal["a"] / 4000 < 0.55


def test_a_degraded_node_gets_less_traffic_but_not_none_and_an_offline_one_none() -> None:
    counts = first_choices(
        [
            NodeChoice("ok", NodeStatus.ONLINE, 10.0),
            NodeChoice("slow", NodeStatus.DEGRADED, 10.0),
            NodeChoice("down", NodeStatus.OFFLINE, 1.0),
        ]
    )
    assert counts["down"] == 0
    assert 0.05 < counts["slow"] / 4000 < 0.15  # a tenth of an equal ONLINE node's weight


def test_the_failover_order_follows_the_weights_and_leaves_offline_nodes_out() -> None:
    order = order_nodes(
        [
            NodeChoice("down", NodeStatus.OFFLINE, 1.0),
            NodeChoice("slow", NodeStatus.DEGRADED, 20.0),
            NodeChoice("fast", NodeStatus.ONLINE, 5.0),
            NodeChoice("new", NodeStatus.ONLINE, None),
        ],
        POLICY,
        random.Random(0),
    )
    assert "down" not in order and sorted(order) == ["fast", "new", "slow"]
    assert order[-1] == "slow"
    assert (
        order_nodes([NodeChoice("down", NodeStatus.OFFLINE, 1.0)], POLICY, random.Random(0)) == []
    )
