"""Figures (matplotlib, Agg backend) drawn from the pipeline's tables."""
