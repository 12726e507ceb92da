"""
Improved GAN techniques and upsampling generators, measured
===========================================================

Salimans et al. (2016) proposed label smoothing, feature matching and minibatch
discrimination as remedies for unstable GAN training; Odena et al. (2016) proposed
resizing and then convolving instead of transposed convolutions, against checkerboard
artefacts. What does each change in what a DCGAN draws after a build's few hundred
steps? This example trains the plain DCGAN and one variant per technique, with the same
networks, seeds, steps and learning rates, and scores every generator the same way.
"""

# %%
# Device, data and the yardstick
# ------------------------------
# The data, and the classifier whose features define FID (shared with the other GAN
# examples; see the :ref:`DCGAN example <sphx_glr_auto_examples_plot_dcgan.py>`).
import torch

from mlcheatsheet.data import load_dataset
from mlcheatsheet.runtime import describe_device, get_device
from mlcheatsheet.training import fid_scorer

# sphinx_gallery_thumbnail_number = 2
device = get_device()
print(f"Device: {describe_device(device)}")
data = load_dataset("mnist-5k", verbose=False)
# sphinx_gallery_start_ignore
from mlcheatsheet.site.budgets import build_data, build_length

data = build_data("gan_techniques", device, data)  # a quick build keeps fewer images; a GPU build may load others
# sphinx_gallery_end_ignore
print(data.describe())
scorer = fid_scorer(data, device=device)
print(f"FID floor {scorer.floor:.3f}; precision / recall of one set of real images against the other "
      f"{scorer.real_precision:.2f} / {scorer.real_recall:.2f}")

# %%
# The variants
# ------------
# Each variant changes one thing of the plain DCGAN, whose recipe is printed below from
# its configuration (the DCGAN example's networks, but with a BatchNorm discriminator and
# the cross-entropy loss of the original game):
#
# - **one-sided label smoothing**: the discriminator's target for real images is 0.9
#   instead of 1, and stays 0 for generated ones;
# - **feature matching**: the generator minimises
#   :math:`\lVert \mathbb{E}_x f(x) - \mathbb{E}_z f(G(z)) \rVert_2^2`, the distance
#   between the mean discriminator features of a real and a generated batch, instead of
#   fooling the discriminator;
# - **minibatch discrimination**: the discriminator sees, for each image, how close it is
#   to the other images of its batch, so a batch of near-copies is easy to reject;
# - **upsample + convolution**: the generator doubles its maps by nearest-neighbour
#   upsampling followed by a 3×3 convolution instead of a transposed convolution.
#
# The minibatch discriminator is the DCGAN discriminator with one more layer before its
# head:
from mlcheatsheet.models import DCGANDiscriminator, DCGANGenerator, MinibatchDiscriminator, UpsampleGenerator

MinibatchDiscriminator(image_shape=data.image_shape, base_channels=32).minibatch

# %%
# Every run starts from the same seed, so the networks they share start from the same
# weights and see the same batches and noise; ``fit_gan_variants`` trains each variant
# with the shared config and its one change, then scores its kept generator.
from functools import partial

from mlcheatsheet.training import GanConfig, GanVariant, fit_gan_variants

steps = 500  # generator steps of each variant
# sphinx_gallery_start_ignore
steps = build_length("gan_techniques", device, steps=steps)
# sphinx_gallery_end_ignore
base = GanConfig(steps=steps, batch_size=64, lr_generator=2e-3, lr_discriminator=4e-3,
                 betas=(0.0, 0.999), ema=0.999, eval_every=max(steps // 6, 10), log_every=max(1, steps // 30),
                 fixed_samples=256)
generator = partial(DCGANGenerator, image_shape=data.image_shape, latent_dim=16, base_channels=32)
discriminator = partial(DCGANDiscriminator, image_shape=data.image_shape, base_channels=32)
variants = {
    "DCGAN": GanVariant(generator, discriminator),
    "label smoothing": GanVariant(generator, discriminator, {"label_smoothing": 0.1}),
    "feature matching": GanVariant(generator, discriminator, {"feature_matching": True}),
    "minibatch discrimination": GanVariant(generator, partial(MinibatchDiscriminator, image_shape=data.image_shape, base_channels=32)),
    "upsample + conv": GanVariant(partial(UpsampleGenerator, image_shape=data.image_shape, latent_dim=16, base_channels=32),
                                  discriminator),
}
print(f"Recipe of the plain DCGAN: {base.recipe()}")
runs = fit_gan_variants(variants, data, base, scorer=scorer, device=device)
for name, run in runs.items():
    print(f"{name}: {run.history.steps:,} steps in {run.history.total_seconds:.1f} s")

# %%
# Results
# -------
# Ten independent sets of fresh samples from each kept generator, scored against the
# held-out images: FID with its 95% interval over the draws, precision and recall (their
# means over the draws) and the rarest class's share pooled over the draws.
print(f"{'variant':<26} {'FID [95% interval]':>22} {'FID / floor':>11} {'precision':>9} {'recall':>7} "
      f"{'rarest class':>12} {'seconds':>8}")
for name, run in runs.items():
    quality = run.quality
    print(f"{name:<26} {quality.fid_interval.format():>22} {quality.ratio:>10.1f}x {quality.precision:>9.2f} "
          f"{quality.recall:>7.2f} {100 * quality.min_class_share:>11.1f}% {run.history.total_seconds:>8.1f}")

# %%
# Each variant against the plain DCGAN, by Welch's t-test on the draws' FIDs. The draws
# tell how well this run knows each generator's FID, not how much another seed would
# move it: a difference beyond their noise is a difference between these runs.
from mlcheatsheet.findings import compare_fids

plain = runs["DCGAN"].quality
for name, run in list(runs.items())[1:]:
    print(compare_fids(name, run.quality.fid_draws, "DCGAN", plain.fid_draws).sentence())

# %%
# The same twelve noise vectors through every kept generator, one row per variant.
from mlcheatsheet.plotting import show_image_rows
from mlcheatsheet.training import sample_images

noise = torch.randn(12, 16, generator=torch.Generator().manual_seed(1)).to(device)
rows = torch.stack([sample_images(run.generator, noise).cpu() for run in runs.values()])  # (5, 12, C, H, W)
_ = show_image_rows(rows, row_labels=list(runs), title=f"Samples after {steps:,} steps, same noise in every row")

# %%
# Checkerboard artefacts
# ----------------------
# A transposed convolution paints each output pixel from a pattern of kernel taps that
# repeats with the stride, so it can stamp a period-2 grid on the image; its signature is
# power at the highest frequency the image's pixel grid can hold. The share of each image's
# spectral power (its mean removed) in that row and column of the 2-D spectrum is
# measured on the fixed noise batch of the transposed-convolution and the upsampling
# generator at three moments: before training (the untrained layers, what each
# architecture does by construction), at the first evaluation, and at the end; real images
# give the scale.
from mlcheatsheet.findings import compare_independent, mean_interval
from mlcheatsheet.metrics import checkerboard_share, power_spectrum

measured = {"real images": data.x_test[:256]}
for name in ("DCGAN", "upsample + conv"):
    history = runs[name].history
    for i in (0, 1, -1):
        measured[f"{name}, step {history.eval_steps[i]:,}"] = history.snapshots[i]
shares = {name: checkerboard_share(images) for name, images in measured.items()}
for name, share in shares.items():
    print(f"{name:<28} highest-frequency power: {mean_interval(100 * share).format()}% of the image's")
for step in runs["DCGAN"].history.eval_steps[:2]:
    print(compare_independent("transposed", 100 * shares[f"DCGAN, step {step:,}"], "upsample + conv",
                              100 * shares[f"upsample + conv, step {step:,}"], lower_is_better=None, unit="images",
                              what=f"highest-frequency power (% of the image's) at step {step:,}").sentence())

# %%
# The mean power spectra themselves (log scale, zero frequency in the centre, the highest
# frequencies on the border), and the first image of each set enlarged.
# (The last lines printed below come from the site's build, which records this run's
# headline number for the results table.)
from mlcheatsheet.plotting import plot_power_spectra

_ = plot_power_spectra({name: power_spectrum(images) for name, images in measured.items()},
                       examples={name: images[0] for name, images in measured.items()},
                       title="Mean power spectrum of 256 images (log scale)")
# sphinx_gallery_start_ignore
from mlcheatsheet.site.report import report_result

_ = report_result(
    "gan_techniques", title="GAN techniques (ablation)", data=data, device=device, model=runs["DCGAN"].generator,
    recipe=base.recipe(),
    histories=[run.history for run in runs.values()], metric="FID, plain DCGAN (classifier features)",
    value=plain.fid, interval=plain.fid_interval, higher_is_better=False,
    extra={**plain.record(), "steps per variant": steps,
           **{f"{name}: {key}": value for name, run in runs.items() for key, value in run.quality.record().items()},
           **{f"{name}: seconds": run.history.total_seconds for name, run in runs.items()}},
)
# sphinx_gallery_end_ignore

# %%
# Where to go next
# ----------------
# Combine techniques (``GanVariant(generator, discriminator, {"label_smoothing": 0.1, "feature_matching": True})``), give
# every run more steps (``steps``) to see whether a difference grows or fades, or
# pass another ``seed`` to ``fit_gan_variants`` to see how much of a difference one training run
# can show. The :ref:`SAGAN example <sphx_glr_auto_examples_plot_sagan.py>` adds
# self-attention and spectral normalisation.
