"""Stages: one module per rule, files in and files out.

Each module reads its rule's inputs (canonical arrays, model files, tables), calls the
maths of the layers below (data, nets, losses, metrics, training), and writes the rule's
outputs. Only stages do file I/O of results, and only stages import ``plots``.
"""
