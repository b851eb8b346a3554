"""Data sources, the canonical on-disk array format, and long-tailed subsets.

Modules: ``arrays`` (canonical ``.npz`` + JSON sidecar), ``sources`` (digits,
CIFAR-10/100, image folders), ``profiles`` (per-class count vectors), ``subsets``
(index selection and the subset files). Nothing is imported here on purpose.
"""
