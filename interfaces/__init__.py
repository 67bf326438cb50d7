"""Entry points on top of the core: the CLI, the client, the worker, demo, dashboard, replay.

Everything here may import every other layer; nothing below imports from here.
"""
