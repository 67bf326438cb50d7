"""Benchmarks of the learning engine: tool selection on MetaTool, and cost/quality trade-off."""
