"""Toolwise's stream processors (planner, executor, completer) and their pure logic.

The Faust agents register on the app when their modules are imported;
streams.worker imports them. The pure modules import no Faust.
"""

AGENT_MODULES = ("agents.planner", "agents.executor", "agents.completer", "agents.learner")
