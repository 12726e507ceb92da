"""
Conditional DCGAN: asking for a particular class
================================================

A GAN draws *some* image for each noise vector; which class it shows is up to chance. Can
we give the class to both networks so that the generator draws the class we ask for? This
example trains the package's :class:`~mlcheatsheet.models.dcgan.ConditionalGenerator`
(the one-hot class appended to the noise) against a projection discriminator,
:class:`~mlcheatsheet.models.dcgan.ConditionalDiscriminator`, and checks with a classifier
that the requested classes are the ones drawn.
"""

# %%
# Device and data
# ---------------
import torch

from mlcheatsheet.data import load_dataset
from mlcheatsheet.runtime import describe_device, get_device, seed_everything

# sphinx_gallery_thumbnail_number = 3
device = get_device()
print(f"Device: {describe_device(device)}")
data = load_dataset("mnist-5k", verbose=False)
# sphinx_gallery_start_ignore
from mlcheatsheet.site.budgets import build_data, build_length

data = build_data("conditional_dcgan", device, data)  # a quick build keeps fewer images; a GPU build may load others
# sphinx_gallery_end_ignore
print(data.describe())

# %%
# The judge: the package's small classifier (the same one that defines FID; it is trained
# once per build). Its held-out accuracy bounds how well it can confirm the classes.
from mlcheatsheet.training import fid_scorer

scorer = fid_scorer(data, device=device)
print(f"Classifier: {100 * scorer.accuracy:.1f}% held-out accuracy — FID floor {scorer.floor:.3f} "
      f"({scorer.num_reference:,} held-out images against {scorer.num_reference:,} training images the classifier never saw)")

# %%
# The models
# ----------
# The generator is a DCGAN generator whose input is :math:`[z; \mathrm{onehot}(y)]`. The
# discriminator adds to the DCGAN discriminator's logit a class term
# :math:`e_y^\top \phi(x)`, the inner product of a learned class embedding with the image
# features: an image only scores high if it is real *and* of the stated class.
from mlcheatsheet.models import ConditionalDiscriminator, ConditionalGenerator
from mlcheatsheet.training import count_parameters

seed_everything(0)
generator = ConditionalGenerator(latent_dim=64, num_classes=data.num_classes, base_channels=32, image_shape=data.image_shape)
discriminator = ConditionalDiscriminator(num_classes=data.num_classes, image_shape=data.image_shape, base_channels=32)
discriminator

# %%
print(f"Generator: {count_parameters(generator):,} parameters — discriminator: {count_parameters(discriminator):,}")

# %%
# Training
# --------
# The loss is the DCGAN's, with every term conditioned on a class:
# :math:`\min_G \max_D \mathbb{E}_{x,y}[\log D(x, y)] + \mathbb{E}_{z,y}[\log(1 - D(G(z, y), y))]`,
# real images with their own labels and generated ones with uniformly drawn labels. The
# recipe, printed below from the configuration it trains with, is not the
# :ref:`DCGAN example's <sphx_glr_auto_examples_plot_dcgan.py>`: the networks keep
# BatchNorm in the discriminator and the cross-entropy loss of the original game.
from mlcheatsheet.training import GanConfig, fit_gan

steps = 800
# sphinx_gallery_start_ignore
steps = build_length("conditional_dcgan", device, steps=steps)
# sphinx_gallery_end_ignore
config = GanConfig(
    steps=steps, batch_size=64, lr_generator=2e-3, lr_discriminator=4e-3, betas=(0.0, 0.999),
    ema=0.999, eval_every=max(steps // 8, 25), log_every=max(1, steps // 60),
)
print(f"Recipe: {config.recipe()}")
history = fit_gan(generator, discriminator, data, config, scorer=scorer, device=device)
print(f"{history.steps:,} generator steps in {history.total_seconds:.1f} s; kept the generator of step {history.best_step:,}")

# %%
from mlcheatsheet.plotting import plot_gan_history

_ = plot_gan_history(history, title="Conditional DCGAN")

# %%
# The FID, precision and recall, the coverage and the share of samples the classifier
# assigns to the requested class, over training:
from mlcheatsheet.plotting import plot_fid_history

_ = plot_fid_history(history, floor=scorer.floor)

# %%
# Results
# -------
# One row per requested class; the noise is the same down each column, so a column shows
# what one noise vector gives for every class — whether it carries a "style" (on MNIST,
# slant and stroke width) across the classes is what to look for.
from mlcheatsheet.plotting import show_image_rows
from mlcheatsheet.training import sample_class_grid

style = torch.randn(10, generator.latent_dim, generator=torch.Generator().manual_seed(2)).to(device)
grid = sample_class_grid(generator, style, data.num_classes)  # (K, 10, C, H, W)
_ = show_image_rows(grid.cpu(), row_labels=[f"asked {c}" for c in data.classes], title="One row per requested class")

# %%
# Ten independent sets of samples, each as large as the held-out set and asking for every
# class equally often, scored against the held-out images. The share classified as the
# requested class is pooled over the sets (Wilson interval); the classifier's accuracy on
# real held-out images, printed with the FID floor above, gives it scale. It is not a
# ceiling: a generator that draws each class's most typical shapes can be classified
# right more often than the held-out images are.
# (The last lines printed below come from the site's build, which records this run's headline
# number and exports the generator for the in-browser demo of the :doc:`DCGAN page
# </architectures/dcgan>`.)
from mlcheatsheet.training import score_generator

quality = score_generator(generator, scorer, draws=10)
print(quality.summary())
print(history.collapse_report(quality, data.classes))
# sphinx_gallery_start_ignore
from mlcheatsheet.findings import Finding, conditional_coverage_finding
from mlcheatsheet.site.export import DemoModel, Pixels, export_demo
from mlcheatsheet.site.report import report_result

demo_inputs = {"noise": torch.randn(4, generator.latent_dim), "label": torch.arange(4)}
_ = export_demo("conditional_dcgan", "conditional-generator", {"generator": DemoModel(Pixels(generator, "tanh"), demo_inputs)},
                title="Conditional DCGAN", data=data, device=device, extra={"latent_dim": generator.latent_dim})

coverage = Finding("coverage", conditional_coverage_finding(quality.class_shares, data.classes, quality.conditional_interval),
                   f"{quality.conditional_interval.n:,} samples from one trained generator; one training run, from one seed")
_ = report_result(
    "conditional_dcgan", title="Conditional DCGAN", data=data, device=device, recipe=config.recipe(), model=generator,
    histories=[history], metric="classified as the requested class",
    value=quality.conditional_accuracy, interval=quality.conditional_interval, unit="%", higher_is_better=True,
    findings=[coverage], extra=quality.record(),
)
# sphinx_gallery_end_ignore

# %%
# Where to go next
# ----------------
# Conditioning is the simplest way to control a GAN. The same idea, with the class
# replaced by a sentence or an image, drives text-to-image and image-to-image models.
# The unconditional :ref:`DCGAN <sphx_glr_auto_examples_plot_dcgan.py>` differs from this
# run in more than the label, so its FID is not a like-for-like comparison:
from mlcheatsheet.models import DCGANGenerator

dcgan_steps, dcgan_parameters = 2_500, count_parameters(DCGANGenerator(latent_dim=16, base_channels=32))
# sphinx_gallery_start_ignore
dcgan_steps = build_length("dcgan", device, steps=dcgan_steps)
# sphinx_gallery_end_ignore
print(f"This run: latent {generator.latent_dim}, {history.steps:,} steps, {count_parameters(generator):,} generator parameters; "
      f"the DCGAN example: latent 16, {dcgan_steps:,} steps, {dcgan_parameters:,} generator parameters.")
