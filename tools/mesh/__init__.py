"""The tool mesh: versions and nodes of every tool, their health, and where each call goes.

Pure except ``router`` (which calls the nodes): ``catalog`` folds the registry topic,
``health`` judges a node from its probes and calls, ``breaker`` stops calling a failing
node for a while, ``routing`` picks a version by intent-id hash and a node by weight.
"""

from tools.mesh.breaker import CircuitBreaker, CircuitState
from tools.mesh.catalog import RegistryState, Routing, VersionInfo
from tools.mesh.health import NodeHealth, Observation, observe, probe_due
from tools.mesh.policy import MeshPolicy
from tools.mesh.router import MeshRouter
from tools.mesh.routing import NodeChoice, canary_bucket, choose_version, order_nodes

__all__ = [
    "CircuitBreaker",
    "CircuitState",
    "MeshPolicy",
    "MeshRouter",
    "NodeChoice",
    "NodeHealth",
    "Observation",
    "RegistryState",
    "Routing",
    "VersionInfo",
    "canary_bucket",
    "choose_version",
    "observe",
    "order_nodes",
    "probe_due",
]
