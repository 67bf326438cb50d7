"""Toolwise's stream processors and their pure logic.

One module per Faust agent, named after it (``plan_intents``, ``execute_plans``,
``learn_from_executions``); importing it registers the agent on the
app (``interfaces.worker`` does). The pure modules (``plan_builder``, ``step_runner``,
``outcome_assembly``, ``ranking``) import no Faust.
"""

AGENT_MODULES = (
    "agents.plan_intents",
    "agents.execute_plans",
    "agents.learn_from_executions",
)
