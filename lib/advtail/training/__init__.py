"""Training: one classifier trainer (``classifier``), checkpoints and resume (``checkpointing``),
learning-rate schedules (``schedules``), devices and seeds (``runtime``)."""
