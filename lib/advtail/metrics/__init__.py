"""Metrics: classification accuracy per class and per head/body/tail group (``classification``)."""
