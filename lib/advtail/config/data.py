"""Cross-checks of the ``datasets`` and ``subsets`` sections."""

from __future__ import annotations

from advtail.config.schema import PROFILE_LINK, _check_variant, _require_defined
from advtail.errors import ConfigError


def _check_datasets(datasets: dict, variants: dict) -> None:
    for name, cfg in datasets.items():
        _check_variant(cfg, f"datasets.{name}", variants["dataset"], "source", "source")


def _check_subsets(subsets: dict, datasets: dict, variants: dict) -> None:
    for name, cfg in subsets.items():
        key = f"subsets.{name}"
        _require_defined(f"{key}.dataset", cfg["dataset"], datasets, "datasets")
        _check_variant(cfg, key, variants["subset"], "profile", "profile")
    for name, cfg in subsets.items():
        seen = [name]
        while cfg["profile"] in PROFILE_LINK and cfg.get(PROFILE_LINK[cfg["profile"]]):
            link = PROFILE_LINK[cfg["profile"]]
            key = f"subsets.{seen[-1]}.{link}"
            target = cfg[link]
            _require_defined(key, target, subsets, "subsets")
            if subsets[target]["dataset"] != cfg["dataset"]:
                raise ConfigError(
                    key,
                    f"expected a subset of dataset '{cfg['dataset']}'; "
                    f"'{target}' is of '{subsets[target]['dataset']}'",
                    target,
                )
            if target in seen:
                raise ConfigError(
                    key, f"subsets refer to each other in a cycle {seen + [target]}", target
                )
            seen.append(target)
            cfg = subsets[target]


PART_NAMES = {
    "arch": "architecture",
    "loss": "loss",
    "reweighting": "re-weighting",
    "optimizer": "optimizer",
}
