"""
DCGAN: convolutional generator and discriminator
================================================

Can two small convolutional networks, playing a game against each other for a couple
of minutes on a CPU, learn to draw images that a classifier cannot tell from real
ones? This example trains the package's
:class:`~mlcheatsheet.models.dcgan.DCGANGenerator` against a
:class:`~mlcheatsheet.models.dcgan.DCGANDiscriminator` while the documentation is built,
and judges the samples by FID, precision and recall, and class coverage.
"""

# %%
# Device and data
# ---------------
# The images are loaded as tensors with pixels in :math:`[0, 1]`; the training loop scales
# them to :math:`[-1, 1]`, the range of the generator's ``tanh``.
import torch

from mlcheatsheet.data import load_dataset
from mlcheatsheet.runtime import describe_device, get_device, seed_everything

# sphinx_gallery_thumbnail_number = 4
device = get_device()
print(f"Device: {describe_device(device)}")
data = load_dataset("mnist-5k", verbose=False)
# sphinx_gallery_start_ignore
from mlcheatsheet.site.budgets import build_data, build_length

data = build_data("dcgan", device, data)  # a quick build keeps fewer images; a GPU build may load others
# sphinx_gallery_end_ignore
print(data.describe())

# %%
# The yardstick: FID in a classifier's feature space
# ---------------------------------------------------
# A small CNN is trained on the same images (once per build; the other GAN examples reuse
# it), and FID is measured in its feature space: not Inception-FID, so it is quoted with
# its floor, the score of a second set of real images (the
# :ref:`GAN page <fid-floor>` explains both).
from mlcheatsheet.training import fid_scorer

scorer = fid_scorer(data, device=device)
print(f"FID classifier: {100 * scorer.accuracy:.1f}% held-out accuracy, trained in {scorer.train_seconds:.1f} s "
      f"on {len(data.x_train) - scorer.num_reference:,} training images")
print(f"FID floor {scorer.floor:.3f}: {scorer.num_reference:,} held-out images against {scorer.num_reference:,} "
      "training images kept out of the classifier's training")

# %%
# The models
# ----------
# The generator projects a 16-dimensional noise vector to a 7x7 feature map and doubles
# its side twice with transposed convolutions (for 28×28 images; 32×32 images start at
# 4x4 and double three times); the discriminator mirrors it with strided
# convolutions. The generator's BatchNorm, ReLU/LeakyReLU and the
# :math:`\mathcal{N}(0, 0.02^2)` initialisation follow Radford et al. The discriminator
# replaces BatchNorm by spectral normalisation (Miyato et al. 2018): every weight is
# divided by its largest singular value, which bounds how fast its score can change with
# the image. ``DCGANDiscriminator(base_channels=32)`` is the paper's BatchNorm discriminator,
# to compare in your own run (the last section says how). The noise has sixteen numbers,
# as many as the
# :ref:`VAE's <sphx_glr_auto_examples_plot_vae.py>` code, instead of the paper's 100: when
# this recipe was tuned for a build's few thousand steps, the smaller noise space reached
# a lower FID (try ``latent_dim=64`` below to compare in your own run).
from mlcheatsheet.models import DCGANDiscriminator, DCGANGenerator
from mlcheatsheet.training import count_parameters

seed_everything(0)
generator = DCGANGenerator(latent_dim=16, base_channels=32, image_shape=data.image_shape)
discriminator = DCGANDiscriminator(image_shape=data.image_shape, base_channels=32, batch_norm=False, spectral_norm=True)
generator

# %%
discriminator

# %%
print(f"Generator: {count_parameters(generator):,} parameters — discriminator: {count_parameters(discriminator):,}")

# %%
# The objective and training
# --------------------------
# The discriminator scores an image with an unbounded :math:`D(x)` and minimises the
# hinge loss :math:`\mathbb{E}[\max(0, 1 - D(x))] + \mathbb{E}[\max(0, 1 + D(G(z)))]`,
# which stops pushing an image once its score is beyond the margin; the generator
# minimises :math:`-\mathbb{E}[D(G(z))]` (Lim & Ye 2017; the loss of SAGAN, see the
# :ref:`SAGAN example <sphx_glr_auto_examples_plot_sagan.py>`). The
# :doc:`GAN page </architectures/gan>` trains the original cross-entropy game instead,
# and the :ref:`techniques example <sphx_glr_auto_examples_plot_gan_techniques.py>`
# keeps it for the DCGAN networks. Two habits of careful GAN practice are switched on: the
# generator that is evaluated is an exponential moving average (EMA) of the trained
# weights, and the generator with the best FID against the *selection* images
# (training images the classifier never saw) is kept, so the held-out images stay unseen
# until the final score.
#
# The learning rates are larger than the paper's :math:`2 \cdot 10^{-4}` and Adam's
# :math:`\beta_1` differs from its 0.5: the recipe printed below, from the configuration,
# says what this run uses. A build affords a few thousand steps, not the paper's tens of
# thousands, and the EMA absorbs the jitter of large steps (the last section says how to
# run the paper's recipe instead and compare).
from mlcheatsheet.training import GanConfig, fit_gan

steps = 2_500
# sphinx_gallery_start_ignore
steps = build_length("dcgan", device, steps=steps)
# sphinx_gallery_end_ignore
config = GanConfig(
    steps=steps, batch_size=64, loss="hinge", lr_generator=2e-3, lr_discriminator=2e-3,
    betas=(0.0, 0.999), ema=0.999, eval_every=max(steps // 10, 25), log_every=max(1, steps // 60),
)
print(f"Recipe: {config.recipe()}")
history = fit_gan(generator, discriminator, data, config, scorer=scorer, device=device)
print(f"{history.steps:,} generator steps in {history.total_seconds:.1f} s; kept the generator of step {history.best_step:,}")

# %%
# What a healthy game looks like: the discriminator's hinge loss stays away from 0 (the
# dashed line, 2, is its value when both scores are 0 and it cannot tell the images
# apart), and the score of real images stays above that of generated ones without the two
# drifting apart for good. The curves are this run's.
from mlcheatsheet.plotting import plot_gan_history

_ = plot_gan_history(history, title=f"DCGAN on {data.name}")

# %%
# The same ten noise vectors, rendered at evaluations spread over training (at most
# eight rows, first and last included; each row names its step).
from mlcheatsheet.plotting import plot_snapshots

_ = plot_snapshots(history)

# %%
# FID against the selection images at each evaluation, with the floor for scale; on the
# right, precision (the share of samples that fall where real images are), recall (the
# share of real images the samples cover) and the rarest class's share.
from mlcheatsheet.plotting import plot_fid_history

_ = plot_fid_history(history, floor=scorer.floor)

# %%
# Results
# -------
# Ten independent sets of fresh samples from the kept generator, each as large as the
# held-out set, scored against the held-out images: the FID below is their mean, with its
# 95% interval; precision and recall are their means over the sets, beside what one set
# of real images scores against the other; coverage pools all the sets. The interval
# covers the draws from this one trained generator, not retraining: the
# :ref:`techniques example <sphx_glr_auto_examples_plot_gan_techniques.py>` trains a
# DCGAN from several seeds and shows how much further a seed moves it.
from mlcheatsheet.plotting import show_images
from mlcheatsheet.training import sample_images, score_generator

quality = score_generator(generator, scorer, draws=10)
print(quality.summary())
print(history.collapse_report(quality, data.classes))
noise = torch.randn(scorer.num_reference, generator.latent_dim, generator=torch.Generator().manual_seed(1)).to(device)
samples = sample_images(generator, noise)  # the first of the ten sets
_ = show_images(samples[:64].cpu(), ncols=16, size=0.6, title=f"DCGAN samples (FID {quality.fid:.2f}, floor {quality.floor:.2f})")

# %%
# Which classes does the generator draw? Evenly covered classes would each hold an equal
# share of the samples (10% with ten classes).
from mlcheatsheet.plotting import plot_class_coverage

_ = plot_class_coverage(quality.class_shares, data.classes)

# %%
# Walking through the latent space
# --------------------------------
# Along a great-circle arc between two noise vectors: whether the generator turns one
# image into another through plausible images, or jumps, is what the rows show.
from mlcheatsheet.models.gan import interpolate_latents
from mlcheatsheet.plotting import show_image_rows

path = interpolate_latents(noise[:6], noise[6:12], steps=10)  # (6, 10, Z)
rows = sample_images(generator, path.flatten(0, 1)).unflatten(0, (6, 10))
_ = show_image_rows(rows.cpu(), title="Latent interpolation (slerp), one pair of noise vectors per row")

# %%
# Latent vector arithmetic
# ------------------------
# Radford et al. averaged latent vectors that share an attribute and added the
# differences. Here the attribute is brightness, the mean pixel value (on MNIST, the
# amount of ink). Brightness also tells classes apart (an MNIST 1 holds less ink than a
# 0), so the direction is computed *within* each class the classifier assigns: the mean
# noise of a class's 20% brightest samples minus that of its 20% darkest, averaged over
# the classes. The share of all samples whose class is unchanged after the shift says how
# well that held the class fixed.
# (The last lines printed below come from the site's build, which records this run's headline
# number and exports the generator for the in-browser demo of the :doc:`DCGAN page
# </architectures/dcgan>`.)
from mlcheatsheet.models.gan import latent_direction

classes = scorer.classify(samples).to(device)
brighter = latent_direction(noise, samples.mean(dim=(1, 2, 3)), groups=classes)
strengths = torch.tensor([-1.5, -0.75, 0.0, 0.75, 1.5], device=device)
for strength in strengths.tolist():
    shifted_samples = sample_images(generator, noise + strength * brighter)
    moved = scorer.classify(shifted_samples).to(device)
    brightness = shifted_samples.mean().item() / samples.mean().item()
    print(f"shift {strength:+.2f} x brighter: class unchanged for {100 * (moved == classes).float().mean().item():.1f}% "
          f"of {len(noise):,} samples; brightness {100 * brightness:.0f}% of the unshifted samples'")
shifted = noise[:10] + strengths[:, None, None] * brighter  # (5, 10, Z)
rows = sample_images(generator, shifted.flatten(0, 1)).unflatten(0, (5, 10))
_ = show_image_rows(rows.cpu(), row_labels=[f"z {s:+.2f} brighter" for s in strengths.tolist()],
                    title="z + a * (bright - dark), the direction averaged within classes")
# sphinx_gallery_start_ignore
from mlcheatsheet.site.export import DemoModel, Pixels, export_demo
from mlcheatsheet.site.report import report_result

_ = export_demo("dcgan", "generator", {"generator": DemoModel(Pixels(generator, "tanh"), {"noise": torch.randn(4, generator.latent_dim)})},
                title="DCGAN", data=data, device=device, extra={"latent_dim": generator.latent_dim})

_ = report_result(
    "dcgan", title="DCGAN", data=data, device=device, recipe=config.recipe(), model=generator, histories=[history],
    metric="FID (classifier features)", value=quality.fid, interval=quality.fid_interval, higher_is_better=False,
    extra={**quality.record(), "best step": history.best_step},
)
# sphinx_gallery_end_ignore

# %%
# Where to go next
# ----------------
# Set ``ema=0.0`` above to see how much of the quality the weight average buys;
# ``loss="non-saturating"`` with ``DCGANDiscriminator(base_channels=32)`` and
# ``lr_generator=2e-4, lr_discriminator=2e-4, betas=(0.5, 0.999)`` for the paper's
# networks and recipe; or ``latent_dim=64`` for a larger noise space. The
# :ref:`WGAN-GP example <sphx_glr_auto_examples_plot_wgan_gp.py>` replaces the
# discriminator by a critic with a gradient penalty, and the
# :ref:`conditional DCGAN <sphx_glr_auto_examples_plot_conditional_dcgan.py>` lets you ask
# for a particular class.
