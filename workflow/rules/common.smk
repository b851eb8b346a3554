# Shared set-up: the lib on the path of every job, config validation, helpers.
import os
import sys
from pathlib import Path

LIB = Path(workflow.basedir) / "lib"
sys.path.insert(0, str(LIB))
from advtail.workflow.imports import expose_lib, lib_sources as _lib_sources

# Jobs import advtail from this checkout, installed or not (conda and cluster jobs too).
expose_lib(LIB)

from advtail.config import (
    adversarial_classifiers,
    adversarial_training_threat,
    canonical,
    discriminator_classifiers,
    expand_seeds,
    figure_attack,
    figure_threat,
    finetuned_classifiers,
    gan_annotator,
    gan_cas_classifier,
    gan_labeller,
    load_yaml,
    robust_gan_comparison,
    shrink_config,
    uap_prior_gan_config,
    uap_prior_victim,
    uap_prior_victims,
    uap_sweep_budgets,
    validate_config,
    UAP_PRIOR_GANS,
)
from advtail.data.arrays import sidecar_path
from advtail.data.sources import SPLITS
from advtail.errors import ConfigError, DataFileError
from advtail.metrics.fid_backbone import resolve_fid_backbone

from advtail.preflight import check_figures, check_sidecars, preflight
from advtail.workflow.catalog import (
    REPORT_TABLES,
    ROBUSTNESS_FIGURES,
    UAP_FIGURES,
    UAP_METHODS,
    claim_tables,
    report_table_pages,
)
from advtail.workflow.execution import jobs_run_here

try:
    for path in workflow.configfiles:
        load_yaml(path)  # Snakemake's reader keeps the last of a key written twice
    SCHEMA = Path(workflow.basedir) / "config/schema/config.schema.yaml"
    AS_WRITTEN = dict(config)
    validate_config(config, SCHEMA)
    # a miniature run (--config shrink=true) shrinks the config as written
    if config["shrink"]:
        miniature = shrink_config(AS_WRITTEN)
        config.clear()
        config.update(validate_config(miniature, SCHEMA))
    # seed lists become one classifier or GAN entry per seed, <name>_seed<s>
    REPLICATES = expand_seeds(config)
    # against the sources and, where jobs run on this machine, its devices and memory
    # (not when an executor sends them to cluster nodes, nor on a node, where CPU-only
    # jobs run too: there each network job checks its device)
    preflight(config, jobs_run_here=jobs_run_here(workflow))
    check_sidecars("results", config)
    check_figures("results")
except ConfigError as err:
    # One line, before any job runs (Snakemake deletes a job's old outputs when it starts).
    sys.exit(f"Config error: {err}")
except DataFileError as err:
    sys.exit(f"Data file error: {err}")

ENV = "../../envs/advtail.yaml"
# Threads of a network job. On CPUs small networks scale poorly with threads: two
# one-thread GAN trainings run 1.4x the steps of one two-thread training (measured on
# the 2-core default machine). Raise per rule with --set-threads train_gan=8.
NET_THREADS = 1
# GPUs a network job asks for (Slurm: --gpus); none when the config pins the CPU.
GPU = 0 if config["device"] == "cpu" else 1
DATASETS = sorted(config["datasets"])
SUBSETS = sorted(config["subsets"])
CLASSIFIERS = sorted(config["classifiers"])
# classifiers fine-tuned from a robust GAN's discriminator (rule finetune_discriminator)
FINETUNED = finetuned_classifiers(config["classifiers"])
TRAINED = [name for name in CLASSIFIERS if name not in FINETUNED]
GANS = sorted(config["gans"])
ROBUSTNESS = config["robustness"]
THREATS = sorted(ROBUSTNESS["threats"])
EVALUATION = config["evaluation"]
# Inception (weights configured or in torch hub's cache) or the annotator's features.
FID_BACKBONE = resolve_fid_backbone(EVALUATION)
if GANS and FID_BACKBONE.name != "inception":
    print(
        f"advtail: FID backbone '{FID_BACKBONE.name}': {FID_BACKBONE.reason}",
        file=sys.stderr,
    )


def lib_sources(script):
    """The lib files a script imports, transitively (they are inputs of its job)."""
    files = _lib_sources(Path(workflow.basedir) / "workflow" / "scripts" / script, LIB)
    return [
        os.path.relpath(f) if f.is_relative_to(Path.cwd()) else str(f) for f in files
    ]


def check_location(section, name, wildcards):
    """A wildcard path must be where the config puts entry ``name`` of ``section``
    (a subset under its dataset; a classifier or GAN under its subset's dataset and
    its subset): one clear error instead of a job on the wrong data."""
    cfg = config[section][name]
    subset = name if section == "subsets" else cfg["subset"]
    expected = {"dataset": config["subsets"][subset]["dataset"], "subset": subset}
    for key, value in expected.items():
        if key in wildcards.keys() and wildcards[key] != value:
            where = "dataset" if section == "subsets" else "subset"
            raise ValueError(
                f"{section[:-1]} '{name}' is of {key} '{value}', not '{wildcards[key]}' "
                f"(config key {section}.{name}.{where})"
            )


def sidecar(npz):
    """The JSON sidecar of an image-set input (a path, or a function of the wildcards):
    an input too, so a deleted sidecar is rebuilt and an edited one reruns its readers.
    """
    if callable(npz):
        return lambda wildcards: sidecar(npz(wildcards))
    return str(sidecar_path(npz))


def subset_train_split(wildcards):
    """The train split of the dataset the subset names."""
    check_location("subsets", wildcards.subset, wildcards)
    return f"results/datasets/{wildcards.dataset}/train.npz"


def subset_configs(wildcards):
    """The subset's config and those of the subsets it refers to (its params)."""
    chain, name = {}, wildcards.subset
    while name and name not in chain:
        chain[name] = config["subsets"][name]
        name = chain[name].get("reference") or chain[name].get("base")
    return canonical(chain)


def dataset_config(wildcards):
    return canonical(config["datasets"][wildcards.dataset])


def subset_files(name, kinds=("subset.npz", "counts.csv", "counts.png")):
    dataset = config["subsets"][name]["dataset"]
    return [f"results/subsets/{dataset}/{name}/{kind}" for kind in kinds]


def classifier_dir(name):
    subset = config["classifiers"][name]["subset"]
    dataset = config["subsets"][subset]["dataset"]
    return f"results/classifiers/{dataset}/{subset}/{name}"


def classifier_files(filename):
    """``filename`` in the folder of every configured classifier."""
    return [f"{classifier_dir(name)}/{filename}" for name in CLASSIFIERS]


def classifier_subset_file(wildcards):
    """The subset the classifier trains on."""
    check_location("classifiers", wildcards.classifier, wildcards)
    return f"results/subsets/{wildcards.dataset}/{wildcards.subset}/subset.npz"


def classifier_config(wildcards):
    return canonical(config["classifiers"][wildcards.classifier])


def gan_dir(name):
    subset = config["gans"][name]["subset"]
    return f"results/gans/{config['subsets'][subset]['dataset']}/{subset}/{name}"


def gan_subset_file(wildcards):
    """The subset the GAN learns."""
    check_location("gans", wildcards.gan, wildcards)
    return f"results/subsets/{wildcards.dataset}/{wildcards.subset}/subset.npz"


def classifier_model(name):
    """The model file of classifier ``name`` (a path), or no input (``[]``) without one."""
    return f"{classifier_dir(name)}/model.pt" if name else []


def gan_in_loop_model(wildcards):
    regularizer = config["gans"][wildcards.gan].get("regularizer")
    return classifier_model(regularizer["classifier"] if regularizer else None)


def gan_annotator_model(wildcards):
    gan = config["gans"][wildcards.gan]
    if not gan.get("validate_every"):
        return []
    return classifier_model(
        gan_annotator(gan, config["classifiers"], config["subsets"])
    )


def fid_stats_file(dataset, split, backbone):
    """Cached feature statistics of a real split: ``inception`` or ``classifier-<name>``."""
    return f"results/fid_stats/{dataset}/{split}/{backbone}.npz"


def gan_validation_stats(wildcards):
    """The annotator's statistics of the train split, which validation compares with."""
    gan = config["gans"][wildcards.gan]
    if not gan.get("validate_every"):
        return []
    name = gan_annotator(gan, config["classifiers"], config["subsets"])
    return fid_stats_file(wildcards.dataset, "train", f"classifier-{name}")


def evaluation_inputs(wildcards):
    """Annotator, its reference statistics and, on the Inception backbone, Inception's."""
    gan = config["gans"][wildcards.gan]
    annotator = gan_annotator(gan, config["classifiers"], config["subsets"])
    split = EVALUATION["reference_split"]
    inputs = {
        "annotator": classifier_model(annotator),
        "annotator_stats": fid_stats_file(
            wildcards.dataset, split, f"classifier-{annotator}"
        ),
    }
    if FID_BACKBONE.name == "inception":
        inputs |= {
            "weights": FID_BACKBONE.weights,
            "inception_stats": fid_stats_file(wildcards.dataset, split, "inception"),
        }
    return inputs


def gan_cas_config(wildcards):
    name = gan_cas_classifier(
        config["gans"][wildcards.gan], config["classifiers"], config["subsets"]
    )
    return {"name": name, "recipe": canonical(config["classifiers"][name])}


def cas_gans():
    """GANs with a classification accuracy score (a cas classifier to train)."""
    return [
        name
        for name in GANS
        if gan_cas_classifier(
            config["gans"][name], config["classifiers"], config["subsets"]
        )
    ]


def gan_labeller_model(wildcards):
    gan = config["gans"][wildcards.gan]
    if gan.get("head", "none") != "none":
        return []
    return classifier_model(gan_labeller(gan, config["classifiers"]))


def gan_config(wildcards):
    return canonical(config["gans"][wildcards.gan])


def gan_samples_config(wildcards):
    return canonical(config["gans"][wildcards.gan]["samples"])


def gan_files(filename, gans=None):
    return [f"{gan_dir(name)}/{filename}" for name in (GANS if gans is None else gans)]


def validated_gans():
    """GANs validated during training (they have a validation-FID curve)."""
    return [name for name in GANS if config["gans"][name].get("validate_every")]


def names_pattern(names):
    """A wildcard constraint matching exactly ``names`` (nothing when there are none)."""
    return "|".join(names) or "^$"


def finetuned_gan_file(filename):
    """``filename`` of the GAN whose discriminator the classifier fine-tunes."""

    def path(wildcards):
        gan = config["classifiers"][wildcards.classifier]["finetune"]["gan"]
        return f"{gan_dir(gan)}/{filename}"

    return path


# the robust GANs' comparison (AC-GAN, Rob-GAN, Fast-RobGAN), and the classifiers of
# Rob-GAN's Table 1 by method
ROBUST_GAN_COMPARISON = robust_gan_comparison(config["gans"])
DISCRIMINATOR_METHODS = sorted(
    {
        REPLICATES["classifiers"][name]["method"]
        for name in discriminator_classifiers(config["classifiers"])
    }
)


# the universal-perturbation stage (rules in uaps.smk)
UAPS = config.get("uaps") or {}
# claims computed from the tables over seeds (rule claims)
CLAIMS = config.get("claims") or {}
UAP_VICTIMS = UAPS.get("victims", [])
UAP_SEEDS = UAPS.get("seeds", [])


def uap_files(filename, methods=UAP_METHODS, seeds=None, victims=None):
    """``filename`` of every method's perturbation for every seed and victim."""
    return [
        f"results/uaps/seed{seed}/{victim}/{method}/{filename}"
        for seed in (UAP_SEEDS if seeds is None else seeds)
        for victim in (UAP_VICTIMS if victims is None else victims)
        for method in methods
    ]


# uaps.sweep: budget label (its path segment) -> budget
UAP_SWEEP = uap_sweep_budgets(UAPS)


def uap_sweep_files(filename):
    """``filename`` of the sweep's perturbation at every budget against every victim."""
    seed = UAP_SEEDS[0] if UAP_SEEDS else 0
    return [
        f"results/uaps/sweep/seed{seed}/eps{budget}/{victim}/data_driven/{filename}"
        for budget in UAP_SWEEP
        for victim in UAP_VICTIMS
    ]


def uap_victim_model(wildcards):
    return classifier_model(wildcards.victim)


# the classifiers with prior GANs of their own (each victim, or uaps.in_loop alone)
UAP_PRIOR_VICTIMS = uap_prior_victims(UAPS)


def uap_in_loop_model(wildcards):
    return classifier_model(wildcards.in_loop)


def uap_prior_samples(prior):
    """The samples of prior GAN ``prior`` whose loop held the wildcards' victim (or
    uaps.in_loop)."""

    def samples(wildcards):
        in_loop = uap_prior_victim(UAPS, wildcards.victim)
        return f"results/uaps/prior_gans/seed{wildcards.seed}/{in_loop}/{prior}/samples.npz"

    return samples


def uap_prior_subset_file(wildcards):
    subset = UAPS["prior_gan"]["subset"]
    return f"results/subsets/{config['subsets'][subset]['dataset']}/{subset}/subset.npz"


def uap_victim_train_file(wildcards):
    """The training subset of the victim (the data-driven methods craft on it)."""
    subset = config["classifiers"][wildcards.victim]["subset"]
    return f"results/subsets/{config['subsets'][subset]['dataset']}/{subset}/subset.npz"


def uap_test_file(wildcards):
    """The test split of the victims' dataset."""
    subset = config["classifiers"][UAP_VICTIMS[0]]["subset"]
    return f"results/datasets/{config['subsets'][subset]['dataset']}/test.npz"


def uap_prior_gan_cfg(wildcards):
    return canonical(
        uap_prior_gan_config(
            UAPS, wildcards.gan, int(wildcards.seed), wildcards.in_loop
        )
    )


def uap_settings(*keys):
    """The ``uaps`` settings a crafting rule reads (a change to others reruns nothing)."""
    return canonical({"eps": UAPS.get("eps"), **{k: UAPS.get(k) for k in keys}})


def gan_subsets():
    return sorted({config["gans"][name]["subset"] for name in GANS})


FIGURES = ("class_distribution", "fid_kl", "validation_fid", "sample_grids")


def figure_targets():
    figures = list(FIGURES) if GANS else []
    if THREATS:
        figures += ROBUSTNESS_FIGURES
    if ADVERSARIAL:
        figures.append("adversarial_training_predictions")
    if ROBUST_GAN_COMPARISON:
        figures.append("robust_gan_fid")
    if THREATS and DISCRIMINATOR_METHODS:
        figures.append("robust_gan_accuracy_against_eps")
    if UAPS:
        figures += UAP_FIGURES
    if CLAIMS:
        figures.append("claims")
    return [f"results/figures/{name}.png" for name in figures]


def sample_files(filename, gans=None):
    return [
        f"{gan_dir(name).replace('results/gans', 'results/samples', 1)}/{filename}"
        for name in (GANS if gans is None else gans)
    ]


def threat_config(wildcards):
    """The threat model's settings (not its classifier list: adding a classifier to a
    threat reruns nothing else), once the classifier is one the threat names."""
    check_location("classifiers", wildcards.classifier, wildcards)
    threat = ROBUSTNESS["threats"][wildcards.threat]
    if wildcards.classifier not in threat["classifiers"]:
        raise ValueError(
            f"classifier '{wildcards.classifier}' is not evaluated under threat "
            f"'{wildcards.threat}' (config key robustness.threats.{wildcards.threat}"
            ".classifiers)"
        )
    return canonical({k: v for k, v in threat.items() if k != "classifiers"})


def robustness_files(threats=None, suffix=".json", classifiers=None):
    """The evaluation files of every classifier (or of ``classifiers``) of each threat
    (all threats by default)."""
    files = []
    for threat in THREATS if threats is None else threats:
        for name in classifiers or ROBUSTNESS["threats"][threat]["classifiers"]:
            folder = classifier_dir(name).replace("classifiers", "robustness", 1)
            files.append(os.path.join(folder, threat + suffix))
    return files


FIGURE_THREAT = figure_threat(ROBUSTNESS)
FIGURE_ATTACK = figure_attack(ROBUSTNESS)
# adversarially trained classifiers, and the threat their table reads
ADVERSARIAL = adversarial_classifiers(config["classifiers"])
ADVERSARIAL_THREAT = adversarial_training_threat(ROBUSTNESS, config["classifiers"])


def adversarial_training_metrics(wildcards):
    """The robustness files of the adversarial training table's threat. Asked for without
    one (no threat evaluates an adversarially trained classifier), the table would have no
    row: one error before any job instead."""
    if ADVERSARIAL_THREAT is None:
        raise ConfigError(
            "robustness.threats",
            "results/tables/adversarial_training.csv needs a threat that evaluates the "
            f"adversarially trained classifiers ({', '.join(ADVERSARIAL) or 'none'}); "
            "add one (attacks: [clean] is enough)",
            has_value=False,
        )
    return robustness_files([ADVERSARIAL_THREAT])


def first_seed_of_each_method(names):
    """Per method, its replicate of the lowest seed (the one drawn where every seed
    would crowd the figure), in the order of ``names``."""
    chosen = {}
    for name in sorted(names, key=lambda n: REPLICATES["classifiers"][n]["seed"]):
        chosen.setdefault(REPLICATES["classifiers"][name]["method"], name)
    return [name for name in names if name in chosen.values()]


# the classifiers of the example grid: one replicate per method of the figure threat
EXAMPLE_CLASSIFIERS = (
    first_seed_of_each_method(ROBUSTNESS["threats"][FIGURE_THREAT]["classifiers"])
    if FIGURE_THREAT
    else []
)


def example_file(name):
    return robustness_files([FIGURE_THREAT], "_examples.npz", [name])[0]


def all_targets():
    # image sets' sidecars are targets too: a deleted one is rebuilt (same bytes), not
    # left for the next reader to fail on
    targets = [
        f"results/datasets/{dataset}/{split}.json"
        for dataset in DATASETS
        for split in SPLITS
    ]
    for name in SUBSETS:
        targets += subset_files(
            name, ("subset.npz", "subset.json", "counts.csv", "counts.png")
        )
    if CLASSIFIERS:
        targets.append("results/tables/classifiers.csv")
    targets += sample_files("grid.png") + sample_files("samples.json")
    if GANS:
        targets.append("results/tables/gan_metrics.csv")
    if THREATS:
        targets.append("results/tables/robustness.csv")
    if ADVERSARIAL_THREAT:
        targets.append("results/tables/adversarial_training.csv")
    if ROBUST_GAN_COMPARISON:
        targets.append("results/tables/robust_gans.csv")
    if UAPS:
        targets.append("results/tables/uap.csv")
    if UAP_SWEEP:
        targets.append("results/tables/uap_budget_sweep.csv")
    if CLAIMS:
        targets.append("results/tables/claims.csv")
    return targets + report_table_pages(targets)
