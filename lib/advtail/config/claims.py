"""Cross-checks of the ``claims`` section: the tables, methods and threats each claim reads."""

from __future__ import annotations

from advtail.config.selections import claim_methods
from advtail.errors import ConfigError
from advtail.workflow.catalog import claim_premises


def _check_claims(config: dict) -> None:
    """Each claim reads tables the config makes, and its treatment, control and premises
    name methods of those tables (a missing control is an error before any job)."""
    threats = (config.get("robustness") or {}).get("threats") or {}
    for claim_id, claim in (config.get("claims") or {}).items():
        key = f"claims.{claim_id}"
        conditions = claim_premises(claim)
        several = isinstance(claim.get("premise"), list)
        # (key, table, method or None, where) of the claim and of each premise
        reads = [(key, claim["table"], None, claim.get("where"))]
        for i, premise in enumerate(conditions):
            premise_key = f"{key}.premise" + (f".{i}" if several else "")
            reads.append(
                (
                    premise_key,
                    premise.get("table", claim["table"]),
                    premise.get("method"),
                    premise.get("where"),
                )
            )
            if not {"at_least", "at_most"} & set(premise):
                raise ConfigError(
                    premise_key, "expected a bound: at_least or at_most", has_value=False
                )
        named = [(f"{key}.treatment", claim["treatment"])]
        if isinstance(claim["control"], str):
            named.append((f"{key}.control", claim["control"]))
        for read_key, table, method, where in reads:
            methods = claim_methods(table, config)
            if methods is None:
                raise ConfigError(
                    f"{read_key}.table" if read_key != key else f"{key}.table",
                    f"expected a table this config makes; it makes no '{table}' table",
                    table,
                )
            checks = named if read_key == key else [(f"{read_key}.method", method)] * bool(method)
            for name_key, name in checks:
                if name not in methods:
                    raise ConfigError(
                        name_key,
                        f"expected a method of the {table} table ({', '.join(methods)})",
                        name,
                    )
            threat = (where or {}).get("threat")
            if threat is not None and threat not in threats:
                raise ConfigError(
                    f"{read_key}.where.threat",
                    f"expected a threat defined under 'robustness.threats' ({sorted(threats)})",
                    threat,
                )
        if claim["treatment"] == claim["control"]:
            raise ConfigError(
                f"{key}.control", "expected a method other than the treatment", claim["control"]
            )
