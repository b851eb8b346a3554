"""Miniature runs (``shrink: true``, ``--config shrink=true``): any config, end to end on
a CPU in minutes, with its own networks, resolutions, losses and attacks, so that a
full-scale config is executed before anyone spends GPU hours on it.

What a miniature run changes, applied to a validated config by :func:`shrink_config`:

1. Data. A source that needs files or the network (``cifar10``, ``cifar100``,
   ``imagefolder``) becomes a ``standin`` of the same image size, channel count and class
   count (:data:`STANDIN_IMAGES` images in all, at least :data:`STANDIN_MIN_PER_CLASS` a
   class); the download and reading code is not run. Validation splits keep one image a
   class.
2. Subsets. ``n_max`` goes (the largest class is what the stand-in has) and the imbalance
   ratio is at most that count, so the tail keeps an image.
3. One run per recipe. Classifiers, GANs and threats that differ only in numbers
   (budgets, weights, rates, counts), their subset, seeds, ``paper`` or the names of the
   entries they use (compared by those entries' own recipes) run the same code: only the
   first of each, in file order, is kept, and so is any entry a kept one names or uses
   (a GAN's annotator, CAS recipe and labeller). Lists of names lose the dropped ones; a
   claim on a dropped entry is dropped.
4. Seeds. The first of every seed list.
5. Costs. The caps of :data:`CAPS` (epochs, steps, batch sizes, sample counts, attack
   images and iterations); schedules move with the epochs they count; PGD and CW run
   :data:`ATTACK_STEPS` steps (their names say so: ``pgd20`` becomes ``pgd2``), every
   attack on :data:`ATTACK_IMAGES` images.

The numbers a miniature run writes check that every stage runs and fits together; they
say nothing about the method.
"""

from __future__ import annotations

import math
import re

from advtail.config.files import unaliased
from advtail.config.seeds import SEED_KEYS
from advtail.workflow.catalog import claim_premises

# sources that read files or the network, and their class counts where the source fixes them
STANDIN_SOURCES = {"cifar10": 10, "cifar100": 100, "imagefolder": None}
STANDIN_IMAGES = 80
STANDIN_MIN_PER_CLASS = 3

EPOCHS = 2
GAN_STEPS = 4
# (section, dotted key within an entry) -> the largest value a miniature run keeps
CAPS = {
    "classifiers": {
        "epochs": EPOCHS,
        "batch_size": 16,
        "adversarial.steps": 2,
        "adversarial.validation_steps": 2,
    },
    "gans": {
        "steps": GAN_STEPS,
        "batch_size": 4,
        "ema.start": GAN_STEPS // 2,
        "cycle_steps": GAN_STEPS // 2,
        "log_every": 1,
        "checkpoint_every": GAN_STEPS // 2,
        "validate_every": GAN_STEPS // 2,
        "validation_samples": 16,
        "samples.count": 32,
        "snapshots": 2,
        "robust.steps": 2,
        "optimizer.anneal.period": GAN_STEPS,
    },
    "threats": {
        "restarts": 1,
        "batch_size": 64,
        "autoattack.images": 10,
        "autoattack.apgd_iterations": 2,
        "autoattack.apgd_restarts": 1,
        "autoattack.square_queries": 10,
    },
    "uaps": {
        "samples": 64,
        "gap.steps": 2,
        "gap.batch_size": 8,
        "deepfool.images": 4,
        "deepfool.max_epochs": 1,
        "deepfool.max_iter": 3,
    },
}
# images each attack of a threat runs on, and the steps of PGD and CW (their names
# carry them: pgd20 and pgd100 both become pgd2)
ATTACK_IMAGES = 10
ATTACK_STEPS = 2
_STEPPED_ATTACK = re.compile(r"^(pgd|cw)(\d+)$")
# keys that never change the code a job runs
NOT_RECIPE = {"subset", "paper", *SEED_KEYS}
# a number, or a fraction such as 8/255
_NUMBER = re.compile(r"^[-+]?\d+(\.\d*)?([eE][-+]?\d+)?(\s*/\s*\d+(\.\d*)?)?$")


def standin_per_class(num_classes: int) -> int:
    """Images per class of a stand-in: about :data:`STANDIN_IMAGES` in all."""
    return max(STANDIN_MIN_PER_CLASS, math.ceil(STANDIN_IMAGES / num_classes))


# capped keys whose absence means a large default (a sample count, an attack's cost):
# a miniature run sets them
FILL_MISSING = {
    "gans": {"samples.count"},
    "threats": {
        "autoattack.images",
        "autoattack.apgd_iterations",
        "autoattack.square_queries",
    },
    "uaps": {
        "samples",
        "gap.steps",
        "gap.batch_size",
        "deepfool.images",
        "deepfool.max_epochs",
        "deepfool.max_iter",
    },
}


def _cap(entry: dict, dotted: str, limit: int, fill: bool = False) -> None:
    """``entry[dotted]`` at most ``limit``; set to it where missing if ``fill``."""
    *parents, key = dotted.split(".")
    for part in parents:
        if fill and not isinstance(entry.get(part), dict):
            entry[part] = {}
        entry = entry.get(part)
        if not isinstance(entry, dict):
            return
    value = entry.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        entry[key] = min(value, limit)
    elif fill and value is None:
        entry[key] = limit


def _cap_all(entry: dict, section: str) -> None:
    for dotted, limit in CAPS[section].items():
        _cap(entry, dotted, limit, dotted in FILL_MISSING.get(section, ()))


def _shrink_epochs(entry: dict) -> None:
    """Epochs at most :data:`EPOCHS`; epochs a schedule names scale with them."""
    old = entry["epochs"]
    new = min(old, EPOCHS)
    if new == old:
        return
    entry["epochs"] = new

    def scaled(epoch):
        return min(new - 1, max(1, int(epoch * new / old))) if epoch else 0

    schedule = entry.get("schedule") or {}
    if "warmup_epochs" in schedule:
        schedule["warmup_epochs"] = scaled(schedule["warmup_epochs"])
    if "milestones" in schedule:
        schedule["milestones"] = [scaled(m) for m in schedule["milestones"]]
    reweighting = entry.get("reweighting") or {}
    if "start_epoch" in reweighting:
        reweighting["start_epoch"] = scaled(reweighting["start_epoch"])


def _standin_dataset(name: str, cfg: dict, prior_only: bool) -> dict:
    from advtail.errors import ConfigError

    classes = STANDIN_SOURCES[cfg["source"]]
    if classes is None:
        classes = len(cfg["classes"]) if cfg.get("classes") else cfg.get("num_classes")
    if classes is None and prior_only:
        classes = 1  # the data-free prior GAN is unconditional: its folders are one pool
    if classes is None:
        raise ConfigError(
            f"datasets.{name}.num_classes",
            "a miniature run (shrink) needs the class count of an image folder: set "
            "num_classes or classes",
            has_value=False,
        )
    return {
        "source": "standin",
        "num_classes": classes,
        "per_class": standin_per_class(classes),
        "image_size": cfg.get("image_size", 32),
        "channels": cfg.get("channels", 3),
        "test_fraction": 0.25,
        "val_per_class": min(cfg.get("val_per_class", 0), 1),
        "split_seed": cfg.get("split_seed", 0),
    }


class Recipes:
    """The recipe of each classifier and GAN: the entry with every number, its subset,
    seeds and ``paper`` blanked. A GAN a classifier names (the discriminator it fine-tunes)
    reads as that GAN's recipe; a classifier a GAN names (in its loop, its annotator)
    reads as a classifier: which one changes what that classifier learns, not the GAN's
    code."""

    def __init__(self, config: dict):
        self.entries = {
            "classifier": config.get("classifiers") or {},
            "gan": config.get("gans") or {},
        }
        self.memo: dict[tuple[str, str], str] = {}

    def of(self, kind: str, name: str) -> str:
        key = (kind, name)
        if key not in self.memo:
            self.memo[key] = f"<{kind}>"  # a cycle of names reads as the kind only
            self.memo[key] = repr(self.blank(self.entries[kind][name], kind))
        return self.memo[key]

    def blank(self, value, owner: str = "classifier"):
        """``value`` (part of an entry of kind ``owner``) with numbers and names blanked."""
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, (int, float)):
            return "#"
        if isinstance(value, str):
            if _NUMBER.match(value):
                return "#"
            if value in self.entries["gan"]:
                return self.of("gan", value)
            if value in self.entries["classifier"]:
                return "<classifier>" if owner == "gan" else self.of("classifier", value)
            return value
        if isinstance(value, list):
            return [self.blank(v, owner) for v in value]
        if isinstance(value, dict):
            return {
                k: self.blank(v, owner) for k, v in sorted(value.items()) if k not in NOT_RECIPE
            }
        return value


def _names_in(value) -> set[str]:
    """Every string anywhere in ``value``."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_names_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_names_in(v) for v in value)) if value else set()
    return set()


def _drop_names(value, dropped: set[str]):
    """``value`` with the dropped names taken out of every list of names."""
    if isinstance(value, dict):
        return {k: _drop_names(v, dropped) for k, v in value.items()}
    if isinstance(value, list):
        return [_drop_names(v, dropped) for v in value if not (isinstance(v, str) and v in dropped)]
    return value


def _first_of_each_recipe(config: dict) -> dict[str, set[str]]:
    """The classifiers, GANs and threats a miniature run keeps (see the module's 3.)."""
    from advtail.config.selections import gan_annotator, gan_cas_classifier, gan_labeller

    recipes = Recipes(config)
    classifiers, gans = recipes.entries["classifier"], recipes.entries["gan"]
    threats = (config.get("robustness") or {}).get("threats") or {}
    keep: dict[str, set[str]] = {"classifier": set(), "gan": set(), "threat": set()}
    for kind, entries in (("gan", gans), ("classifier", classifiers)):
        seen = set()
        for name in entries:
            recipe = recipes.of(kind, name)
            if recipe not in seen:
                seen.add(recipe)
                keep[kind].add(name)
    seen = set()
    for name, threat in threats.items():
        listed = sorted(c for c in threat.get("classifiers", []) if c in keep["classifier"])
        recipe = repr(
            (recipes.blank({k: v for k, v in threat.items() if k != "classifiers"}), listed)
        )
        if recipe not in seen and listed:
            seen.add(recipe)
            keep["threat"].add(name)
    # whatever a kept entry names or uses is kept too, until nothing is added
    subsets = config["subsets"]
    while True:
        named = set()
        for kind, entries in (("classifier", classifiers), ("gan", gans)):
            for name in keep[kind]:
                named |= _names_in(entries[name])
        for name in keep["gan"]:
            for pick in (gan_annotator, gan_cas_classifier):
                named.add(pick(gans[name], classifiers, subsets))
            named.add(gan_labeller(gans[name], classifiers))
        uaps = config.get("uaps") or {}
        named |= _names_in({k: v for k, v in uaps.items() if k != "victims"})
        added = {n for n in named if n in classifiers} - keep["classifier"]
        added_gans = {n for n in named if n in gans} - keep["gan"]
        if not added and not added_gans:
            return keep
        keep["classifier"] |= added
        keep["gan"] |= added_gans


def shrink_config(config: dict) -> dict:
    """The miniature of ``config`` as written (validate the result; the module's
    docstring says what changes). Missing keys read as their schema defaults."""
    config = unaliased(config)
    prior_gan = (config.get("uaps") or {}).get("prior_gan") or {}
    prior = config["subsets"].get(prior_gan.get("subset"), {}).get("dataset")
    for name, cfg in config["datasets"].items():
        if cfg["source"] in STANDIN_SOURCES:
            prior_only = (
                name == prior and sum(s["dataset"] == name for s in config["subsets"].values()) == 1
            )
            config["datasets"][name] = _standin_dataset(name, cfg, prior_only)
        else:
            cfg["val_per_class"] = min(cfg.get("val_per_class", 0), 1)
    available = {
        name: cfg["per_class"] - round(cfg["per_class"] * cfg["test_fraction"]) - 1
        for name, cfg in config["datasets"].items()
        if cfg["source"] == "standin"
    }
    for cfg in config["subsets"].values():
        if cfg["dataset"] in available:
            cfg.pop("n_max", None)
            if "imbalance_ratio" in cfg:
                cfg["imbalance_ratio"] = min(cfg["imbalance_ratio"], available[cfg["dataset"]])
            if "labelled_per_class" in cfg:
                cfg["labelled_per_class"] = 1

    keep = _first_of_each_recipe(config)
    robustness = config.get("robustness") or {}
    threats = robustness.get("threats") or {}
    dropped = (
        set(config.get("classifiers") or {}) - keep["classifier"]
        | set(config.get("gans") or {}) - keep["gan"]
        | set(threats) - keep["threat"]
    )
    config["classifiers"] = {
        n: c for n, c in (config.get("classifiers") or {}).items() if n in keep["classifier"]
    }
    config["gans"] = {n: c for n, c in (config.get("gans") or {}).items() if n in keep["gan"]}
    if threats:
        robustness["threats"] = {n: t for n, t in threats.items() if n in keep["threat"]}
        figures = robustness.get("figures") or {}
        if figures.get("threat") in dropped:
            figures["threat"] = None
    if config.get("claims"):
        config["claims"] = {
            n: c for n, c in config["claims"].items() if not (_names_in(c) & dropped)
        }
    for section in ("classifiers", "gans", "robustness", "uaps"):
        if config.get(section):
            config[section] = _drop_names(config[section], dropped)

    _first_seeds(config)
    for cfg in config["classifiers"].values():
        _shrink_epochs(cfg)
        _cap_all(cfg, "classifiers")
    gan_entries = list(config["gans"].values())
    if (config.get("uaps") or {}).get("prior_gan"):
        gan_entries.append(config["uaps"]["prior_gan"])
    for cfg in gan_entries:
        _cap_all(cfg, "gans")
        # a classification accuracy score needs a labelled sample of every class
        classes = config["datasets"][config["subsets"][cfg["subset"]]["dataset"]].get(
            "num_classes", 1
        )
        cfg["samples"]["count"] = max(cfg["samples"]["count"], classes)
    _fewer_attack_steps(config)
    robustness = config.get("robustness") or {}
    for threat in (robustness.get("threats") or {}).values():
        _cap_all(threat, "threats")
        threat["images"] = {
            attack: min((threat.get("images") or {}).get(attack, ATTACK_IMAGES), ATTACK_IMAGES)
            for attack in threat["attacks"]
        }
    if config.get("uaps"):
        _cap_all(config["uaps"], "uaps")
    return config


def fewer_steps(attack: str) -> str:
    """The name of ``attack`` with at most :data:`ATTACK_STEPS` steps (pgd100 -> pgd2)."""
    match = _STEPPED_ATTACK.match(attack)
    if not match:
        return attack
    return f"{match[1]}{min(int(match[2]), ATTACK_STEPS)}"


def _fewer_attack_steps(config: dict) -> None:
    """PGD and CW at :data:`ATTACK_STEPS` steps, wherever the config names them."""
    robustness = config.get("robustness") or {}
    for threat in (robustness.get("threats") or {}).values():
        threat["attacks"] = list(dict.fromkeys(fewer_steps(a) for a in threat["attacks"]))
        threat["images"] = {
            fewer_steps(a): n for a, n in sorted((threat.get("images") or {}).items())
        }
    figures = robustness.get("figures") or {}
    if figures.get("attack"):
        figures["attack"] = fewer_steps(figures["attack"])
    for claim in (config.get("claims") or {}).values():
        for where in [claim.get("where") or {}] + [
            p.get("where") or {} for p in claim_premises(claim)
        ]:
            if isinstance(where.get("attack"), str):
                where["attack"] = fewer_steps(where["attack"])


def _first_seeds(value) -> None:
    """Every seed list becomes its first seed (a list of one, where a list is required)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in SEED_KEYS and isinstance(item, list) and item:
                value[key] = item[:1]
            else:
                _first_seeds(item)
    elif isinstance(value, list):
        for item in value:
            _first_seeds(item)
