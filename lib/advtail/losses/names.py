"""Names of the GAN objectives, torch-free (the config layer checks them when the
workflow is read; the objectives are in :mod:`advtail.losses.gan`)."""

# objectives with a per-sample real term (Rob-GAN's attack on the reals needs one)
SEPARABLE_OBJECTIVES = ("hinge", "non_saturating", "wgan_gp")
