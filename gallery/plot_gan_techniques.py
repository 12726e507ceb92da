"""
Improved GAN techniques, upsampling generators and DiffAugment, seed by seed
============================================================================

Salimans et al. (2016) proposed minibatch discrimination (with label smoothing and feature
matching) against a generator that collapses; Odena et al. (2016) proposed resizing and
then convolving instead of transposed convolutions, against checkerboard artefacts; Zhao
et al. (2020) proposed augmenting every image the discriminator sees, against a
discriminator that memorises a small training set. This example trains the plain DCGAN and
one variant per idea, with the same networks, steps and learning rates, from several
seeds each, and compares each variant with the plain DCGAN of the same seed: one training
run says how two runs differ, several say whether a recipe does.
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
# Each variant changes one thing of the plain DCGAN: the DCGAN example's networks, built
# below, trained with the recipe printed from its configuration:
#
# - **minibatch discrimination**: the discriminator sees, for each image, how close it is
#   to the other images of its batch, so a batch of near-copies is easy to reject;
# - **upsample + convolution**: the generator doubles its maps by nearest-neighbour
#   upsampling followed by a 3×3 convolution instead of a transposed convolution;
# - **DiffAugment**: every image the discriminator sees, real or generated, is shifted by
#   up to an eighth of its side (its edge repeated into the gap) before it is scored; the shift
#   is differentiable, so the generator learns through it.
#
# Label smoothing and feature matching, the other two Salimans techniques (see the
# :ref:`DCGAN page <dcgan-techniques>`), are one line each in ``variants``
# (``GanVariant(generator, discriminator, {"feature_matching": True})``); a build's CPU
# time allows several seeds of four variants.
#
# The minibatch discriminator is the DCGAN discriminator with one more layer before its
# head:
from mlcheatsheet.models import DCGANDiscriminator, DCGANGenerator, MinibatchDiscriminator, UpsampleGenerator

MinibatchDiscriminator(image_shape=data.image_shape, base_channels=32).minibatch

# %%
# For each seed, every variant starts from that seed, so the networks they share start
# from the same weights and see the same batches and noise; ``fit_gan_seeds`` trains each
# variant with the shared config and its one change, once per seed, and scores every kept
# generator.
from functools import partial

from mlcheatsheet.training import GanConfig, GanVariant, fit_gan_seeds

steps, batch_size, seeds = 2500, 32, 3  # generator steps of each run, images per batch, training seeds per variant
# sphinx_gallery_start_ignore
steps, batch_size, seeds = build_length("gan_techniques", device, steps=steps, batch_size=batch_size, seeds=seeds)
# sphinx_gallery_end_ignore
base = GanConfig(steps=steps, batch_size=batch_size, lr_generator=2e-3, lr_discriminator=4e-3,
                 betas=(0.0, 0.999), ema=0.999, eval_every=max(steps // 6, 10), log_every=max(1, steps // 30),
                 fixed_samples=256)
generator = partial(DCGANGenerator, image_shape=data.image_shape, latent_dim=16, base_channels=32)
discriminator = partial(DCGANDiscriminator, image_shape=data.image_shape, base_channels=32, batch_norm=False, spectral_norm=True)
variants = {
    "DCGAN": GanVariant(generator, discriminator),
    "minibatch discrimination": GanVariant(generator, partial(MinibatchDiscriminator, image_shape=data.image_shape,
                                                              base_channels=32, batch_norm=False, spectral_norm=True)),
    "upsample + conv": GanVariant(partial(UpsampleGenerator, image_shape=data.image_shape, latent_dim=16, base_channels=32),
                                  discriminator),
    "DiffAugment": GanVariant(generator, discriminator, {"augment": ("translation",)}),
}
print(f"Recipe of the plain DCGAN: {base.recipe()}")
runs = fit_gan_seeds(variants, data, base, scorer=scorer, seeds=range(seeds), device=device)  # name -> one run per seed
for name, by_seed in runs.items():
    print(f"{name}: {seeds} runs of {steps:,} steps, {sum(r.history.total_seconds for r in by_seed):.1f} s in all")

# %%
# Results
# -------
# Five independent sets of fresh samples from each kept generator, scored against the
# held-out images: FID / floor, precision and recall (their means over the draws) and the
# rarest class's share pooled over the draws, one row per run.
print(f"{'variant':<26} {'seed':>4} {'FID / floor':>11} {'precision':>9} {'recall':>7} {'rarest class':>12} {'seconds':>8}")
for name, by_seed in runs.items():
    for seed, run in enumerate(by_seed):
        quality = run.quality
        print(f"{name:<26} {seed:>4} {quality.ratio:>10.1f}x {quality.precision:>9.2f} {quality.recall:>7.2f} "
              f"{100 * quality.min_class_share:>11.1f}% {run.history.total_seconds:>8.1f}")

# %%
# Each variant against the plain DCGAN, paired by seed: a paired t-test on the FID / floor
# of the runs that share a seed. A variant is named better only when the difference holds
# beyond the spread between the seeds; the line after names every run whose rarest class
# fell below 5% of its samples.
from mlcheatsheet.training import collapse_line, compare_to_baseline

for comparison in compare_to_baseline(runs).values():
    print(comparison.sentence())
print(collapse_line(runs, range(seeds)))

# %%
# Every seed of every variant: the lines join the runs of one seed, so a variant that is
# better whatever the seed has every line falling towards it.
from mlcheatsheet.plotting import plot_seed_spread

_ = plot_seed_spread({"FID / floor": {name: [r.quality.ratio for r in by_seed] for name, by_seed in runs.items()},
                      "rarest class (%)": {name: [100 * r.quality.min_class_share for r in by_seed] for name, by_seed in runs.items()}},
                     range(seeds), lines={"rarest class (%)": 5.0}, title=f"{seeds} training seeds, {steps:,} steps each")

# %%
# The same eight noise vectors through every kept generator, one row per run.
from mlcheatsheet.plotting import show_image_rows
from mlcheatsheet.training import sample_images

noise = torch.randn(8, 16, generator=torch.Generator().manual_seed(1)).to(device)
rows = torch.stack([sample_images(run.generator, noise).cpu() for by_seed in runs.values() for run in by_seed])
_ = show_image_rows(rows, row_labels=[f"{name}, seed {seed}" for name in runs for seed in range(seeds)],
                    title=f"Samples after {steps:,} steps, same noise in every row")

# %%
# Checkerboard artefacts
# ----------------------
# A transposed convolution paints each output pixel from a pattern of kernel taps that
# repeats with the stride, so it can stamp a period-2 grid on the image; its signature is
# power at the highest frequency the image's pixel grid can hold. The share of each image's
# spectral power (its mean removed) in that row and column of the 2-D spectrum is
# measured on the fixed noise batch of the first seed's transposed-convolution and
# upsampling generators at three moments: before training (the untrained layers, what each
# architecture does by construction), at the first evaluation, and at the end; real images
# give the scale.
from mlcheatsheet.findings import compare_independent, mean_interval
from mlcheatsheet.metrics import checkerboard_share, power_spectrum

measured = {"real images": data.x_test[:256]}
for name in ("DCGAN", "upsample + conv"):
    history = runs[name][0].history
    for i in (0, 1, -1):
        measured[f"{name}, step {history.eval_steps[i]:,}"] = history.snapshots[i]
shares = {name: checkerboard_share(images) for name, images in measured.items()}
for name, share in shares.items():
    print(f"{name:<28} highest-frequency power: {mean_interval(100 * share).format()}% of the image's")
for step in runs["DCGAN"][0].history.eval_steps[:2]:
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
from mlcheatsheet.findings import mean_interval
from mlcheatsheet.site.report import report_result
from mlcheatsheet.training.variants import seed_findings, seed_record

record = seed_record(runs, range(seeds))  # "<variant>: <number>", the plain DCGAN's among them
plain_fid = mean_interval([run.quality.fid for run in runs["DCGAN"]])
_ = report_result(
    "gan_techniques", title="GAN techniques (ablation)", data=data, device=device, model=runs["DCGAN"][0].generator,
    recipe=base.recipe(), histories=[run.history for by_seed in runs.values() for run in by_seed],
    metric=f"FID, plain DCGAN (classifier features; mean of {seeds} training seeds)",
    value=plain_fid.value, interval=plain_fid, higher_is_better=False, findings=seed_findings(runs, range(seeds)),
    extra={**{key: record[f"DCGAN: {key}"] for key in ("FID", "floor", "ratio", "min class share")},
           "steps per variant": steps, "seeds": seeds, **record},
)
# sphinx_gallery_end_ignore

# %%
# Where to go next
# ----------------
# Add label smoothing (``GanVariant(generator, discriminator, {"label_smoothing": 0.1})``) or
# the R1 penalty (``{"r1_gamma": 1.0}``) to ``variants``, give every run more steps
# (``steps``) to see whether a difference grows or fades, or more ``seeds`` to narrow the
# intervals of the paired comparisons. The :ref:`SAGAN example <sphx_glr_auto_examples_plot_sagan.py>` adds
# self-attention and spectral normalisation.
