"""Networks: classifiers and their builder/loader (``classifiers``), GAN generators and
discriminators and theirs (``gans``), model files of any family (``files``), sampling a
generator (``sampling``), batched inference (``inference``)."""
