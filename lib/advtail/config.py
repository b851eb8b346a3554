"""Validation of the experiment config: JSON schema, then cross-references.

``validate_config`` raises one :class:`ConfigError` whose message names the key
(dotted path, e.g. ``subsets.lt10.imbalance_ratio``) and what was expected. On
success it fills the schema's defaults into the config in place.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
from pathlib import Path

import jsonschema
import yaml

from advtail.errors import ConfigError, ConfigFileError
from advtail.workflow.catalog import UAP_METHODS, claim_premises

# Variant keys (which keys each data source, subset profile, architecture, loss,
# re-weighting and optimizer reads, which it requires, and per-variant defaults) are
# written once, in the schema, as annotations of each property: ``x-variants`` (the
# variants that read it; absent: every variant), ``x-required-for`` and
# ``x-default-for``. :func:`variant_tables` derives the tables from them.


def variant_tables(object_schema: dict, discriminator: str = "name") -> dict:
    """Per variant of ``object_schema`` (the values of its ``discriminator`` key): the keys
    it reads (``allowed``), those it needs (``required``) and its defaults."""
    properties = object_schema["properties"]
    variants = properties[discriminator]["enum"]
    common = {key for key, sub in properties.items() if "x-variants" not in sub}
    return {
        variant: {
            "allowed": common
            | {k for k, sub in properties.items() if variant in sub.get("x-variants", ())},
            "required": {
                k for k, sub in properties.items() if variant in sub.get("x-required-for", ())
            },
            "defaults": {
                k: sub["x-default-for"][variant]
                for k, sub in properties.items()
                if variant in sub.get("x-default-for", {})
            },
        }
        for variant in variants
    }


def schema_variants(schema: dict) -> dict:
    """The variant tables of every config section that has variants."""
    defs = schema["$defs"]
    parts = defs["classifier"]["properties"]
    return {
        "dataset": variant_tables(defs["dataset"], "source"),
        "subset": variant_tables(defs["subset"], "profile"),
        **{
            part: variant_tables(parts[part])
            for part in ("arch", "loss", "reweighting", "optimizer")
        },
        "adversarial": variant_tables(parts["adversarial"], "attack"),
        "robust": variant_tables(defs["gan"]["properties"]["robust"], "attack"),
        "class_loss": variant_tables(defs["gan"]["properties"]["class_loss"]),
    }


# Which key of a profile names another subset.
PROFILE_LINK = {"balanced_small": "reference", "labelled_fraction": "base"}


class DuplicateKeyError(yaml.YAMLError):
    pass


# libyaml's parser where PyYAML has it (the pure-Python one took most of a dry run's
# config reading); the constructor, which checks the keys, is the same
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UniqueKeyLoader(SAFE_LOADER):
    """A safe loader that rejects a key written twice in one mapping: YAML's own rule,
    which PyYAML does not enforce (it keeps the last value, so a second classifier of the
    same name would silently replace the first). Merge keys (``<<: *anchor``) are
    overridable by design and are not counted."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # an unhashable key; the constructor reports it
                line = key_node.start_mark.line + 1
                if first is not None:
                    raise DuplicateKeyError(
                        f"key {key!r} defined twice in one mapping (lines {first} and {line})"
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> dict:
    """Read a YAML config file; a file that is not a mapping, or that defines a key twice
    in one mapping, is an error naming it."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=UniqueKeyLoader)  # noqa: S506 - safe loader
    except DuplicateKeyError as err:
        raise ConfigFileError(path, str(err)) from None
    except FileNotFoundError:
        raise ConfigFileError(path, "config file not found") from None
    except yaml.YAMLError as err:
        raise ConfigFileError(path, f"not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigFileError(path, f"expected a mapping of config keys, got {data!r}")
    return unaliased(data)


def unaliased(config: dict) -> dict:
    """A copy sharing no sub-dict or list with ``config`` nor within itself.

    YAML merge keys (``<<: *anchor``) share nested mappings by reference, so changing
    one entry's ``optimizer`` would change every entry's; ``copy.deepcopy`` keeps that
    sharing, a JSON round trip does not.
    """
    try:
        return json.loads(json.dumps(config))
    except TypeError as err:
        raise ConfigError(
            "<config>", f"expected plain YAML values ({err})", has_value=False
        ) from None


def finite_numbers(value, key: str = "") -> None:
    """Raise on the first NaN or infinity anywhere in ``value`` (YAML reads ``.nan``,
    ``.inf``): no config key means either."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(key or "<config>", "expected a finite number", value)
    if isinstance(value, dict):
        for name, item in value.items():
            finite_numbers(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            finite_numbers(item, f"{key}.{index}")


def load_schema(path: str | Path) -> dict:
    return yaml.load(Path(path).read_text(), Loader=SAFE_LOADER)  # noqa: S506 - safe loader


def _dotted(parts) -> str:
    return ".".join(str(p) for p in parts) or "<config>"


def _type_name(schema_type) -> str:
    names = {
        "integer": "an integer",
        "number": "a number",
        "string": "a string",
        "boolean": "true or false",
        "object": "a mapping",
        "array": "a list",
    }
    if isinstance(schema_type, list):
        return " or ".join(names.get(t, t) for t in schema_type)
    return names.get(schema_type, schema_type)


def _error_to_config_error(error: jsonschema.ValidationError) -> ConfigError:
    path = list(error.absolute_path)
    key = _dotted(path)
    schema, value = error.schema, error.instance
    kind = error.validator
    if kind == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        extra = sorted(
            k for k in set(value) - set(known) if not any(re.search(p, k) for p in patterns)
        )
        bad = extra[0]
        close = difflib.get_close_matches(bad, known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return ConfigError(
            _dotted(path + [bad]), f"unknown key; {hint}expected one of {known}", has_value=False
        )
    if kind == "required":
        missing = [k for k in error.validator_value if k not in value][0]
        return ConfigError(_dotted(path + [missing]), "missing, and required", has_value=False)
    if "propertyNames" in error.absolute_schema_path:
        return ConfigError(
            _dotted(path + [value]),
            "invalid name; expected a letter, then letters, digits, '_' or '-'",
            has_value=False,
        )
    integer = schema.get("type") == "integer"
    noun = "an integer" if integer else "a number"
    expected = {
        "type": lambda: f"expected {_type_name(error.validator_value)}",
        "enum": lambda: f"expected one of {error.validator_value}",
        "const": lambda: f"expected {error.validator_value!r}",
        "minimum": lambda: f"expected {noun} >= {error.validator_value}",
        "maximum": lambda: f"expected {noun} <= {error.validator_value}",
        "exclusiveMinimum": lambda: f"expected {noun} > {error.validator_value}",
        "exclusiveMaximum": lambda: f"expected {noun} < {error.validator_value}",
        "minProperties": lambda: f"expected at least {error.validator_value} entry",
        "minItems": lambda: f"expected at least {error.validator_value} items",
        "minLength": lambda: "expected a non-empty string",
        "uniqueItems": lambda: "expected no repeated items",
        "pattern": lambda: f"expected a string matching {error.validator_value}",
        "anyOf": lambda: "expected another form",
    }.get(kind, lambda: f"invalid ({error.message})")()
    if "description" in schema:
        expected += f" ({schema['description']})"
    return ConfigError(key, expected, value)


def _fill_defaults(instance, schema: dict, root: dict) -> None:
    """Fill ``default`` values of the schema into ``instance`` (objects only)."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].split("/")[-1]]
    if not isinstance(instance, dict) or schema.get("type") != "object":
        return
    for key, sub in schema.get("properties", {}).items():
        if "$ref" in sub and "default" not in sub:
            sub = root["$defs"][sub["$ref"].split("/")[-1]]
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in schema.get("properties", {}):
                _fill_defaults(value, extra, root)


def _check_keys(cfg: dict, key: str, allowed: set, required: set, what: str) -> None:
    for name in sorted(cfg):
        if name not in allowed:
            raise ConfigError(
                f"{key}.{name}", f"not used by {what}; it reads {sorted(allowed)}", cfg[name]
            )
    for name in sorted(required - set(cfg)):
        raise ConfigError(f"{key}.{name}", f"missing, and required by {what}", has_value=False)


def _check_variant(cfg: dict, key: str, tables: dict, discriminator: str, what: str) -> None:
    variant = tables[cfg[discriminator]]
    _check_keys(cfg, key, variant["allowed"], variant["required"], f"{what} '{cfg[discriminator]}'")


def _check_datasets(datasets: dict, variants: dict) -> None:
    for name, cfg in datasets.items():
        _check_variant(cfg, f"datasets.{name}", variants["dataset"], "source", "source")


def _require_defined(key: str, name: str, section: dict, section_name: str) -> None:
    """``name`` (the value at ``key``) must be an entry of the config's ``section_name``."""
    if name not in section:
        raise ConfigError(
            key,
            f"expected a {section_name[:-1]} defined under '{section_name}' ({sorted(section)})",
            name,
        )


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


def _check_classifiers(classifiers: dict, subsets: dict, datasets: dict, variants: dict) -> None:
    for name, cfg in classifiers.items():
        key = f"classifiers.{name}"
        _require_defined(f"{key}.subset", cfg["subset"], subsets, "subsets")
        reweighting = cfg.get("reweighting", {"name": "none"})
        if cfg.get("finetune") and "arch" in cfg:
            raise ConfigError(
                f"{key}.arch",
                "a fine-tuned discriminator has the GAN's architecture; remove arch",
                cfg["arch"],
            )
        if not cfg.get("finetune") and "arch" not in cfg:
            raise ConfigError(f"{key}.arch", "missing, and required", has_value=False)
        for part, what in PART_NAMES.items():
            if part == "arch" and cfg.get("finetune"):
                continue
            part_cfg = reweighting if part == "reweighting" else cfg[part]
            _check_variant(part_cfg, f"{key}.{part}", variants[part], "name", what)
        epochs = cfg["epochs"]
        if reweighting.get("start_epoch", 0) >= epochs:
            raise ConfigError(
                f"{key}.reweighting.start_epoch",
                f"expected fewer than epochs ({epochs})",
                reweighting["start_epoch"],
            )
        schedule = cfg.get("schedule", {})
        milestones, factors = schedule.get("milestones", []), schedule.get("factors", [])
        if len(milestones) != len(factors):
            raise ConfigError(
                f"{key}.schedule.factors",
                f"expected one factor per milestone ({len(milestones)})",
                factors,
            )
        if milestones != sorted(milestones):
            raise ConfigError(
                f"{key}.schedule.milestones", "expected increasing epochs", milestones
            )
        if schedule.get("warmup_epochs", 0) >= epochs:
            raise ConfigError(
                f"{key}.schedule.warmup_epochs",
                f"expected fewer than epochs ({epochs})",
                schedule["warmup_epochs"],
            )
        arch = cfg.get("arch", {})
        if arch.get("name") == "wrn" and (arch.get("depth", 28) - 4) % 6:
            raise ConfigError(
                f"{key}.arch.depth", "expected 6n + 4 (e.g. 16, 22, 28)", arch.get("depth")
            )
        if cfg.get("adversarial"):
            _check_adversarial(cfg["adversarial"], f"{key}.adversarial", cfg, subsets, variants)
        dataset = subsets[cfg["subset"]]["dataset"]
        if cfg.get("select", "best_val") == "best_val" and not datasets[dataset].get(
            "val_per_class", 0
        ):
            raise ConfigError(
                f"{key}.select",
                f"'best_val' needs a validation split; set "
                f"datasets.{dataset}.val_per_class > 0, or select: last",
                "best_val",
            )


def _check_budget_key(key: str, value) -> None:
    """A budget (eps, step size) on the [0, 1] scale, in (0, 1]: else one line naming ``key``."""
    from advtail.attacks.names import check_budget

    try:
        check_budget(value)
    except ValueError as err:
        raise ConfigError(key, str(err).split(", got")[0], value) from None


# Subset profiles whose classes are not balanced (a labelled fraction follows its base).
LONG_TAILED_PROFILES = {"exponential", "step"}


def is_long_tailed(subset: str, subsets: dict) -> bool:
    cfg = subsets[subset]
    while cfg["profile"] == "labelled_fraction" and cfg.get("base"):
        cfg = subsets[cfg["base"]]
    return cfg["profile"] in LONG_TAILED_PROFILES


def _check_adversarial(cfg: dict, key: str, classifier: dict, subsets: dict, variants) -> None:
    from advtail.attacks.names import WEIGHTED_INNER_LOSSES

    _check_variant(cfg, key, variants["adversarial"], "attack", "training attack")
    for part in ("eps", "step_size"):
        if part in cfg:
            _check_budget_key(f"{key}.{part}", cfg[part])
    _check_step_within_budget(cfg, key)
    inner = cfg.get("inner_loss", {})
    weights = inner.get("weights", "none")
    if weights != "none" and inner.get("name", "ce") not in WEIGHTED_INNER_LOSSES:
        raise ConfigError(
            f"{key}.inner_loss.name",
            f"cannot take the class weights that weights: {weights} needs; expected one of "
            f"{sorted(WEIGHTED_INNER_LOSSES)}",
            inner["name"],
        )
    uses = [f"inner_loss.weights: {weights}"] if weights != "none" else []
    uses += ["tail"] if cfg.get("tail") else []
    if uses and not is_long_tailed(classifier["subset"], subsets):
        raise ConfigError(
            f"{key}.{'tail' if cfg.get('tail') and weights == 'none' else 'inner_loss.weights'}",
            f"{' and '.join(uses)} re-balance a long tail; subset '{classifier['subset']}' "
            f"is not long-tailed (profile exponential or step)",
            has_value=False,
        )


def _check_step_within_budget(cfg: dict, key: str) -> None:
    """An attack's ascent step is at most its budget (a larger step only lands on the
    projection's boundary: almost surely a typo, e.g. 32/255 at 16/255)."""
    from advtail.attacks.budgets import budget_value

    if "step_size" in cfg and "eps" in cfg:
        step, eps = budget_value(cfg["step_size"]), budget_value(cfg["eps"])
        if step > eps * (1 + 1e-9):
            raise ConfigError(
                f"{key}.step_size", f"expected at most eps ({cfg['eps']})", cfg["step_size"]
            )


def _classifier_of(key: str, name: str, classifiers: dict, subsets: dict, dataset: str) -> None:
    _require_defined(key, name, classifiers, "classifiers")
    own = subsets[classifiers[name]["subset"]]["dataset"]
    if own != dataset:
        raise ConfigError(
            key, f"expected a classifier of dataset '{dataset}'; '{name}' is of '{own}'", name
        )


def gan_labeller(gan: dict, classifiers: dict) -> str | None:
    """The classifier that labels an unconditional GAN's samples (see the schema)."""
    if gan.get("labeller"):
        return gan["labeller"]
    if gan.get("regularizer"):
        return gan["regularizer"]["classifier"]
    for name in sorted(classifiers):
        cfg = classifiers[name]
        if cfg.get("role") == "in_loop" and cfg["subset"] == gan["subset"]:
            return name
    return None


def _gan_role_classifier(key: str, role: str, gan: dict, classifiers: dict, subsets: dict):
    """The GAN's own ``key``, else the first classifier of ``role`` on its dataset."""
    if gan.get(key):
        return gan[key]
    dataset = subsets[gan["subset"]]["dataset"]
    for name in sorted(classifiers):
        cfg = classifiers[name]
        if cfg.get("role") == role and subsets[cfg["subset"]]["dataset"] == dataset:
            return name
    return None


def gan_annotator(gan: dict, classifiers: dict, subsets: dict) -> str | None:
    """The classifier that validates a GAN: its ``annotator``, else the role-annotator one."""
    return _gan_role_classifier("annotator", "annotator", gan, classifiers, subsets)


def gan_cas_classifier(gan: dict, classifiers: dict, subsets: dict) -> str | None:
    """The classifier recipe of a GAN's classification accuracy score: its ``cas``, else
    the role-cas classifier of the dataset (trained on the GAN's samples instead); None
    for ``cas: none`` (no score)."""
    if gan.get("cas") == NO_CAS:
        return None
    return _gan_role_classifier("cas", "cas", gan, classifiers, subsets)


# a GAN's ``cas`` value that turns its classification accuracy score off
NO_CAS = "none"


def _check_robust_gan(cfg: dict, key: str, variants: dict) -> None:
    """A robust GAN's discriminator round: an ac head, a budget, an objective the attack
    can ascend on the reals alone."""
    from advtail.losses.names import SEPARABLE_OBJECTIVES

    robust = cfg["robust"]
    if cfg.get("head", "none") != "ac":
        raise ConfigError(
            f"{key}.head",
            "a robust GAN (robust:) trains its discriminator's class head on attacked reals; "
            "expected head: ac",
            cfg.get("head", "none"),
        )
    _check_variant(robust, f"{key}.robust", variants["robust"], "attack", "robust GAN attack")
    for part in ("eps", "step_size"):
        if part in robust:
            _check_budget_key(f"{key}.robust.{part}", robust[part])
    _check_step_within_budget(robust, f"{key}.robust")
    if robust["attack"] == "pgd" and cfg["loss"]["name"] not in SEPARABLE_OBJECTIVES:
        raise ConfigError(
            f"{key}.loss.name",
            "Rob-GAN's attack ascends the discriminator's loss on each real image alone; "
            f"expected one of {list(SEPARABLE_OBJECTIVES)}",
            cfg["loss"]["name"],
        )


def _check_finetuned(classifiers: dict, gans: dict, subsets: dict) -> None:
    """A fine-tuned discriminator names a GAN with an ac head of its dataset, and trains
    adversarially (Eq. 10 is PGD on both terms)."""
    for name, cfg in classifiers.items():
        if not cfg.get("finetune"):
            continue
        key = f"classifiers.{name}"
        gan = cfg["finetune"]["gan"]
        _require_defined(f"{key}.finetune.gan", gan, gans, "gans")
        if gans[gan].get("head", "none") != "ac":
            raise ConfigError(
                f"{key}.finetune.gan",
                f"expected a GAN with head ac (a class head to fine-tune); '{gan}' has head "
                f"{gans[gan].get('head', 'none')}",
                gan,
            )
        own, other = subsets[cfg["subset"]]["dataset"], subsets[gans[gan]["subset"]]["dataset"]
        if own != other:
            raise ConfigError(
                f"{key}.finetune.gan",
                f"expected a GAN of dataset '{own}'; '{gan}' is of '{other}'",
                gan,
            )
        if not cfg.get("adversarial"):
            raise ConfigError(
                f"{key}.adversarial",
                "fine-tuning (Rob-GAN Eq. 10) attacks real and generated images; add an "
                "adversarial block",
                has_value=False,
            )


def robust_gan_comparison(gans: dict) -> list[str]:
    """The GANs of the robust GANs' table and FID figure: those with a class head and
    validation (AC-GAN, Rob-GAN, Fast-RobGAN), when one of them is robust; else none."""
    chosen = sorted(
        name for name, cfg in gans.items() if cfg.get("head") == "ac" and cfg.get("validate_every")
    )
    return chosen if any(gans[name].get("robust") for name in chosen) else []


def discriminator_classifiers(classifiers: dict) -> list[str]:
    """The classifiers of Rob-GAN's Table 1: fine-tuned discriminators and classifiers of
    the discriminator's network (PGD-AT of the same net), sorted."""
    return sorted(
        name
        for name, cfg in classifiers.items()
        if cfg.get("finetune") or cfg.get("arch", {}).get("name") == "gan_discriminator"
    )


def finetuned_classifiers(classifiers: dict) -> list[str]:
    """Classifiers made by rule finetune_discriminator (the others: train_classifier)."""
    return sorted(name for name, cfg in classifiers.items() if cfg.get("finetune"))


def _check_gans(gans: dict, classifiers: dict, subsets: dict, variants: dict) -> None:
    for name, cfg in gans.items():
        key = f"gans.{name}"
        _require_defined(f"{key}.subset", cfg["subset"], subsets, "subsets")
        dataset = subsets[cfg["subset"]]["dataset"]
        if cfg.get("robust"):
            _check_robust_gan(cfg, key, variants)
        if cfg.get("class_loss") and cfg.get("head", "none") != "ac":
            raise ConfigError(
                f"{key}.class_loss",
                "class terms need a class head; expected head: ac",
                has_value=False,
            )
        if cfg.get("class_loss"):
            class_loss = {"name": "ac", **cfg["class_loss"]}
            _check_variant(
                class_loss, f"{key}.class_loss", variants["class_loss"], "name", "class loss"
            )
        if cfg.get("regularizer"):
            _classifier_of(
                f"{key}.regularizer.classifier",
                cfg["regularizer"]["classifier"],
                classifiers,
                subsets,
                dataset,
            )
        for role in ("labeller", "annotator", "cas"):
            if cfg.get(role) and not (role == "cas" and cfg[role] == NO_CAS):
                _classifier_of(f"{key}.{role}", cfg[role], classifiers, subsets, dataset)
        conditional = cfg.get("head", "none") != "none"
        if not conditional and gan_labeller(cfg, classifiers) is None:
            raise ConfigError(
                f"{key}.labeller",
                "an unconditional GAN needs a classifier to "
                "label its samples; name one, or add a classifier with role "
                f"in_loop on subset '{cfg['subset']}'",
                has_value=False,
            )
        if gan_annotator(cfg, classifiers, subsets) is None:
            raise ConfigError(
                f"{key}.annotator",
                "evaluation (and validation) needs an annotator; name one, or add a classifier "
                "with role annotator",
                has_value=False,
            )
        if cfg["loss"]["name"] != "wgan_gp" and "penalty_weight" in cfg["loss"]:
            raise ConfigError(
                f"{key}.loss.penalty_weight",
                "used by loss 'wgan_gp' only",
                cfg["loss"]["penalty_weight"],
            )
        if cfg["loss"]["name"] == "relativistic" and "real_weight" in cfg["loss"]:
            raise ConfigError(
                f"{key}.loss.real_weight",
                "the relativistic loss has no separate real term; used by hinge, "
                "non_saturating and wgan_gp",
                cfg["loss"]["real_weight"],
            )
        if not conditional and ("fake_labels" in cfg or "label_embedding" in cfg["arch"]):
            what = "fake_labels" if "fake_labels" in cfg else "arch.label_embedding"
            raise ConfigError(
                f"{key}.{what}",
                "used by conditional GANs only (head ac or projection)",
                has_value=False,
            )


# sources of one unlabelled class (priors for universal perturbations): nothing to attack
ONE_CLASS_SOURCES = ("patches",)


def _check_robustness(robustness: dict, classifiers: dict, subsets: dict, datasets: dict) -> None:
    from advtail.attacks.names import attack_steps

    threats = robustness.get("threats") or {}
    for name, threat in threats.items():
        key = f"robustness.threats.{name}"
        _check_budget_key(f"{key}.eps", threat["eps"])
        for i, attack in enumerate(threat["attacks"]):
            try:
                attack_steps(attack)
            except ValueError as err:
                raise ConfigError(f"{key}.attacks.{i}", str(err), has_value=False) from None
        for attack in threat.get("images") or {}:
            if attack not in threat["attacks"]:
                raise ConfigError(
                    f"{key}.images.{attack}",
                    f"expected an attack of this threat ({', '.join(threat['attacks'])})",
                    has_value=False,
                )
        for i, classifier in enumerate(threat["classifiers"]):
            _require_defined(f"{key}.classifiers.{i}", classifier, classifiers, "classifiers")
            dataset = subsets[classifiers[classifier]["subset"]]["dataset"]
            if datasets[dataset]["source"] in ONE_CLASS_SOURCES:
                raise ConfigError(
                    f"{key}.classifiers.{i}",
                    f"expected a classifier of a labelled data set; '{classifier}' learnt "
                    f"'{dataset}', a one-class prior (source {datasets[dataset]['source']})",
                    classifier,
                )
    figures = robustness.get("figures") or {}
    if figures.get("threat") is not None:
        _require_defined("robustness.figures.threat", figures["threat"], threats, "threats")
    shown = figure_threat(robustness)
    if figures.get("attack") is not None and shown is not None:
        if figures["attack"] not in threats[shown]["attacks"]:
            raise ConfigError(
                "robustness.figures.attack",
                f"expected an attack of the figure threat '{shown}' ({threats[shown]['attacks']})",
                figures["attack"],
            )


# victim architectures with residual branches (the skip-gradient option scales them)
RESIDUAL_ARCHITECTURES = ("resnet18", "resnet32", "wrn")


def _check_uaps(uaps: dict, classifiers: dict, subsets: dict, datasets: dict) -> None:
    """The UAP stage's references and budget: victims of one dataset, an in-loop victim,
    a prior of another dataset with the victims' image form, an unconditional prior GAN
    that keeps snapshots."""
    if not uaps:
        return
    key = "uaps"
    victims = uaps.get("victims") or []
    if not victims:
        raise ConfigError(
            f"{key}.victims", "expected at least one victim classifier", has_value=False
        )
    for i, name in enumerate(victims):
        _require_defined(f"{key}.victims.{i}", name, classifiers, "classifiers")
    dataset = subsets[classifiers[victims[0]]["subset"]]["dataset"]
    for i, name in enumerate(victims):
        _classifier_of(f"{key}.victims.{i}", name, classifiers, subsets, dataset)
    if uaps.get("in_loop"):
        _classifier_of(f"{key}.in_loop", uaps["in_loop"], classifiers, subsets, dataset)
    _check_budget_key(f"{key}.eps", uaps.get("eps", "10/255"))
    skip = (uaps.get("gap") or {}).get("skip_gradient")
    if skip is not None:
        for name in victims:
            arch = (classifiers[name].get("arch") or {}).get("name")
            if arch not in RESIDUAL_ARCHITECTURES:
                raise ConfigError(
                    f"{key}.gap.skip_gradient",
                    f"scales residual branches; victim '{name}' ({arch}) has none "
                    f"(expected {', '.join(RESIDUAL_ARCHITECTURES)}, or null)",
                    skip,
                )
    gan = uaps.get("prior_gan")
    if gan is None:
        raise ConfigError(f"{key}.prior_gan", "expected the prior GAN's settings", has_value=False)
    gkey = f"{key}.prior_gan"
    _require_defined(f"{gkey}.subset", gan["subset"], subsets, "subsets")
    prior = subsets[gan["subset"]]["dataset"]
    if prior == dataset:
        raise ConfigError(
            f"{gkey}.subset",
            f"the prior must be images the victims never saw; subset '{gan['subset']}' is of "
            f"their dataset '{dataset}'",
            gan["subset"],
        )
    for what, default in (("image_size", 32), ("channels", 3)):
        ours, theirs = datasets[prior].get(what, default), datasets[dataset].get(what, default)
        if ours != theirs:
            raise ConfigError(
                f"datasets.{prior}.{what}",
                f"the UAP prior's {what} must be the victims' ({theirs}, dataset '{dataset}')",
                ours,
            )
    for extra in ("regularizer", "labeller", "annotator", "cas", "validate_every", "robust"):
        if gan.get(extra) is not None:
            raise ConfigError(
                f"{gkey}.{extra}",
                "not used by a prior GAN (the stage adds its regularizers; it is not validated)",
                has_value=False,
            )
    if gan.get("head", "none") != "none":
        raise ConfigError(
            f"{gkey}.head", "a prior GAN is unconditional; expected none", gan["head"]
        )
    cycle, kept = gan.get("cycle_steps") or gan["steps"], gan.get("snapshots", 0)
    if kept < 1 or kept * cycle > gan["steps"]:
        raise ConfigError(
            f"{gkey}.snapshots",
            f"expected 1 to {gan['steps'] // cycle} cycles "
            f"(of {cycle} steps in {gan['steps']} steps)",
            kept,
        )


def uap_prior_victim(uaps: dict, victim: str) -> str:
    """The classifier in the loop of the prior GANs whose samples craft ``victim``'s
    perturbations: the victim itself (CBGAN 4.3: the prior GAN is trained with the
    target classifier in its loop), or ``uaps.in_loop`` where one prior GAN is to serve
    every victim (the others' data-free rows are then transfers from it)."""
    return uaps.get("in_loop") or victim


def uap_prior_victims(uaps: dict) -> list[str]:
    """Every classifier that has prior GANs of its own, in victim order."""
    return list(dict.fromkeys(uap_prior_victim(uaps, v) for v in uaps.get("victims") or []))


# the UAP stage's prior GANs: both minimise the entropy term; "regularized" adds the
# class-balancing regularizer (the data-free method), "entropy_only" is the ablation
UAP_PRIOR_GANS = ("regularized", "entropy_only")


def uap_prior_gan_config(uaps: dict, prior: str, seed: int, in_loop: str) -> dict:
    """The GAN trainer's config of prior GAN ``prior`` at ``seed`` with classifier
    ``in_loop`` in its loop: the prior GAN's settings, the entropy term (CBGAN Eq. 11)
    and, for ``regularized``, the class-balancing regularizer on that classifier
    (Eq. 10)."""
    if prior not in UAP_PRIOR_GANS:
        raise ValueError(f"unknown prior GAN {prior!r}; expected one of {UAP_PRIOR_GANS}")
    cfg = {**uaps["prior_gan"], "seed": seed}
    cfg["activation_maximization"] = {"weight": uaps["entropy_weight"]}
    if prior == "regularized":
        cfg["regularizer"] = {
            "name": "class_balancing",
            "classifier": in_loop,
            **uaps["regularizer"],
        }
    return cfg


def figure_threat(robustness: dict) -> str | None:
    """The threat the group, prediction and example figures show: the configured one,
    else the one with the most attacks (the first by name on a tie); None without any."""
    threats = robustness.get("threats") or {}
    chosen = (robustness.get("figures") or {}).get("threat")
    if chosen or not threats:
        return chosen
    return max(sorted(threats), key=lambda name: len(threats[name]["attacks"]))


def adversarial_classifiers(classifiers: dict) -> list[str]:
    """The classifiers trained adversarially from scratch (an ``adversarial`` block, no
    ``finetune``: fine-tuned discriminators have figures of their own), sorted."""
    return sorted(
        name
        for name, cfg in classifiers.items()
        if cfg.get("adversarial") and not cfg.get("finetune")
    )


def adversarial_training_threat(robustness: dict, classifiers: dict) -> str | None:
    """The threat of the adversarial training table: the figure threat where it
    evaluates an adversarially trained classifier, else the threat that evaluates the
    most of them (the first by name on a tie); None when none does."""
    trained = set(adversarial_classifiers(classifiers))
    threats = robustness.get("threats") or {}
    covered = {name: len(trained & set(t["classifiers"])) for name, t in threats.items()}
    shown = figure_threat(robustness)
    if shown is not None and covered.get(shown):
        return shown
    best = max(sorted(covered), key=lambda name: covered[name], default=None)
    return best if best is not None and covered[best] else None


def figure_attack(robustness: dict) -> str | None:
    """The attack the prediction, example and accuracy-against-eps figures show: the
    configured one, else pgd20 where the figure threat has it, else its last attack."""
    threat = figure_threat(robustness)
    chosen = (robustness.get("figures") or {}).get("attack")
    if chosen or threat is None:
        return chosen
    attacks = robustness["threats"][threat]["attacks"]
    return "pgd20" if "pgd20" in attacks else attacks[-1]


# every generator the pipeline seeds (torch, numpy, Python's) takes a seed in [0, 2**32)
MAX_SEED = 2**32 - 1
# the keys that hold a seed or a list of seeds, in any section
SEED_KEYS = ("seed", "seeds", "split_seed")


def check_seeds(config: dict) -> None:
    """Every seed of every section (any key of :data:`SEED_KEYS`, at any depth: dataset
    splits, subsets, classifiers, GANs and their samples, threats, universal
    perturbations) lies in [0, 2**32). Checked before seeds are expanded into entries, so
    the error names the key as written."""

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                where = f"{path}.{key}" if path else str(key)
                if key in SEED_KEYS:
                    for seed in value if isinstance(value, list) else [value]:
                        if isinstance(seed, int) and not 0 <= seed <= MAX_SEED:
                            raise ConfigError(
                                where, f"expected a seed in [0, {MAX_SEED}] (2**32 - 1)", seed
                            )
                walk(value, where)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}.{i}")

    walk(config, "")


def claim_methods(table: str, config: dict) -> list[str] | None:
    """The method names the config puts in the results table ``table`` (None: the config
    makes no such table)."""
    classifiers, gans = config.get("classifiers") or {}, config.get("gans") or {}
    threats = (config.get("robustness") or {}).get("threats") or {}
    evaluated = sorted({name for threat in threats.values() for name in threat["classifiers"]})
    adversarial = adversarial_training_threat(config.get("robustness") or {}, classifiers)
    methods = {
        "classifiers": sorted(classifiers) or None,
        "gan_metrics": sorted(gans) or None,
        "robustness": evaluated or None,
        "adversarial_training": threats[adversarial]["classifiers"] if adversarial else None,
        "robust_gans": robust_gan_comparison(gans) or None,
        "uap": list(UAP_METHODS) if config.get("uaps") else None,
    }
    return methods[table]


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


# Classifier references of a GAN: config keys (dotted within the entry), and how a
# missing key defaults (None: it does not, or follows another reference).
GAN_CLASSIFIER_REFERENCES = (
    ("regularizer.classifier", None),
    ("labeller", "labeller"),
    ("annotator", "annotator"),
    ("cas", "cas"),
)


def replicate_name(name: str, seed: int) -> str:
    """The entry that runs seed ``seed`` of a seeded entry ``name``."""
    return f"{name}_seed{seed}"


def every_seed(names: list, seeded: dict) -> list:
    """``names`` with each seeded entry replaced by its entries, one per seed."""
    return [
        copy
        for name in names
        for copy in ([replicate_name(name, s) for s in seeded[name]] if name in seeded else [name])
    ]


def _seed_list(cfg: dict, global_seeds):
    """The seeds an entry expands into, or None for a single run (a scalar seed)."""
    seed = cfg.get("seed", 0)
    if isinstance(seed, list):
        return seed
    return list(global_seeds) if global_seeds else None


def _get_reference(cfg: dict, dotted: str):
    first, _, rest = dotted.partition(".")
    value = cfg.get(first)
    if rest:
        return value.get(rest) if isinstance(value, dict) else None
    return value


def _set_reference(cfg: dict, dotted: str, name: str) -> None:
    first, _, rest = dotted.partition(".")
    if rest:
        cfg[first][rest] = name
    else:
        cfg[first] = name


def expand_seeds(config: dict) -> dict:
    """Seeds as a dimension: a classifier or GAN whose ``seed`` is a list (or every one,
    given a top-level ``seeds`` list) becomes one entry per seed, ``<name>_seed<s>``.

    A seeded GAN's classifiers (in-loop, labeller, annotator, CAS recipe) pair by seed
    when the classifier is seeded too: seed s of the GAN uses seed s of the classifier;
    likewise seed s of a fine-tuned discriminator fine-tunes seed s of its GAN.
    Changes ``config`` in place (after :func:`validate_config`) and returns, per section,
    every entry's ``{"method": <configured name>, "seed": <seed>}`` for the tables.
    """
    global_seeds = config.get("seeds")
    replicates = {}
    seeded = {}
    for section in ("classifiers", "gans"):
        entries = config.get(section) or {}
        expanded, replicates[section], seeded[section] = {}, {}, {}
        for name, cfg in entries.items():
            seeds = _seed_list(cfg, global_seeds)
            if seeds is None:
                expanded[name] = cfg
                replicates[section][name] = {"method": name, "seed": cfg.get("seed", 0)}
                continue
            seeded[section][name] = seeds
            for seed in seeds:
                copy_name = replicate_name(name, seed)
                if copy_name in entries:
                    raise ConfigError(
                        f"{section}.{name}.seed",
                        f"seed {seed} would be run as '{copy_name}', which is configured "
                        "already; rename one of them",
                        seeds,
                    )
                expanded[copy_name] = unaliased({**cfg, "seed": seed})
                replicates[section][copy_name] = {"method": name, "seed": seed}
        if section in config:
            config[section] = expanded
    # a UAP stage crafts against every seed of a seeded victim; a seeded in-loop
    # victim is its first seed
    uaps = config.get("uaps") or {}
    if uaps:
        in_loop = uaps.get("in_loop")
        if in_loop in seeded["classifiers"]:
            uaps["in_loop"] = replicate_name(in_loop, seeded["classifiers"][in_loop][0])
        uaps["victims"] = every_seed(uaps["victims"], seeded["classifiers"])
    # a threat evaluates every seed of a seeded classifier
    for threat in ((config.get("robustness") or {}).get("threats") or {}).values():
        threat["classifiers"] = every_seed(threat["classifiers"], seeded["classifiers"])
    classifiers, subsets = config.get("classifiers", {}), config["subsets"]
    for name, cfg in config.get("gans", {}).items():
        seed = cfg["seed"]
        gan_is_seeded = replicates["gans"][name]["method"] != name
        regularized = bool(cfg.get("regularizer"))
        for key, role in GAN_CLASSIFIER_REFERENCES:
            target = _get_reference(cfg, key)
            unconditional = cfg.get("head", "none") == "none"
            if target is None and role == "labeller" and unconditional and not regularized:
                target = gan_labeller(cfg, classifiers)
            elif target is None and role in ("annotator", "cas"):
                target = _gan_role_classifier(key, role, cfg, classifiers, subsets)
            # a default found among the expanded entries names its configured entry
            target = replicates["classifiers"].get(target, {}).get("method", target)
            if target is None or target not in seeded["classifiers"]:
                continue
            where = f"gans.{replicates['gans'][name]['method']}.{key}"
            if not gan_is_seeded:
                raise ConfigError(
                    where,
                    f"classifier '{target}' has seeds {seeded['classifiers'][target]}; "
                    "give the GAN seeds too (each seed uses the classifier's same seed), "
                    "or name one replicate, e.g. " + repr(replicate_name(target, seed)),
                    target,
                )
            if seed not in seeded["classifiers"][target]:
                raise ConfigError(
                    where,
                    f"GAN seed {seed} pairs with seed {seed} of classifier '{target}', whose "
                    f"seeds are {seeded['classifiers'][target]}",
                    target,
                )
            _set_reference(cfg, key, replicate_name(target, seed))
    # a fine-tuned discriminator pairs with its GAN's same seed, as a GAN with its classifiers
    for name, cfg in classifiers.items():
        gan = (cfg.get("finetune") or {}).get("gan")
        if gan is None or gan not in seeded["gans"]:
            continue
        where = f"classifiers.{replicates['classifiers'][name]['method']}.finetune.gan"
        if replicates["classifiers"][name]["method"] == name:
            raise ConfigError(
                where,
                f"GAN '{gan}' has seeds {seeded['gans'][gan]}; give the classifier seeds too "
                "(each seed fine-tunes the GAN's same seed), or name one replicate, e.g. "
                + repr(replicate_name(gan, cfg["seed"])),
                gan,
            )
        if cfg["seed"] not in seeded["gans"][gan]:
            raise ConfigError(
                where,
                f"classifier seed {cfg['seed']} pairs with seed {cfg['seed']} of GAN '{gan}', "
                f"whose seeds are {seeded['gans'][gan]}",
                gan,
            )
        cfg["finetune"]["gan"] = replicate_name(gan, cfg["seed"])
    return replicates


def canonical(value):
    """``value`` with every mapping's keys sorted, recursively.

    Rule params are compared by their text between runs; sorting keys means that
    reordering keys in a config file does not rerun anything.
    """
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return value
