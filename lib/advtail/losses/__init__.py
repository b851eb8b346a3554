"""Losses: classification losses and class re-weighting (``classification``)."""
