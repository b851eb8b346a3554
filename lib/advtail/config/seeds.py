"""Seeds: every seed in [0, 2**32) before any job; seed lists expanded into one entry per seed."""

from __future__ import annotations

from advtail.config.files import unaliased
from advtail.config.selections import _gan_role_classifier, gan_labeller
from advtail.errors import ConfigError

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
