"""bench.cpu_profile buckets a worker's py-spy stacks into the hops a reader compares."""

from __future__ import annotations

from collections import Counter

from bench.cpu_profile import hop_costs

WORKER = "run_worker (interfaces/worker.py:120)"
LOOP = "_run_once (asyncio/base_events.py:1922)"


def test_the_worker_entry_point_does_not_name_a_hop() -> None:
    stacks = Counter(
        {
            (WORKER, LOOP, "handle (agents/plan_intents.py:80)", "encode (json/encoder.py:1)"): 3,
            (WORKER, LOOP, "send (aiokafka/producer/producer.py:500)"): 2,
            (WORKER, LOOP, "submit (interfaces/api/intents.py:40)"): 1,
            (WORKER, LOOP): 4,
        }
    )
    costs = hop_costs(stacks, intents=1)
    hops = costs["by_hop"]
    assert set(hops) == {"planner", "Kafka client", "web port", "other"}
    assert hops["other"] > hops["planner"] > hops["Kafka client"] > hops["web port"] > 0
