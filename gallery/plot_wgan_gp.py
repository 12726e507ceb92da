"""
WGAN-GP: a critic with a gradient penalty
=========================================

What changes when the discriminator stops classifying and starts *measuring* — scoring
images so that the gap between real and generated scores estimates the Wasserstein
distance? This example trains the DCGAN generator against the package's
:class:`~mlcheatsheet.models.dcgan.WGANCritic` (a DCGAN discriminator without BatchNorm)
with the gradient penalty of Gulrajani et al. (2017).
"""

# %%
# Device and data
# ---------------
import torch

from mlcheatsheet.data import load_dataset
from mlcheatsheet.runtime import describe_device, get_device, seed_everything

# sphinx_gallery_thumbnail_number = 4
device = get_device()
print(f"Device: {describe_device(device)}")
data = load_dataset("mnist-5k", verbose=False)
# sphinx_gallery_start_ignore
from mlcheatsheet.site.budgets import build_data, build_length

data = build_data("wgan_gp", device, data)  # a quick build keeps fewer images; a GPU build may load others
# sphinx_gallery_end_ignore
print(data.describe())

# %%
# The yardstick (shared with the other GAN examples): FID in a small classifier's
# feature space, with its floor (:ref:`how the samples are judged <fid-floor>`).
from mlcheatsheet.training import fid_scorer

scorer = fid_scorer(data, device=device)
print(f"FID classifier: {100 * scorer.accuracy:.1f}% held-out accuracy — FID floor {scorer.floor:.3f} "
      f"({scorer.num_reference:,} held-out images against {scorer.num_reference:,} training images the classifier never saw)")

# %%
# The models
# ----------
# The generator is the DCGAN example's, with its 16 noise numbers. The critic is the DCGAN
# discriminator without BatchNorm: the penalty constrains the gradient of each image's
# score with respect to that image, which BatchNorm (mixing the images of a batch) would
# make meaningless.
from mlcheatsheet.models import DCGANGenerator, WGANCritic
from mlcheatsheet.training import count_parameters

seed_everything(0)
generator = DCGANGenerator(latent_dim=16, base_channels=32, image_shape=data.image_shape)
critic = WGANCritic(image_shape=data.image_shape, base_channels=32)
critic

# %%
print(f"Generator: {count_parameters(generator):,} parameters — critic: {count_parameters(critic):,}")

# %%
# The objective
# -------------
# The critic :math:`f` minimises
# :math:`\mathbb{E}[f(G(z))] - \mathbb{E}[f(x)] + \lambda\,\mathbb{E}_{\hat x}[(\lVert\nabla f(\hat x)\rVert_2 - 1)^2]`
# with :math:`\hat x` drawn uniformly on lines between real and generated images and
# :math:`\lambda` (``gp_weight``); the generator minimises :math:`-\mathbb{E}[f(G(z))]`.
# The critic takes several steps per generator step (fewer than the paper's five, to fit
# the build's budget) and Adam runs with :math:`\beta_1 = 0`, as in the paper, but with a
# learning rate well above the paper's :math:`10^{-4}`: a build trains for a few thousand
# generator steps, not a hundred thousand, and the moving average of the generator's
# weights smooths the noise a large step brings. The recipe printed below, from the
# configuration, gives this run's numbers.
from mlcheatsheet.training import GanConfig, fit_gan

steps = 3000
# sphinx_gallery_start_ignore
steps = build_length("wgan_gp", device, steps=steps)
# sphinx_gallery_end_ignore
config = GanConfig(
    steps=steps, batch_size=32, loss="wgan-gp", critic_steps=3, gp_weight=10.0,
    lr_generator=2e-3, lr_discriminator=2e-3, betas=(0.0, 0.9), ema=0.999,
    eval_every=max(steps // 8, 25), log_every=max(1, steps // 60),
)
print(f"Recipe: {config.recipe()}")
history = fit_gan(generator, critic, data, config, scorer=scorer, device=device)
print(f"{history.steps:,} generator steps ({history.discriminator_steps:,} critic steps) in {history.total_seconds:.1f} s")

# %%
# Unlike a discriminator's probability, the critic's score gap :math:`f(x) - f(G(z))` is
# an estimate of the Wasserstein distance (up to the critic's Lipschitz constant), so it
# is meant to shrink as the samples improve; the curves show this run's. (The critic loss
# is unbounded, so the training-time collapse check watches sample diversity only.)
from mlcheatsheet.plotting import plot_gan_history

_ = plot_gan_history(history, title=f"WGAN-GP on {data.name}")

# %%
from mlcheatsheet.plotting import plot_snapshots

_ = plot_snapshots(history)

# %%
from mlcheatsheet.plotting import plot_fid_history

_ = plot_fid_history(history, floor=scorer.floor)

# %%
# Results
# -------
# Ten independent sets of fresh samples scored against the held-out images (mean FID with
# its 95% interval; coverage pooled over the sets). The interval covers the draws from this
# one trained generator, not retraining from another seed, which moves a GAN further.
from mlcheatsheet.plotting import plot_class_coverage, show_images
from mlcheatsheet.training import sample_images, score_generator

quality = score_generator(generator, scorer, draws=10)
print(quality.summary())
print(history.collapse_report(quality, data.classes))
noise = torch.randn(scorer.num_reference, generator.latent_dim, generator=torch.Generator().manual_seed(1)).to(device)
samples = sample_images(generator, noise)  # the first of the ten scored sets
_ = show_images(samples[:64].cpu(), ncols=16, size=0.6, title=f"WGAN-GP samples (FID {quality.fid:.2f}, floor {quality.floor:.2f})")

# %%
# (The last lines printed below come from the site's build, which records this run's headline
# number for the results table.)
_ = plot_class_coverage(quality.class_shares, data.classes)
# sphinx_gallery_start_ignore
from mlcheatsheet.site.report import report_result

_ = report_result(
    "wgan_gp", title="WGAN-GP", data=data, device=device, recipe=config.recipe(), model=generator, histories=[history],
    metric="FID (classifier features)", value=quality.fid, interval=quality.fid_interval, higher_is_better=False,
    extra={**quality.record(), "critic steps": history.discriminator_steps},
)
# sphinx_gallery_end_ignore

# %%
# Where to go next
# ----------------
# Each generator step costs three critic steps and a double backward pass for the
# penalty, so one WGAN-GP step costs several of the
# :ref:`DCGAN's <sphx_glr_auto_examples_plot_dcgan.py>`: compare their FIDs with the steps
# and seconds printed beside each, here and on its page.
# The arguments made for the Wasserstein loss — a critic loss that tracks sample quality,
# less mode collapse — are claims about harder data and longer runs than this build's.
