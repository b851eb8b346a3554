"""Sample evaluation: FID against pytorch-fid, the Inception path with random weights,
Inception Score, reference statistics, backbone choice, figures and bad inputs."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from advtail.data.arrays import ImageSet, save_image_set
from advtail.errors import ConfigError, DataFileError
from advtail.metrics.fid_backbone import INCEPTION_FILE, resolve_fid_backbone
from advtail.metrics.generation import (
    feature_statistics,
    frechet_distance,
    inception_score,
)
from advtail.metrics.inception import (
    InceptionFeatures,
    inception_activations,
    random_inception_state,
)
from advtail.stages.evaluate_samples import evaluate_samples
from advtail.stages.fid_reference_stats import annotator_reference_statistics
from advtail.stages.inception_reference_stats import inception_reference_statistics
from advtail.stages.reference_statistics import (
    load_reference_statistics,
    save_reference_statistics,
)


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """A randomly initialised FID Inception, saved as pytorch-fid's weights file would be."""
    path = tmp_path_factory.mktemp("weights") / INCEPTION_FILE
    torch.save(random_inception_state(seed=0), path)
    return path


def _images(n=6, size=16, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8)


def _save_set(path, images, num_classes=2, **meta):
    labels = np.arange(len(images), dtype=np.int64) % num_classes
    names = [str(k) for k in range(num_classes)]
    save_image_set(path, ImageSet(images, labels, names, meta={"dataset": "toy", **meta}))


def _save_annotator(path):
    """A 2-class small CNN for 16 px grey images, saved as the annotator 'ann'."""
    from advtail.nets.classifiers import build_classifier
    from advtail.nets.files import save_model

    arch = {"name": "small_cnn", "num_classes": 2, "channels": 1, "mean": [0.5], "std": [0.5]}
    arch["width"] = 4
    save_model(
        path,
        build_classifier(arch),
        arch,
        classifier="ann",
        class_names=["0", "1"],
        class_counts=[4, 4],
        config={},
    )


# ------------------------------------------------------------------ Frechet distance
def test_frechet_distance_equals_pytorch_fid():
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 16))
    b = rng.normal(loc=0.3, scale=1.4, size=(250, 16)) @ rng.normal(size=(16, 16))
    stats_a, stats_b = feature_statistics(a), feature_statistics(b)
    ours = frechet_distance(*stats_a, *stats_b)
    theirs = calculate_frechet_distance(*stats_a, *stats_b)
    assert ours == pytest.approx(float(theirs), rel=1e-9)
    assert ours > 1.0  # different distributions, a clearly positive distance


def test_inception_score_splits_as_torch_fidelity():
    # N = 13, 10 splits: split i is rows floor(13 i / 10) .. floor(13 (i + 1) / 10), so
    # the remainder rows fall into splits 3, 6 and 9 (sizes 1 1 1 2 1 1 2 1 1 2), not the first
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5) * 0.3, size=13)
    bounds = [(13 * i) // 10 for i in range(11)]
    sizes = [b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    assert sizes == [1, 1, 1, 2, 1, 1, 2, 1, 1, 2]

    def by_rule(part):
        marginal = part.mean(0, keepdims=True)
        return np.exp(np.sum(part * (np.log(part + 1e-12) - np.log(marginal + 1e-12)), 1).mean())

    expected = [by_rule(p[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    mean, std = inception_score(p, splits=10)
    assert mean == pytest.approx(np.mean(expected), rel=1e-12)
    assert std == pytest.approx(np.std(expected), rel=1e-12)
    # numpy's array_split (sizes 2 2 2 1 ...) gives another score on these rows
    other = np.mean([by_rule(part) for part in np.array_split(p, 10)])
    assert abs(other - mean) > 1e-6


def test_inception_score_known_values():
    k = 5
    confident_and_spread = np.eye(k)[np.arange(100) % k]  # one-hot, all classes equally
    assert inception_score(confident_and_spread, splits=4)[0] == pytest.approx(k, rel=1e-6)
    one_class = np.tile(np.eye(k)[0], (100, 1))
    assert inception_score(one_class, splits=4)[0] == pytest.approx(1.0, abs=1e-6)
    uncertain = np.full((100, k), 1.0 / k)
    assert inception_score(uncertain)[0] == pytest.approx(1.0, abs=1e-6)


# ------------------------------------------------------------------ Inception path
def test_inception_activations_equal_pytorch_fid_get_activations(tmp_path, inception_weights):
    """Our in-memory path gives pytorch-fid's own activations of the same images (PNGs)."""
    from PIL import Image
    from pytorch_fid.fid_score import get_activations

    images = _images(n=4, size=16, channels=1)
    files = []
    for i, image in enumerate(images):
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(image[..., 0]).save(files[-1])
    # two instances: ours fused and channels-last, pytorch-fid's network as it builds it
    ours_net = InceptionFeatures.from_file(inception_weights)
    their_net = InceptionFeatures.from_file(inception_weights, fuse=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in ours_net.modules())
    ours = inception_activations(ours_net, images, "cpu", batch_size=3)
    theirs = get_activations([str(f) for f in files], their_net.net, batch_size=4, num_workers=0)
    assert ours.shape == (4, 2048) and np.abs(theirs).max() > 1.0
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


def test_inception_fid_and_is_end_to_end_with_random_weights(tmp_path, inception_weights):
    real, fake = _images(n=8, seed=0), _images(n=8, seed=1)
    _save_set(tmp_path / "test.npz", real)
    _save_set(tmp_path / "same.npz", real, gan="copy")
    _save_set(tmp_path / "other.npz", fake, gan="noise")
    _save_annotator(tmp_path / "ann.pt")
    for backbone, compute, model in (
        ("inception", inception_reference_statistics, inception_weights),
        ("annotator", annotator_reference_statistics, tmp_path / "ann.pt"),
    ):
        meta = compute(tmp_path / "test.npz", tmp_path / f"{backbone}.npz", model, device="cpu")
        assert meta["backbone"] == backbone and meta["num_images"] == 8
    mu, sigma, _ = load_reference_statistics(tmp_path / "inception.npz", "inception")
    assert mu.shape == (2048,) and sigma.shape == (2048, 2048)
    results = {
        name: evaluate_samples(
            tmp_path / f"{name}.npz",
            tmp_path / "ann.pt",
            tmp_path / "annotator.npz",
            tmp_path / f"{name}.json",
            inception_weights=inception_weights,
            inception_stats=tmp_path / "inception.npz",
            device="cpu",
        )
        for name in ("same", "other")
    }
    same, other = results["same"], results["other"]
    assert same["fid_backbone"] == "inception" and same["fid"] == same["fid_inception"]
    assert same["inception_score"] == same["is_inception"] >= 1.0
    # identical images: a distance near 0, tiny against that of other images
    assert abs(same["fid_inception"]) < 1e-3 * other["fid_inception"]
    assert other["fid_inception"] > 0 and other["fid_annotator"] > same["fid_annotator"]
    assert json.loads((tmp_path / "same.json").read_text())["fid_backbone"] == "inception"


# ------------------------------------------------------------------ backbone choice
def test_backbone_choice(tmp_path, monkeypatch, inception_weights):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    auto = resolve_fid_backbone({"fid_backbone": "auto"})
    assert auto.name == "annotator" and "fid_annotator" in auto.reason
    with pytest.raises(ConfigError, match="evaluation.fid_backbone"):
        resolve_fid_backbone({"fid_backbone": "inception"})
    configured = resolve_fid_backbone({"inception_weights": str(inception_weights)})
    assert configured == resolve_fid_backbone(
        {"fid_backbone": "inception", "inception_weights": str(inception_weights)}
    )
    assert configured.name == "inception" and configured.weights == str(inception_weights)
    assert (
        resolve_fid_backbone(
            {"fid_backbone": "annotator", "inception_weights": str(inception_weights)}
        ).name
        == "annotator"
    )
    cached = tmp_path / "torch" / "hub" / "checkpoints" / INCEPTION_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    found = resolve_fid_backbone({})
    assert found.name == "inception" and found.weights == str(cached)


def test_weights_path_that_does_not_exist_stops_the_config(repo):
    from advtail.config import load_yaml, validate_config

    config = load_yaml(repo / "config" / "config.yaml")
    config["evaluation"] = {"inception_weights": "/nowhere/pt_inception.pth"}
    with pytest.raises(ConfigError, match="evaluation.inception_weights.*/nowhere"):
        validate_config(config, repo / "config" / "schema" / "config.schema.yaml")


@pytest.mark.bad_input
def test_bad_weights_file(tmp_path):
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(DataFileError, match="garbage.pth: not a readable"):
        InceptionFeatures.from_file(tmp_path / "garbage.pth")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(DataFileError, match="other.pth: not pytorch-fid's Inception"):
        InceptionFeatures.from_file(tmp_path / "other.pth")


# ------------------------------------------------------------------ bad inputs
def test_missing_and_bad_reference_statistics(tmp_path):
    with pytest.raises(DataFileError, match="missing.npz: reference statistics not found"):
        load_reference_statistics(tmp_path / "missing.npz")
    np.savez(tmp_path / "bad.npz", mu=np.zeros(3))
    with pytest.raises(DataFileError, match="bad.npz: not a reference-statistics file"):
        load_reference_statistics(tmp_path / "bad.npz")
    save_reference_statistics(tmp_path / "shape.npz", np.zeros(3), np.eye(4), backbone="x")
    with pytest.raises(DataFileError, match="do not match"):
        load_reference_statistics(tmp_path / "shape.npz")
    save_reference_statistics(tmp_path / "ok.npz", np.zeros(3), np.eye(3), backbone="annotator")
    with pytest.raises(DataFileError, match="expected 'inception'"):
        load_reference_statistics(tmp_path / "ok.npz", "inception")


@pytest.mark.bad_input
def test_samples_of_the_wrong_shape(tmp_path):
    _save_annotator(tmp_path / "ann.pt")
    _save_set(tmp_path / "real.npz", _images(n=8, size=16))
    _save_set(tmp_path / "small.npz", _images(n=8, size=8), gan="g")
    annotator_reference_statistics(
        tmp_path / "real.npz", tmp_path / "st.npz", tmp_path / "ann.pt", device="cpu"
    )
    with pytest.raises(DataFileError, match=r"small.npz: images of shape \(8, 8, 1\)"):
        evaluate_samples(
            tmp_path / "small.npz", tmp_path / "ann.pt", tmp_path / "st.npz", tmp_path / "m.json"
        )
    assert not (tmp_path / "m.json").exists()
    _save_set(tmp_path / "three.npz", _images(n=9, size=16), num_classes=3, gan="g")
    with pytest.raises(
        DataFileError,
        match=r"three.npz: classes 3, but classifier .*ann.pt was trained on classes 2",
    ):
        evaluate_samples(
            tmp_path / "three.npz", tmp_path / "ann.pt", tmp_path / "st.npz", tmp_path / "m.json"
        )
    (tmp_path / "flat.npz").write_bytes(b"PK")  # not an image set at all
    with pytest.raises(DataFileError, match="flat.json: sidecar file not found"):
        evaluate_samples(
            tmp_path / "flat.npz", tmp_path / "ann.pt", tmp_path / "st.npz", tmp_path / "m.json"
        )


# ------------------------------------------------------------------ figures
def _table():
    rows = []
    for gan, shares, fid in (("a", [0.7, 0.2, 0.1], 20.0), ("b", [0.3, 0.4, 0.3], 12.0)):
        for rho in (20.0, 1.0):
            rows.append(
                {
                    "gan": gan,
                    "subset": f"s{rho:g}",
                    "imbalance_ratio": rho,
                    "fid": fid / rho,
                    "fid_backbone": "annotator",
                    "kl_uniform": 0.1,
                    **{f"share_{k}": s for k, s in enumerate(shares)},
                }
            )
    return pd.DataFrame(rows)


def test_figures_are_drawn(tmp_path):
    from advtail.plots.gans import (
        fid_label,
        plot_class_distribution,
        plot_fid_kl,
        plot_validation_curves,
    )

    table = _table()
    assert fid_label(table) == "FID on annotator features"
    counts = pd.DataFrame({"labelled": [50, 20, 5]})
    bars = plot_class_distribution(table, {"s20": counts}, tmp_path / "dist.png")
    assert sorted(bars) == ["s1", "s20"]  # one panel per subset
    assert bars["s20"].loc["a"].tolist() == [0.7, 0.2, 0.1]
    drawn = plot_fid_kl(table, tmp_path / "fid_kl.png")
    assert drawn["fid"].columns.tolist() == [20.0, 1.0]  # most imbalanced first
    assert drawn["fid"].loc["a", 20.0] == 1.0 and drawn["fid"].loc["b", 1.0] == 12.0
    log = pd.DataFrame({"step": [250, 500], "seconds": [10.0, 21.0], "val_fid_annotator": [9, 7]})
    plot_validation_curves({"a": log, "b": log}, tmp_path / "val.png")
    for name in ("dist", "fid_kl", "val"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"

    # seeds: one bar per method at the mean over its seeds, one curve per method
    seeded = pd.concat([table.assign(seed=0), table.assign(seed=1)], ignore_index=True)
    seeded["method"] = seeded["gan"]
    seeded.loc[seeded["seed"] == 1, "fid"] += 2.0
    seeded.loc[seeded["seed"] == 1, ["share_0", "share_1"]] += [-0.2, 0.2]
    drawn = plot_fid_kl(seeded, tmp_path / "fid_kl_seeds.png")
    assert drawn["fid"].loc["a", 20.0] == pytest.approx(2.0)  # (1 + 3) / 2
    bars = plot_class_distribution(seeded, {}, tmp_path / "dist_seeds.png")
    assert bars["s20"].loc["a"].tolist() == pytest.approx([0.6, 0.3, 0.1])
    later = log.assign(val_fid_annotator=[11, 9])
    curves = plot_validation_curves(
        {"a_seed0": log, "a_seed1": later, "b": log},
        tmp_path / "val_seeds.png",
        {"a_seed0": "a", "a_seed1": "a"},
        kept={"a_seed0": 500, "a_seed1": 250, "b": 500},
    )
    assert sorted(curves) == ["a", "b"] and curves["a"].tolist() == [10.0, 8.0]


def test_validation_log_without_validation_is_an_error(tmp_path):
    from advtail.stages.figures import read_validation_log

    pd.DataFrame({"step": [1], "seconds": [0.1], "loss_d": [0.3]}).to_csv(tmp_path / "log.csv")
    with pytest.raises(DataFileError, match="log.csv: expected columns"):
        read_validation_log(tmp_path / "log.csv")


@pytest.mark.bad_input
def test_a_robust_gan_log_cut_to_its_header_is_an_error(tmp_path):
    """A log.csv with its columns and no row gave a table row of empty cells."""
    from advtail.stages.tables import read_log

    columns = ("step", "d_forward", "d_backward", "step_seconds")
    path = tmp_path / "log.csv"
    path.write_text(",".join(columns) + "\n")
    with pytest.raises(DataFileError, match="log.csv: has no logged rows"):
        read_log(path, columns)
    path.write_text(",".join(columns) + "\n1,2,2,0.1\n")
    assert len(read_log(path, columns)) == 1


def test_seconds_to_common_fid_pairs_gans_by_seed():
    """Fast-RobGAN's wall-time claim: per seed, the FID every GAN reached (the worst best)
    and the training seconds at which each first validated at or below it."""
    from advtail.metrics.tables import add_seconds_to_common_fid

    def log(fids, seconds):
        return pd.DataFrame({"val_fid_annotator": fids, "seconds": seconds})

    rows = [
        {"seed": 0, "best_val_fid": 10.0, "fid_column": "val_fid_annotator"},
        {"seed": 0, "best_val_fid": 20.0, "fid_column": "val_fid_annotator"},
        {"seed": 1, "best_val_fid": 5.0, "fid_column": "val_fid_annotator"},
    ]
    logs = [
        log([40.0, None, 19.0, 10.0], [1.0, 2.0, 3.0, 4.0]),
        log([30.0, 25.0, 20.0], [10.0, 20.0, 30.0]),
        log([5.0], [7.0]),
    ]
    out = add_seconds_to_common_fid(rows, logs)
    assert [r["common_val_fid"] for r in out] == [20.0, 20.0, None]
    assert [r["seconds_to_common_fid"] for r in out] == [3.0, 30.0, None]


def test_class_mosaic_lays_out_classes_pixel_for_pixel():
    from advtail.plots.grids import EMPTY, GAP, class_mosaic

    images = np.arange(5 * 2 * 2, dtype=np.uint8).reshape(5, 2, 2, 1)
    labels = np.array([1, 0, 1, 1, 0])
    mosaic = class_mosaic(images, labels, num_classes=3, per_class=2, pad=1)
    assert mosaic.shape == (3 * 3 + 1, 2 * 3 + 1, 1)
    # row k holds class k's first images in order; class 2 has none: grey cells
    assert (mosaic[1:3, 1:3] == images[1]).all() and (mosaic[1:3, 4:6] == images[4]).all()
    assert (mosaic[4:6, 1:3] == images[0]).all() and (mosaic[4:6, 4:6] == images[2]).all()
    assert (mosaic[7:9, 1:3] == EMPTY).all()
    assert (mosaic[0] == GAP).all() and (mosaic[:, 3] == GAP).all()


def test_figures_record_their_smallest_text(tmp_path):
    from advtail.plots.grids import plot_sample_grids
    from PIL import Image

    images = np.zeros((6, 16, 16, 1), np.uint8)
    sets = {m: (images, np.arange(6) % 3, ["a", "b", "c"]) for m in ("x", "y", "z", "w")}
    plot_sample_grids(sets, tmp_path / "grids.png", per_class=2, columns=3)
    with Image.open(tmp_path / "grids.png") as png:
        # ticks at 9 pt, 100 dpi; two rows of panels for four methods
        assert float(png.info["advtail:min_font_px"]) == pytest.approx(9 * 100 / 72)
        width, height = png.size
    assert height > width / 3


def test_every_report_table_has_a_caption_and_a_rule_that_writes_it(repo):
    from advtail.workflow.catalog import REPORT_TABLES, report_table_pages

    rules = "".join(p.read_text() for p in (repo / "workflow/rules").glob("*.smk"))
    for name in REPORT_TABLES:
        assert (repo / "workflow/report" / f"{name}.rst").is_file(), name
        assert f'"results/tables/{name}.csv"' in rules, name
    pages = report_table_pages(
        ["results/tables/uap.csv", "results/tables/uap_per_class.csv", "results/figures/fid_kl.png"]
    )
    assert pages == ["results/tables/uap.html", "results/tables/uap_summary.html"]


def test_a_table_page_shows_every_row_and_column_rounded(tmp_path):
    from advtail.stages.table_views import write_table_view

    pd.DataFrame({"method": ["a", "b<"], "fid": [12.345678, float("nan")], "n": [3, 4]}).to_csv(
        tmp_path / "t.csv", index=False
    )
    assert write_table_view(tmp_path / "t.csv", tmp_path / "t.html") == 2
    page = (tmp_path / "t.html").read_text()
    assert page.count("<tr>") == 3 and page.count("<th>") == 3
    assert ">12.35<" in page and "b&lt;" in page and ">nan<" not in page
