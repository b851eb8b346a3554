"""Rule finetune_discriminator: a robust GAN's discriminator fine-tuned into a robust
classifier (Rob-GAN, Sec. 3.3 and Eq. 10), written as a classifier model file.

The classifier is the discriminator itself (:class:`advtail.nets.classifiers.
DiscriminatorClassifier`), starting from the GAN's trained weights. It trains with the
one classifier trainer: its adversarial examples (PGD on the real batch, the
classifier's ``adversarial`` block) make the first term of Eq. 10, and
:class:`advtail.training.robust_gan.GeneratedAdversarialTerm` the second, lambda x CE
on PGD examples of the GAN's generated images with their labels.
"""

from __future__ import annotations

from advtail.data.arrays import file_sha256, load_image_set
from advtail.errors import DataFileError
from advtail.nets.classifiers import check_classifier_fits, discriminator_arch
from advtail.nets.files import read_model_file
from advtail.nets.gans import load_generator
from advtail.stages.runs import stage_code_files
from advtail.stages.train_classifier import train_classifier
from advtail.training.loop import TrainingRun
from advtail.training.robust_gan import GeneratedAdversarialTerm


def finetune_discriminator(
    name: str,
    cfg: dict,
    train_path,
    val_path,
    discriminator_path,
    generator_path,
    out_model,
    out_log,
    out_meta,
    checkpoint_path,
    device: str = "auto",
    threads: int | None = None,
    on_epoch_end=None,
    code_files=None,
) -> TrainingRun:
    """Fine-tune the discriminator at ``discriminator_path`` (its GAN's generator at
    ``generator_path`` makes the generated term) as classifier ``name``, whose config
    ``cfg`` has ``finetune: {gan, lambda}`` and an ``adversarial`` block."""
    payload = read_model_file(discriminator_path, "discriminator")
    d_arch = payload.get("arch") or {}
    if d_arch.get("head") != "ac":
        raise DataFileError(
            discriminator_path,
            f"a discriminator with a '{d_arch.get('head')}' head has no classifier to "
            "fine-tune; expected an 'ac' head",
        )
    # its classes, channels and size are those of the images it fine-tunes on
    check_classifier_fits(discriminator_path, payload, train_path, load_image_set(train_path))
    generator, _ = load_generator(generator_path)
    # the classifier's weights are the discriminator's, under the name it holds it by
    state = {f"discriminator.{k}": v for k, v in payload["state_dict"].items()}
    arch = {"name": "gan_discriminator", **discriminator_arch(d_arch)}
    weight = cfg["finetune"]["lambda"]
    num_classes = d_arch["num_classes"]

    def extra_term(attack):
        return GeneratedAdversarialTerm(generator, attack, weight, num_classes)

    return train_classifier(
        name,
        {**cfg, "arch": arch},
        train_path,
        val_path,
        out_model,
        out_log,
        out_meta,
        checkpoint_path,
        device=device,
        threads=threads,
        on_epoch_end=on_epoch_end,
        code_files=stage_code_files(__file__, code_files),
        initial_state=state,
        extra_term=extra_term,
        fingerprint_inputs=(file_sha256(discriminator_path), file_sha256(generator_path)),
    )
