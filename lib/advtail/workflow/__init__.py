"""Glue between Snakemake and the library: rule inputs from the import graph, rule logs."""
