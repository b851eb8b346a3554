"""advtail: adversarial learning under class imbalance.

Subpackages are grouped by concept (``data``, ``plots``, ``workflow``, ...). This
file deliberately imports nothing: the workflow derives each rule's inputs from
the import graph, and an import here would make every rule depend on every module.
"""

__version__ = "0.1.0"
