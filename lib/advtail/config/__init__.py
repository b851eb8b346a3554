"""Validation of the experiment config: JSON schema, then cross-references.

``validate_config`` raises one :class:`ConfigError` whose message names the key
(dotted path, e.g. ``subsets.lt10.imbalance_ratio``) and what was expected. On
success it fills the schema's defaults into the config in place.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema

from advtail.config.claims import _check_claims
from advtail.config.classifiers import _check_classifiers, _check_finetuned
from advtail.config.data import PART_NAMES, _check_datasets, _check_subsets
from advtail.config.files import (
    SAFE_LOADER,
    DuplicateKeyError,
    UniqueKeyLoader,
    canonical,
    finite_numbers,
    load_schema,
    load_yaml,
    unaliased,
)
from advtail.config.gans import _check_gans
from advtail.config.robustness import ONE_CLASS_SOURCES, _check_robustness
from advtail.config.schema import (
    PROFILE_LINK,
    _error_to_config_error,
    _fill_defaults,
    schema_variants,
    variant_tables,
)
from advtail.config.seeds import (
    GAN_CLASSIFIER_REFERENCES,
    MAX_SEED,
    SEED_KEYS,
    check_seeds,
    every_seed,
    expand_seeds,
    replicate_name,
)
from advtail.config.selections import (
    LONG_TAILED_PROFILES,
    NO_CAS,
    UAP_PRIOR_GANS,
    adversarial_classifiers,
    adversarial_training_threat,
    claim_methods,
    discriminator_classifiers,
    figure_attack,
    figure_threat,
    finetuned_classifiers,
    gan_annotator,
    gan_cas_classifier,
    gan_labeller,
    is_long_tailed,
    robust_gan_comparison,
    uap_prior_gan_config,
    uap_prior_victim,
    uap_prior_victims,
    uap_sweep_budgets,
)
from advtail.config.shrink import shrink_config
from advtail.config.uaps import RESIDUAL_ARCHITECTURES, _check_uaps
from advtail.errors import ConfigError


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Validate ``config`` against the schema and its cross-references; fill defaults.

    Raises :class:`ConfigError` with one line naming the first bad key. Returns
    ``config`` itself, completed with defaults.
    """
    fresh = unaliased(config)
    config.clear()
    config.update(fresh)
    finite_numbers(config)
    if isinstance(config.get("seeds"), list):
        # `--config seeds=[0,1]` arrives as strings (Snakemake reads lists with YAML's
        # BaseLoader); whole numbers are what was meant
        config["seeds"] = [
            int(s) if isinstance(s, str) and s.strip().isdigit() else s for s in config["seeds"]
        ]
    if str(config.get("shrink")).lower() in ("true", "false"):
        config["shrink"] = str(config["shrink"]).lower() == "true"  # `--config shrink=true`
    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise _error_to_config_error(best)
    check_seeds(config)
    variants = schema_variants(schema)
    _check_datasets(config["datasets"], variants)
    _check_subsets(config["subsets"], config["datasets"], variants)
    _check_classifiers(
        config.get("classifiers", {}), config["subsets"], config["datasets"], variants
    )
    _check_gans(config.get("gans", {}), config.get("classifiers", {}), config["subsets"], variants)
    _check_finetuned(config.get("classifiers", {}), config.get("gans", {}), config["subsets"])
    _check_robustness(
        config.get("robustness") or {},
        config.get("classifiers", {}),
        config["subsets"],
        config["datasets"],
    )
    _fill_defaults(config, schema, schema)
    _check_uaps(
        config.get("uaps") or {},
        config.get("classifiers", {}),
        config["subsets"],
        config["datasets"],
    )
    for name, cfg in config["datasets"].items():
        if cfg["source"] == "patches" and cfg.get("min_scale", 0.1) > cfg.get("max_scale", 0.5):
            raise ConfigError(
                f"datasets.{name}.min_scale",
                f"expected at most max_scale ({cfg.get('max_scale', 0.5)})",
                cfg["min_scale"],
            )
    from advtail.metrics.fid_backbone import resolve_fid_backbone

    if config["evaluation"]["reference_split"] == "val" and config.get("gans"):
        for name, cfg in sorted(config["datasets"].items()):
            if not cfg.get("val_per_class"):
                raise ConfigError(
                    "evaluation.reference_split",
                    f"'val' needs a validation split; datasets.{name}.val_per_class is 0",
                    "val",
                )

    _check_claims(config)
    resolve_fid_backbone(config["evaluation"])  # a configured weights path must exist
    for cfg in config["datasets"].values():  # per-source defaults (x-default-for)
        for key, value in variants["dataset"][cfg["source"]]["defaults"].items():
            cfg.setdefault(key, value)
    return config


__all__ = [
    "DuplicateKeyError",
    "GAN_CLASSIFIER_REFERENCES",
    "LONG_TAILED_PROFILES",
    "MAX_SEED",
    "NO_CAS",
    "ONE_CLASS_SOURCES",
    "PART_NAMES",
    "PROFILE_LINK",
    "RESIDUAL_ARCHITECTURES",
    "SAFE_LOADER",
    "SEED_KEYS",
    "UAP_PRIOR_GANS",
    "UniqueKeyLoader",
    "adversarial_classifiers",
    "adversarial_training_threat",
    "canonical",
    "check_seeds",
    "claim_methods",
    "discriminator_classifiers",
    "every_seed",
    "expand_seeds",
    "figure_attack",
    "figure_threat",
    "finetuned_classifiers",
    "finite_numbers",
    "gan_annotator",
    "gan_cas_classifier",
    "gan_labeller",
    "is_long_tailed",
    "load_schema",
    "load_yaml",
    "replicate_name",
    "robust_gan_comparison",
    "schema_variants",
    "shrink_config",
    "uap_prior_gan_config",
    "uap_prior_victim",
    "uap_prior_victims",
    "uap_sweep_budgets",
    "unaliased",
    "validate_config",
    "variant_tables",
]
