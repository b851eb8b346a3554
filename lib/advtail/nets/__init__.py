"""Networks: classifiers (``classifiers``), building and loading them (``checkpoints``)."""
