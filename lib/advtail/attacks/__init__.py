"""Adversarial attacks: one class per attack behind one call, ``attack(model, x, y)``."""
