"""Toolwise's stream processors and their pure logic.

One module per Faust agent, named after it (``plan_intents``, ``execute_plans``,
``learn_from_executions``, ``observe_outcomes``, ``prewarm_sessions``,
``track_node_health``, ``judge_generated_tools``); importing it
registers the agent on the app (``interfaces.worker`` does). The pure modules
(``plan_builder``, ``step_runner``, ``outcome_assembly``, ``outcome_observation``,
``ranking``) import no Faust.
"""

AGENT_MODULES = (
    "agents.plan_intents",
    "agents.execute_plans",
    "agents.learn_from_executions",
    "agents.observe_outcomes",
    "agents.prewarm_sessions",
    "agents.keep_budgets",
    "agents.track_node_health",
    "agents.judge_generated_tools",
)
