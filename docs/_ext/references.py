"""Published figures for the site's architectures, shown beside this build's results.

Each is a different setting from the build's (the full datasets, other recipes and
budgets), so the results table labels it as such and never scores a run against it. Every
entry was checked against its source; where no published figure is comparable, the entry
says why instead of giving a number.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    """What a source reports for one example's architecture, and on what data.

    Attributes:
        figure: The published number, e.g. ``"99.17% test accuracy"``; empty when none compares.
        setting: The data and budget it was measured with, or why no figure is given.
        citation: Who published it.
        url: Where to read it.
    """

    figure: str
    setting: str
    citation: str
    url: str


REFERENCES: dict[str, Reference] = {
    "mlp": Reference("98.40% test accuracy", "two 512-unit layers, 20 epochs on the 60,000 MNIST images",
                     "Keras example mnist_mlp.py", "https://github.com/keras-team/keras/blob/2.3.1/examples/mnist_mlp.py"),
    "cnn": Reference("99.17% top-1 accuracy", "a small CNN, 10 epochs on the 60,000 MNIST images",
                     "Flax MNIST example", "https://github.com/google/flax/tree/main/examples/mnist"),
    "resnet": Reference("8.75% test error (91.25% accuracy)", "ResNet-20 (0.27M parameters) on CIFAR-10",
                        "He et al. 2016, Table 6", "https://arxiv.org/abs/1512.03385"),
    "rnn": Reference("0.93 test accuracy", "an IRNN reading MNIST pixel by pixel (784 steps), 900 epochs",
                     "Keras example mnist_irnn.py, after Le et al. 2015",
                     "https://github.com/keras-team/keras/blob/2.3.1/examples/mnist_irnn.py"),
    "autoencoder": Reference("", "no comparable published per-pixel error was found for this architecture",
                             "Hinton & Salakhutdinov 2006 report deep-autoencoder errors in another unit",
                             "https://doi.org/10.1126/science.1127647"),
    "vae": Reference("", "published negative ELBOs (about 104 nats after 10 epochs in the Flax example) are on "
                         "binarized MNIST, 0/1 pixels: not comparable with this build's Bernoulli score of grey levels",
                     "Flax VAE example", "https://github.com/google/flax/tree/main/examples/vae"),
    **{key: Reference("", "published GAN FIDs (e.g. Lucic et al. 2018) are Inception-FIDs: not comparable with "
                          "this site's classifier-FID", "Lucic et al. 2018", "https://arxiv.org/abs/1711.10337")
       for key in ("gan", "dcgan", "wgan_gp", "conditional_dcgan", "sagan", "gan_techniques")},
    "diffusion": Reference("", "published diffusion FIDs (e.g. 3.17 on CIFAR-10, Ho et al. 2020) are Inception-FIDs "
                               "on other data: not comparable with this site's classifier-FID", "Ho et al. 2020",
                           "https://arxiv.org/abs/2006.11239"),
}
