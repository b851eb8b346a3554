"""Config validation: the default passes; each bad config gives one line naming its key."""

import copy

import numpy as np
import pytest
from advtail.config import load_yaml, validate_config
from advtail.errors import ConfigError
from conftest import DEFAULT_CONFIG, REPO, SCHEMA, set_at


@pytest.fixture
def default():
    return load_yaml(DEFAULT_CONFIG)


def test_every_shipped_config_is_valid():
    configs = sorted((REPO / "config").glob("*.yaml"))
    assert DEFAULT_CONFIG in configs
    for path in configs:
        validate_config(load_yaml(path), SCHEMA)


def test_every_shipped_gan_config_builds_its_losses_after_defaults_are_filled():
    """The schema fills defaults into every GAN's (and UAP prior GAN's) loss, class loss
    and regularizer: each must still build (a default a constructor does not take
    failed only inside the training job)."""
    from advtail.config import UAP_PRIOR_GANS, uap_prior_gan_config
    from advtail.losses.gan import build_class_loss, build_gan_objective
    from advtail.training.robust_gan import build_discriminator_update

    for path in sorted((REPO / "config").glob("*.yaml")):
        config = load_yaml(path)
        validate_config(config, SCHEMA)
        gans = list((config.get("gans") or {}).values())
        uaps = config.get("uaps") or {}
        for victim in uaps.get("victims", []):
            gans += [uap_prior_gan_config(uaps, p, 0, victim) for p in UAP_PRIOR_GANS]
        for gan in gans:
            build_gan_objective(gan["loss"])
            if gan.get("head") == "ac":
                build_class_loss(gan.get("class_loss", {}))
            build_discriminator_update(gan.get("robust"))


def test_defaults_are_filled(default):
    del default["seed"]
    del default["subsets"]["lt20"]["seed"]
    validate_config(default, SCHEMA)
    assert default["seed"] == 0
    assert default["subsets"]["lt20"]["seed"] == 0
    assert default["subsets"]["full"]["seed"] == 0


def test_source_defaults(default):
    default["datasets"]["c10"] = {"source": "cifar10"}
    validate_config(default, SCHEMA)
    c10 = default["datasets"]["c10"]
    assert (c10["root"], c10["download"], c10["image_size"], c10["channels"]) == (
        "data/cifar10",
        False,
        32,
        3,
    )


def _set(path, value):
    def mutate(cfg):
        set_at(cfg, path, value)

    return mutate


def _drop(path):
    def mutate(cfg):
        *parents, last = path
        node = cfg
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


def _both(*mutations):
    def mutate(cfg):
        for mutation in mutations:
            mutation(cfg)

    return mutate


# (mutation of the default config, the key the message must name, a word it must contain)
BAD_CONFIGS = {
    "unknown source": (
        _set(["datasets", "digits", "source"], "mnist"),
        "datasets.digits.source",
        "one of",
    ),
    "ratio below 1": (
        _set(["subsets", "lt20", "imbalance_ratio"], 0.5),
        "subsets.lt20.imbalance_ratio",
        ">= 1",
    ),
    "ratio not a number": (
        _set(["subsets", "lt20", "imbalance_ratio"], "ten"),
        "subsets.lt20.imbalance_ratio",
        "a number",
    ),
    "undefined dataset": (
        _set(["subsets", "lt20", "dataset"], "cifar10"),
        "subsets.lt20.dataset",
        "defined under 'datasets'",
    ),
    "misspelt top key": (_set(["sed"], 1), "sed", "did you mean 'seed'"),
    "misspelt subset key": (
        _set(["subsets", "lt20", "imbalence_ratio"], 10),
        "subsets.lt20.imbalence_ratio",
        "did you mean 'imbalance_ratio'",
    ),
    "negative seed": (_set(["seed"], -1), "seed", ">= 0"),
    "negative subset seed": (_set(["subsets", "lt20", "seed"], -3), "subsets.lt20.seed", ">= 0"),
    "seed not integer": (_set(["seed"], 1.5), "seed", "an integer"),
    "bad channels": (
        _set(["datasets", "digits", "channels"], 2),
        "datasets.digits.channels",
        "[1, 3]",
    ),
    "tiny image size": (
        _set(["datasets", "digits", "image_size"], 2),
        "datasets.digits.image_size",
        ">= 4",
    ),
    "test fraction 1": (
        _set(["datasets", "digits", "test_fraction"], 1.0),
        "datasets.digits.test_fraction",
        "< 1",
    ),
    "missing ratio": (
        _drop(["subsets", "lt20", "imbalance_ratio"]),
        "subsets.lt20.imbalance_ratio",
        "required by profile 'exponential'",
    ),
    "key of another profile": (
        _set(["subsets", "lt20", "labelled_per_class"], 5),
        "subsets.lt20.labelled_per_class",
        "not used by profile",
    ),
    "key of another source": (
        _set(["datasets", "digits", "download"], True),
        "datasets.digits.download",
        "not used by source 'digits'",
    ),
    "missing source": (
        _drop(["datasets", "digits", "source"]),
        "datasets.digits.source",
        "required",
    ),
    "unknown profile": (
        _set(["subsets", "lt20", "profile"], "zipf"),
        "subsets.lt20.profile",
        "one of",
    ),
    "reference undefined": (
        _set(["subsets", "balanced_lt20", "reference"], "lt99"),
        "subsets.balanced_lt20.reference",
        "defined under 'subsets'",
    ),
    "reference cycle": (
        _set(["subsets", "lt20_label10", "base"], "lt20_label10"),
        "subsets.lt20_label10.base",
        "cycle",
    ),
    "imagefolder without root": (
        _set(["datasets", "folder"], {"source": "imagefolder"}),
        "datasets.folder.root",
        "required by source",
    ),
    "bad subset name": (
        _set(["subsets", "lt 10"], {"dataset": "digits", "profile": "full"}),
        "subsets.lt 10",
        "invalid name",
    ),
    "no datasets": (_set(["datasets"], {}), "datasets", "at least 1"),
    "device": (_set(["device"], "tpu"), "device", "one of"),
    "classifier subset undefined": (
        _set(["classifiers", "ce_lt20", "subset"], "lt99"),
        "classifiers.ce_lt20.subset",
        "defined under 'subsets'",
    ),
    "unknown architecture": (
        _set(["classifiers", "ce_lt20", "arch"], {"name": "vgg"}),
        "classifiers.ce_lt20.arch.name",
        "one of",
    ),
    "arch key of another arch": (
        _set(["classifiers", "ce_lt20", "arch"], {"name": "small_cnn", "depth": 28}),
        "classifiers.ce_lt20.arch.depth",
        "not used by architecture",
    ),
    "loss key of another loss": (
        _set(["classifiers", "ce_lt20", "loss"], {"name": "ce", "gamma": 2}),
        "classifiers.ce_lt20.loss.gamma",
        "not used by loss 'ce'",
    ),
    "drw without start": (
        _set(["classifiers", "drw_lt20", "reweighting"], {"name": "drw"}),
        "classifiers.drw_lt20.reweighting.start_epoch",
        "required by",
    ),
    "drw after the end": (
        _set(["classifiers", "drw_lt20", "reweighting", "start_epoch"], 30),
        "classifiers.drw_lt20.reweighting.start_epoch",
        "fewer than epochs",
    ),
    "factors and milestones": (
        _set(["classifiers", "ce_lt20", "schedule"], {"milestones": [10, 20], "factors": [0.1]}),
        "classifiers.ce_lt20.schedule.factors",
        "one factor per",
    ),
    "zero learning rate": (
        _set(["classifiers", "ce_lt20", "optimizer", "lr"], 0),
        "classifiers.ce_lt20.optimizer.lr",
        "> 0",
    ),
    "misspelt classifier key": (
        _set(["classifiers", "ce_lt20", "epoch"], 3),
        "classifiers.ce_lt20.epoch",
        "did you mean 'epochs'",
    ),
    "best_val without val split": (
        _set(["datasets", "digits", "val_per_class"], 0),
        "classifiers.annotator.select",
        "needs a validation split",
    ),
    "gan subset undefined": (
        _set(["gans", "sndcgan", "subset"], "nope"),
        "gans.sndcgan.subset",
        "defined under 'subsets'",
    ),
    "gan in-loop classifier undefined": (
        _set(["gans", "sndcgan_cb", "regularizer", "classifier"], "nope"),
        "gans.sndcgan_cb.regularizer.classifier",
        "defined under 'classifiers'",
    ),
    "gan negative lambda": (
        _set(["gans", "sndcgan_cb", "regularizer", "lambda"], -1),
        "gans.sndcgan_cb.regularizer.lambda",
        ">= 0",
    ),
    "gan unknown loss": (
        _set(["gans", "cgan", "loss"], {"name": "lsgan"}),
        "gans.cgan.loss.name",
        "one of",
    ),
    "gan unknown head": (_set(["gans", "cgan", "head"], "cbn"), "gans.cgan.head", "one of"),
    "penalty without wgan": (
        _set(["gans", "cgan", "loss"], {"name": "hinge", "penalty_weight": 10}),
        "gans.cgan.loss.penalty_weight",
        "'wgan_gp' only",
    ),
    "unconditional gan without labeller": (
        _set(["classifiers", "inloop_lt20", "role"], "other"),
        "gans.sndcgan.labeller",
        "needs a classifier to label",
    ),
    "cas classifier undefined": (
        _set(["gans", "acgan", "cas"], "cas_nowhere"),
        "gans.acgan.cas",
        "cas_nowhere",
    ),
    "fid reference split without val": (
        lambda cfg: (
            cfg["datasets"]["digits"].update(val_per_class=0),
            cfg["classifiers"].update(
                {k: {**v, "select": "last"} for k, v in cfg["classifiers"].items()}
            ),
            cfg.setdefault("evaluation", {}).update(reference_split="val"),
        ),
        "evaluation.reference_split",
        "needs a validation split",
    ),
    "unknown fid backbone": (
        _set(["evaluation", "fid_backbone"], "clip"),
        "evaluation.fid_backbone",
        "one of",
    ),
    "threat of an undefined classifier": (
        _set(["robustness", "threats", "linf16", "classifiers"], ["ce_lt20", "nowhere"]),
        "robustness.threats.linf16.classifiers.1",
        "nowhere",
    ),
    "unknown attack": (
        _set(["robustness", "threats", "linf32", "attacks"], ["clean", "fab"]),
        "robustness.threats.linf32.attacks.1",
        "unknown attack 'fab'",
    ),
    "attack of zero steps": (
        _set(["robustness", "threats", "linf32", "attacks"], ["pgd0"]),
        "robustness.threats.linf32.attacks.0",
        "at least 1",
    ),
    "unknown norm": (
        _set(["robustness", "threats", "linf32", "norm"], "l1"),
        "robustness.threats.linf32.norm",
        "one of",
    ),
    "zero budget": (
        _set(["robustness", "threats", "linf32", "eps"], 0),
        "robustness.threats.linf32.eps",
        "(0, 1]",
    ),
    "budget above one": (
        _set(["robustness", "threats", "linf32", "eps"], "300/255"),
        "robustness.threats.linf32.eps",
        "(0, 1]",
    ),
    "budget not a number": (
        _set(["robustness", "threats", "linf32", "eps"], "eight"),
        "robustness.threats.linf32.eps",
        "'8/255'",
    ),
    "zero restarts": (
        _set(["robustness", "threats", "linf32", "restarts"], 0),
        "robustness.threats.linf32.restarts",
        ">= 1",
    ),
    "subset of an attack the threat lacks": (
        _set(["robustness", "threats", "linf16", "images"], {"pgd1000": 100}),
        "robustness.threats.linf16.images.pgd1000",
        "an attack of this threat",
    ),
    "subset of no image": (
        _set(["robustness", "threats", "linf16", "images"], {"pgd100": 0}),
        "robustness.threats.linf16.images.pgd100",
        ">= 1",
    ),
    "zero square queries": (
        _set(["robustness", "threats", "linf16", "autoattack", "square_queries"], 0),
        "robustness.threats.linf16.autoattack.square_queries",
        ">= 1",
    ),
    "figure attack outside the figure threat": (
        _set(["robustness", "figures"], {"threat": "linf32", "attack": "cw100"}),
        "robustness.figures.attack",
        "figure threat 'linf32'",
    ),
    "undefined figure threat": (
        _set(["robustness", "figures"], {"threat": "linf2"}),
        "robustness.figures.threat",
        "linf2",
    ),
    "wrn depth": (
        _set(["classifiers", "ce_lt20", "arch"], {"name": "wrn", "depth": 27}),
        "classifiers.ce_lt20.arch.depth",
        "6n + 4",
    ),
    "unknown training attack": (
        _set(["classifiers", "reat_lt20", "adversarial", "attack"], "apgd"),
        "classifiers.reat_lt20.adversarial.attack",
        "one of",
    ),
    "training budget above 1": (
        _set(["classifiers", "reat_lt20", "adversarial", "eps"], "300/255"),
        "classifiers.reat_lt20.adversarial.eps",
        "(0, 1]",
    ),
    "pgd training without steps": (
        _drop(["classifiers", "reat_lt20", "adversarial", "steps"]),
        "classifiers.reat_lt20.adversarial.steps",
        "required by training attack 'pgd'",
    ),
    "steps of an fgsm training": (
        _set(["classifiers", "reat_lt20", "adversarial", "attack"], "fgsm"),
        "classifiers.reat_lt20.adversarial.random_start",
        "not used by training attack 'fgsm'",
    ),
    "rbl on a margin inner loss": (
        _set(
            ["classifiers", "reat_lt20", "adversarial", "inner_loss"],
            {"name": "cw", "weights": "rbl"},
        ),
        "classifiers.reat_lt20.adversarial.inner_loss.name",
        "cannot take the class weights",
    ),
    "reat on a balanced subset": (
        _set(["classifiers", "reat_lt20", "subset"], "balanced_lt20"),
        "classifiers.reat_lt20.adversarial.inner_loss.weights",
        "not long-tailed",
    ),
    "tail on the full split": (
        _both(
            _set(
                ["classifiers", "reat_lt20", "adversarial"],
                {"attack": "fgsm", "eps": 0.1, "tail": {"lambda": 1.0}},
            ),
            _set(["classifiers", "reat_lt20", "subset"], "full"),
        ),
        "classifiers.reat_lt20.adversarial.tail",
        "not long-tailed",
    ),
    "robust gan without a class head": (
        _set(["gans", "robgan", "head"], "projection"),
        "gans.robgan.head",
        "expected head: ac",
    ),
    "robust gan attack it cannot use": (
        _set(["gans", "robgan", "robust", "attack"], "autoattack"),
        "gans.robgan.robust.attack",
        "one of",
    ),
    "no replays": (
        _set(["gans", "fastrobgan", "robust", "replays"], 0),
        "gans.fastrobgan.robust.replays",
        "1",
    ),
    "robust gan budget above 1": (
        _set(["gans", "robgan", "robust", "eps"], 1.5),
        "gans.robgan.robust.eps",
        "(0, 1]",
    ),
    "robust gan budget zero": (
        _set(["gans", "fastrobgan", "robust", "step_size"], "0/255"),
        "gans.fastrobgan.robust.step_size",
        "(0, 1]",
    ),
    "replays of a pgd robust gan": (
        _set(["gans", "robgan", "robust", "replays"], 2),
        "gans.robgan.robust.replays",
        "not used by robust GAN attack 'pgd'",
    ),
    "rob-gan on the relativistic loss": (
        _set(["gans", "robgan", "loss"], {"name": "relativistic"}),
        "gans.robgan.loss.name",
        "each real image alone",
    ),
    "class loss without a class head": (
        _set(["gans", "cgan", "class_loss"], {"name": "split"}),
        "gans.cgan.class_loss",
        "class head",
    ),
    "kl of the ac class loss": (
        _set(["gans", "acgan", "class_loss"], {"name": "ac", "kl": "code"}),
        "gans.acgan.class_loss.kl",
        "not used by class loss 'ac'",
    ),
    "fine-tuning a gan without a class head": (
        _set(["classifiers", "robgan_ft_lt20", "finetune", "gan"], "cgan"),
        "classifiers.robgan_ft_lt20.finetune.gan",
        "head ac",
    ),
    "fine-tuning a missing gan": (
        _set(["classifiers", "robgan_ft_lt20", "finetune", "gan"], "robgan2"),
        "classifiers.robgan_ft_lt20.finetune.gan",
        "defined under 'gans'",
    ),
    "fine-tuning without attacks": (
        _drop(["classifiers", "robgan_ft_lt20", "adversarial"]),
        "classifiers.robgan_ft_lt20.adversarial",
        "add an adversarial block",
    ),
    "fine-tuning with an architecture": (
        _set(["classifiers", "robgan_ft_lt20", "arch"], {"name": "small_cnn"}),
        "classifiers.robgan_ft_lt20.arch",
        "remove arch",
    ),
    "uap victim missing": (
        _set(["uaps", "victims"], ["ce_lt20", "nope"]),
        "uaps.victims.1",
        "defined under 'classifiers'",
    ),
    "uap without a prior gan": (
        _drop(["uaps", "prior_gan"]),
        "uaps.prior_gan",
        "prior GAN's settings",
    ),
    "uap budget zero": (_set(["uaps", "eps"], 0), "uaps.eps", "(0, 1]"),
    "uap budget above one": (_set(["uaps", "eps"], "300/255"), "uaps.eps", "(0, 1]"),
    "uap prior gan subset missing": (
        _set(["uaps", "prior_gan", "subset"], "nowhere"),
        "uaps.prior_gan.subset",
        "defined under 'subsets'",
    ),
    "uap prior of the victims' data": (
        _set(["uaps", "prior_gan", "subset"], "lt20"),
        "uaps.prior_gan.subset",
        "never saw",
    ),
    "uap prior with no images": (
        _set(["datasets", "patches", "count"], 0),
        "datasets.patches.count",
        "an integer >= 1",
    ),
    "uap prior of another image size": (
        _set(["datasets", "patches", "image_size"], 32),
        "datasets.patches.image_size",
        "victims'",
    ),
    "uap in-loop victim missing": (
        _set(["uaps", "in_loop"], "nope"),
        "uaps.in_loop",
        "defined under 'classifiers'",
    ),
    "uap prior gan without snapshots": (
        _set(["uaps", "prior_gan", "snapshots"], 0),
        "uaps.prior_gan.snapshots",
        "expected 1 to 3 cycles",
    ),
    "uap prior gan conditional": (
        _set(["uaps", "prior_gan", "head"], "ac"),
        "uaps.prior_gan.head",
        "unconditional",
    ),
    "uap skip gradient on a plain cnn": (
        _set(["uaps", "gap", "skip_gradient"], 0.5),
        "uaps.gap.skip_gradient",
        "residual",
    ),
    "patch scales reversed": (
        _set(["datasets", "patches", "min_scale"], 0.9),
        "datasets.patches.min_scale",
        "at most max_scale",
    ),
    "classifier without an architecture": (
        _drop(["classifiers", "ce_lt20", "arch"]),
        "classifiers.ce_lt20.arch",
        "missing",
    ),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_names_key(default, case):
    mutate, key, words = BAD_CONFIGS[case]
    config = copy.deepcopy(default)
    mutate(config)
    with pytest.raises(ConfigError) as info:
        validate_config(config, SCHEMA)
    message = str(info.value)
    assert info.value.key == key
    assert f"config key '{key}'" in message
    assert words in message
    assert "\n" not in message


def test_yaml_anchors_are_not_shared(default):
    # the default config shares its training settings through a YAML anchor
    default["classifiers"]["ce_lt20"]["optimizer"]["lr"] = 0.5
    assert default["classifiers"]["annotator"]["optimizer"]["lr"] == 0.05
    # a config built in Python with shared dicts is un-aliased by validation
    config = copy.deepcopy(default)
    shared = {"name": "adam", "lr": 0.001}
    config["classifiers"]["ce_lt20"]["optimizer"] = shared
    config["classifiers"]["drw_lt20"]["optimizer"] = shared
    validate_config(config, SCHEMA)
    config["classifiers"]["ce_lt20"]["optimizer"]["lr"] = 0.1
    assert config["classifiers"]["drw_lt20"]["optimizer"]["lr"] == 0.001


@pytest.mark.bad_input
def test_load_yaml_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_yaml(scalar)
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")


def test_canonical_ignores_key_order():
    from advtail.config import canonical

    a = {"b": 1, "a": {"y": [{"q": 1, "p": 2}], "x": 2}}
    b = {"a": {"x": 2, "y": [{"p": 2, "q": 1}]}, "b": 1}
    assert repr(canonical(a)) == repr(canonical(b))
    assert canonical(a) == a


def _expanded(mutate):
    from advtail.config import expand_seeds

    config = load_yaml(DEFAULT_CONFIG)
    mutate(config)
    validate_config(config, SCHEMA)
    return config, expand_seeds(config)


def test_seed_lists_expand_and_pair_by_seed():
    config, replicates = _expanded(lambda c: c["gans"]["sndcgan_cb"].update(seed=[1, 2]))
    assert "sndcgan_cb" not in config["gans"]
    assert config["gans"]["sndcgan_cb_seed2"]["seed"] == 2
    assert replicates["gans"]["sndcgan_cb_seed2"] == {"method": "sndcgan_cb", "seed": 2}
    assert replicates["gans"]["cgan"] == {"method": "cgan", "seed": 0}
    # an unseeded classifier is shared by every seed
    assert config["gans"]["sndcgan_cb_seed1"]["regularizer"]["classifier"] == "inloop_lt20"

    config, _ = _expanded(lambda c: c.update(seeds=[0, 5]))
    gan = config["gans"]["sndcgan_cb_seed5"]
    assert gan["regularizer"]["classifier"] == "inloop_lt20_seed5"
    assert gan["annotator"] == "annotator_seed5" and gan["cas"] == "cas_lt20_seed5"
    assert config["gans"]["sndcgan_seed5"]["labeller"] == "inloop_lt20_seed5"
    assert len(config["classifiers"]) == 26 and len(config["gans"]) == 12
    # a fine-tuned discriminator fine-tunes its GAN's same seed
    assert config["classifiers"]["robgan_ft_lt20_seed5"]["finetune"]["gan"] == "robgan_seed5"
    assert config["classifiers"]["robgan_ft_lt20_seed0"]["finetune"]["gan"] == "robgan_seed0"


@pytest.mark.parametrize(
    "mutate, key",
    [
        # an unseeded GAN cannot pick one of a seeded classifier's runs by itself
        (lambda c: c["classifiers"]["inloop_lt20"].update(seed=[0, 1]), "gans.sndcgan.labeller"),
        # GAN seed 7 has no classifier seed 7 to pair with
        (
            lambda c: (c.update(seeds=[0, 1]), c["gans"]["sndcgan_cb"].update(seed=[7])),
            "gans.sndcgan_cb.regularizer.classifier",
        ),
        (lambda c: c["gans"]["cgan"].update(seed=[1, 1]), "gans.cgan.seed"),
        # an unseeded fine-tuning cannot pick one of a seeded GAN's runs by itself
        (
            lambda c: c["gans"]["robgan"].update(seed=[0, 1]),
            "classifiers.robgan_ft_lt20.finetune.gan",
        ),
        (lambda c: c["gans"]["cgan"].update(seed=[]), "gans.cgan.seed"),
        (lambda c: c.update(seeds=[-1]), "seeds.0"),
    ],
)
@pytest.mark.bad_input
def test_bad_seed_lists_are_one_line_errors(mutate, key):
    with pytest.raises(ConfigError) as err:
        _expanded(mutate)
    assert err.value.key == key and "\n" not in str(err.value)


def test_summary_aggregates_seeds():
    import pandas as pd
    from advtail.metrics.tables import summarize_by_method

    table = pd.DataFrame(
        {
            "dataset": ["d"] * 4,
            "subset": ["s"] * 4,
            "method": ["a", "a", "a", "b"],
            "seed": [0, 1, 2, 0],
            "kl": [0.1, 0.2, 0.6, 1.0],
            "backbone": ["x"] * 4,
        }
    )
    summary = summarize_by_method(table).set_index("method")
    assert summary.loc["a", "n_seeds"] == 3 and summary.loc["a", "seeds"] == "0 1 2"
    assert summary.loc["a", "kl_mean"] == pytest.approx(0.3)
    assert summary.loc["a", "kl_sd"] == pytest.approx(np.std([0.1, 0.2, 0.6], ddof=1))
    assert np.isnan(summary.loc["b", "kl_sd"]) and summary.loc["b", "backbone"] == "x"


def test_variant_key_tables_come_from_the_schema_and_fit_the_code():
    """The keys a variant may set are the schema's; they must be what the code takes."""
    import inspect

    from advtail.config import load_schema, schema_variants
    from advtail.losses.classification import LOSSES
    from advtail.nets.classifiers import ARCHITECTURES

    variants = schema_variants(load_schema(SCHEMA))
    for name, builder in ARCHITECTURES.items():
        takes = set(inspect.signature(builder).parameters)
        assert variants["arch"][name]["allowed"] - {"name"} <= takes, name
    for name, loss in LOSSES.items():
        parameters = inspect.signature(loss).parameters.values()
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        takes = {p.name for p in parameters if p.kind in named} - {"class_counts"}
        assert variants["loss"][name]["allowed"] - {"name"} == takes, name
    assert variants["reweighting"]["drw"]["required"] == {"start_epoch"}
    from advtail.training.robust_gan import ROBUST_GAN_ATTACKS, build_discriminator_update

    assert tuple(variants["robust"]) == ROBUST_GAN_ATTACKS
    from advtail.losses.gan import CLASS_LOSSES

    for name, table in variants["class_loss"].items():  # each takes what the schema allows
        takes = set(inspect.signature(CLASS_LOSSES[name]).parameters)
        assert table["allowed"] - {"name"} == takes, name
    for attack, table in variants["robust"].items():  # every key the schema allows is read
        robust = {"attack": attack, "eps": 0.1, "step_size": 0.05}
        own = {"steps": 2, "random_start": True}
        robust |= {"replays": 3, "init": "zero"} if attack == "free" else own
        assert set(robust) == table["allowed"]
        update = build_discriminator_update(robust)
        if attack == "free":
            assert update.replays == 3 and update.perturbation.init == "zero"
        else:
            assert update.attack.steps == 2 and update.attack.random_start
    assert variants["dataset"]["imagefolder"]["required"] == {"root"}
    assert variants["dataset"]["cifar100"]["defaults"] == {
        "root": "data/cifar100",
        "download": False,
    }
    assert variants["subset"]["exponential"]["allowed"] == {
        "dataset",
        "profile",
        "seed",
        "imbalance_ratio",
        "n_max",
    }


def _float_keys(value, key=""):
    """Dotted keys of every float in a config (the keys NaN and infinity must not pass)."""
    if isinstance(value, float):
        yield key
    elif isinstance(value, dict):
        for name, item in value.items():
            if not str(name).startswith("x-"):
                yield from _float_keys(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _float_keys(item, f"{key}.{index}")


FLOAT_KEYS = sorted(set(_float_keys(load_yaml(DEFAULT_CONFIG))))


@pytest.mark.bad_input
@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_nan_and_infinity_are_rejected_in_every_float_key(key):
    for bad in (float("nan"), float("inf"), float("-inf")):
        config = load_yaml(DEFAULT_CONFIG)
        set_at(config, key.split("."), bad)
        with pytest.raises(ConfigError) as caught:
            validate_config(config, SCHEMA)
        assert str(caught.value).startswith(f"config key '{key}': expected a finite number")


def test_threats_evaluate_every_seed_of_a_seeded_classifier():
    from advtail.config import expand_seeds, figure_attack, figure_threat

    config = load_yaml(DEFAULT_CONFIG)
    config["classifiers"]["ce_lt20"]["seed"] = [0, 2]
    validate_config(config, SCHEMA)
    expand_seeds(config)
    threat = config["robustness"]["threats"]["linf16"]
    assert threat["classifiers"][:4] == [
        "ce_lt20_seed0",
        "ce_lt20_seed2",
        "drw_lt20",
        "ldam_drw_lt20",
    ]
    # the figures show the threat with the most attacks, and its PGD-20
    assert figure_threat(config["robustness"]) == "linf16"
    assert figure_attack(config["robustness"]) == "pgd20"
    del config["robustness"]["threats"]["linf16"]
    assert figure_threat(config["robustness"]) == "linf16_pgd"  # a tie: the first by name


def test_the_float_keys_cover_every_section():
    sections = {key.split(".")[0] for key in FLOAT_KEYS}
    assert {"datasets", "classifiers", "gans"} <= sections, sections  # subsets: tested above
    assert len(FLOAT_KEYS) >= 20


def test_preflight_knows_the_digits_and_cifar_class_counts():
    from advtail.data.sources import build_splits
    from advtail.preflight import DIGITS_CLASS_COUNTS, source_train_counts
    from sklearn.datasets import load_digits

    assert tuple(np.bincount(load_digits().target)) == DIGITS_CLASS_COUNTS
    cfg = {"source": "digits", "image_size": 8, "channels": 1, "test_fraction": 0.3}
    splits = build_splits("d", {**cfg, "val_per_class": 0, "split_seed": 3})
    assert source_train_counts(cfg).tolist() == splits["train"].class_counts().tolist()
    assert source_train_counts({"source": "cifar100"}).tolist() == [500] * 100
    assert source_train_counts({"source": "imagefolder"}) is None


def test_preflight_memory_bound_scales_with_the_batch():
    from advtail.preflight import check_memory

    config = load_yaml(DEFAULT_CONFIG)
    validate_config(config, SCHEMA)
    check_memory(config, 2**30, "1 GiB")  # the default experiment fits in 1 GiB
    config["gans"]["acgan"]["batch_size"] = 2**22  # 2 x 2^22 x (8 x 8) x 4 bytes = 2 GiB
    with pytest.raises(ConfigError, match="gans.acgan.batch_size.*needs 2 GiB, more than"):
        check_memory(config, 2**30, "1 GiB")
    check_memory(config, 2**32, "4 GiB")


def test_adversarial_training_threat(default):
    from advtail.config import adversarial_classifiers, adversarial_training_threat

    validate_config(default, SCHEMA)
    trained = adversarial_classifiers(default["classifiers"])
    # and PGD-AT of the robust GANs' discriminator network, not the fine-tuned ones
    assert trained == [
        "pgdat_balanced_lt20",
        "pgdat_bsl_lt20",
        "pgdat_disc_lt20",
        "pgdat_lt20",
        "reat_lt20",
    ]
    robustness, classifiers = default["robustness"], default["classifiers"]
    assert adversarial_training_threat(robustness, classifiers) == "linf16"
    # the figure threat without them: the threat that evaluates the most of them
    del robustness["threats"]["linf16_pgd"]
    for name in ("linf4", "linf32"):
        robustness["threats"][name]["classifiers"] = ["ce_lt20"]
    robustness["figures"] = {"threat": "linf32"}
    robustness["threats"]["linf4"]["classifiers"] = ["reat_lt20"]
    assert adversarial_training_threat(robustness, classifiers) == "linf16"
    robustness["threats"]["linf16"]["classifiers"] = ["ce_lt20"]
    assert adversarial_training_threat(robustness, classifiers) == "linf4"
    robustness["threats"]["linf4"]["classifiers"] = ["ce_lt20"]
    assert adversarial_training_threat(robustness, classifiers) is None


def test_robust_gan_comparison_and_discriminator_classifiers(default):
    from advtail.config import discriminator_classifiers, robust_gan_comparison

    validate_config(default, SCHEMA)
    assert robust_gan_comparison(default["gans"]) == ["acgan", "fastrobgan", "robgan"]
    assert discriminator_classifiers(default["classifiers"]) == [
        "fastrobgan_ft_lt20",
        "pgdat_disc_lt20",
        "robgan_ft_lt20",
    ]
    # without a robust GAN there is nothing to compare
    del default["gans"]["robgan"], default["gans"]["fastrobgan"]
    assert robust_gan_comparison(default["gans"]) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["seed"], 2**40),
        (["seeds"], [0, 2**32]),
        (["datasets", "digits", "split_seed"], 2**64),
        (["subsets", "lt20", "seed"], 2**70),
        (["classifiers", "ce_lt20", "seed"], [0, 2**70]),
        (["gans", "cgan", "seed"], 2**32),
        (["gans", "cgan", "samples", "seed"], 2**33),
        (["robustness", "threats", "linf4", "seed"], 2**70),
        (["uaps", "seeds"], [1099511627776]),
        (["uaps", "prior_gan", "seed"], 2**40),
    ],
    ids=lambda v: ".".join(v) if isinstance(v, list) and isinstance(v[0], str) else None,
)
def test_every_seed_of_every_section_is_checked_at_start(default, path, value):
    """One rule for every seed: [0, 2**32), the range of every generator the pipeline
    seeds; the error names the key as written (before seed lists become entries)."""
    set_at(default, path, value)
    with pytest.raises(ConfigError, match=r"expected a seed in \[0, 4294967295\]") as caught:
        validate_config(default, SCHEMA)
    assert f"config key '{'.'.join(path)}'" in str(caught.value)


@pytest.mark.parametrize(
    "path",
    [
        ["classifiers", "pgdat_lt20", "adversarial"],
        ["gans", "robgan", "robust"],
    ],
    ids=["adversarial training", "robust gan"],
)
def test_an_attack_step_larger_than_its_budget_is_refused(default, path):
    node = default
    for part in path:
        node = node[part]
    node["step_size"] = "32/255"  # larger than the 16/255 budget
    with pytest.raises(ConfigError, match=r"expected at most eps") as caught:
        validate_config(default, SCHEMA)
    assert f"config key '{'.'.join(path)}.step_size'" in str(caught.value)


def test_a_threat_of_a_one_class_prior_classifier_is_refused(default):
    """A classifier of the photo patches (one class) under attack added rows of robust
    accuracy 1.0 to robustness.csv."""
    default["classifiers"]["patch_clf"] = {**default["classifiers"]["ce_lt20"]}
    default["classifiers"]["patch_clf"].update(subset="patches_all", select="last")
    default["robustness"]["threats"]["linf4"]["classifiers"].append("patch_clf")
    with pytest.raises(ConfigError, match="one-class prior") as caught:
        validate_config(default, SCHEMA)
    assert "config key 'robustness.threats.linf4.classifiers.6'" in str(caught.value)
