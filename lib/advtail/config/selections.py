"""What the workflow selects from a validated config: the classifiers each GAN reads, the
robust GANs compared, the figure threat and attack, adversarially trained and fine-tuned
classifiers, the UAP prior GANs, the methods of each results table."""

from __future__ import annotations

from advtail.workflow.catalog import UAP_METHODS

# Subset profiles whose classes are not balanced (a labelled fraction follows its base).
LONG_TAILED_PROFILES = {"exponential", "step"}


def is_long_tailed(subset: str, subsets: dict) -> bool:
    cfg = subsets[subset]
    while cfg["profile"] == "labelled_fraction" and cfg.get("base"):
        cfg = subsets[cfg["base"]]
    return cfg["profile"] in LONG_TAILED_PROFILES


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


def uap_sweep_budgets(uaps: dict) -> dict:
    """``uaps.sweep.eps`` by path label (its wildcard: "48/255" -> "48_255")."""
    budgets = ((uaps or {}).get("sweep") or {}).get("eps") or []
    return {str(eps).replace("/", "_").replace(" ", ""): eps for eps in budgets}
