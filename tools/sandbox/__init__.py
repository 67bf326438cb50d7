"""Generated tools in a sandbox: a static allowlist, a restricted runtime, OS isolation.

``judge`` decides on a GeneratedToolSubmitted (static layer, name, schema);
``SandboxPool`` runs a tool's ``run(**args)`` in pre-forked bubblewrap workers under
seccomp and rlimits; ``SandboxToolClient`` serves accepted tools to the registry.
"""

from tools.sandbox.client import SandboxToolClient
from tools.sandbox.exceptions import SandboxError, SandboxUnavailable
from tools.sandbox.judge import judge
from tools.sandbox.limits import SandboxLimits
from tools.sandbox.outcome import Reason, SandboxOutcome
from tools.sandbox.pool import SandboxPool
from tools.sandbox.static import Rule, StaticVerdict, check_source

__all__ = [
    "Reason",
    "Rule",
    "SandboxError",
    "SandboxLimits",
    "SandboxOutcome",
    "SandboxPool",
    "SandboxToolClient",
    "SandboxUnavailable",
    "StaticVerdict",
    "check_source",
    "judge",
]
