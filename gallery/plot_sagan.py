"""
SAGAN: self-attention, spectral normalisation and the hinge loss
================================================================

The Self-Attention GAN (Zhang et al. 2019) is what many CIFAR-10 projects reach for after
DCGAN: both networks get a self-attention block, every layer is spectrally normalised,
the loss is the hinge loss, and the class is given to both players. This example trains
the package's :class:`~mlcheatsheet.models.sagan.SAGANGenerator` against a
:class:`~mlcheatsheet.models.sagan.SAGANDiscriminator` while the documentation is built,
scores the samples per class, and looks at where the generator's attention layer looks.
"""

# %%
# Device and data
# ---------------
# The script trains on the same images as the other examples (``mnist-5k``, 5,000 MNIST
# digits); the site's GPU build trains it on CIFAR-10's 32×32 colour photos instead. The
# lines below say which data this build used.
import torch

from mlcheatsheet.data import load_dataset
from mlcheatsheet.runtime import describe_device, get_device, seed_everything
from mlcheatsheet.training import fid_scorer

# sphinx_gallery_thumbnail_number = 2
device = get_device()
print(f"Device: {describe_device(device)}")
data = load_dataset("mnist-5k", verbose=False)
# sphinx_gallery_start_ignore
from mlcheatsheet.site.budgets import build_data, build_length

data = build_data("sagan", device, data)  # a quick build keeps fewer images; a GPU build may load others
# sphinx_gallery_end_ignore
print(data.describe())
scorer = fid_scorer(data, device=device)
print(f"FID floor {scorer.floor:.3f}; the classifier gets {100 * scorer.accuracy:.1f}% of real held-out images right")

# %%
# The models
# ----------
# The generator maps the noise and the one-hot class to a small map and doubles it by
# nearest-neighbour upsampling and 3×3 convolutions; its BatchNorm takes a gain and a
# shift per class (conditional BatchNorm). The discriminator downsamples with strided convolutions, sums
# its last map over positions into features :math:`\phi(x)`, and scores
# :math:`w^\top \phi(x) + b + e_y^\top \phi(x)` (a projection discriminator). Each has
# one self-attention block — the generator on its second-largest map, the discriminator
# after its second downsampling, where the :math:`(HW)^2` scores stay cheap — and every
# weight :math:`W` of the discriminator is used as :math:`W / \sigma(W)`, divided by its
# largest singular value.
#
# The paper normalises the generator's weights and the class embedding too. Here both are
# left plain (``spectral_norm=False``, ``embedding_spectral_norm=False``), as in SNGAN,
# where only the discriminator's layers are normalised. With :math:`\sigma(W) \le 1` the
# column of the generator's first layer that reads the one-hot class keeps a norm of at
# most 1, beside a noise vector :math:`z` of norm about :math:`\sqrt{32}`.
# ``python -m benchmarks.gan_levers --model sagan --levers plain sn-both`` measures the two
# choices at this script's steps and seeds.
from mlcheatsheet.models import SAGANDiscriminator, SAGANGenerator
from mlcheatsheet.training import count_parameters

seed_everything(0)
generator = SAGANGenerator(image_shape=data.image_shape, latent_dim=32, num_classes=data.num_classes, base_channels=32,
                           spectral_norm=False)
discriminator = SAGANDiscriminator(image_shape=data.image_shape, num_classes=data.num_classes, base_channels=32,
                                   embedding_spectral_norm=False)
generator.attention

# %%
print(f"Generator: {count_parameters(generator):,} parameters — discriminator: {count_parameters(discriminator):,}")

# %%
# The objective and training
# --------------------------
# The hinge loss: the discriminator minimises
# :math:`\mathbb{E}[\max(0, 1 - D(x, y))] + \mathbb{E}[\max(0, 1 + D(G(z, y), y))]`, so it
# stops pushing an image once it is beyond the margin; the generator minimises
# :math:`-\mathbb{E}[D(G(z, y), y)]`. In the paper the discriminator learns four times
# faster than the generator (the two time-scale update rule: :math:`4 \cdot 10^{-4}` and
# :math:`10^{-4}`, Adam with :math:`\beta = (0, 0.9)`). A build trains for a thousand
# steps or so, not the paper's million, so its rates are larger and the generator that is
# scored is a weight average (EMA): the recipe printed below, from the configuration,
# gives this run's.
from mlcheatsheet.training import GanConfig, fit_gan

steps = 1000
# sphinx_gallery_start_ignore
steps = build_length("sagan", device, steps=steps)
# sphinx_gallery_end_ignore
config = GanConfig(
    steps=steps, batch_size=64, loss="hinge", lr_generator=1e-3, lr_discriminator=4e-3,
    betas=(0.0, 0.9), ema=0.999, eval_every=max(steps // 8, 10), log_every=max(1, steps // 60),
)
print(f"Recipe: {config.recipe()}")
history = fit_gan(generator, discriminator, data, config, scorer=scorer, device=device)
print(f"{history.steps:,} generator steps in {history.total_seconds:.1f} s; kept the generator of step {history.best_step:,}")

# %%
# The hinge losses and the discriminator's scores of real and generated images, over
# training:
from mlcheatsheet.plotting import plot_gan_history

_ = plot_gan_history(history, title="SAGAN (hinge loss)")

# %%
# Results
# -------
# One row per requested class, the same noise down each column.
from mlcheatsheet.plotting import show_image_rows
from mlcheatsheet.training import sample_class_grid

style = torch.randn(10, generator.latent_dim, generator=torch.Generator().manual_seed(2)).to(device)
grid = sample_class_grid(generator, style, data.num_classes)  # (K, 10, C, H, W)
_ = show_image_rows(grid.cpu(), row_labels=[f"asked {c}" for c in data.classes], title="SAGAN samples, one row per requested class")

# %%
# Ten independent sets of samples, each as large as the held-out set and asking for
# every class equally often, scored against the held-out images: FID with its interval
# over the sets, the share of each class with its Wilson interval (pooled over the sets),
# and the share classified as the requested class.
from mlcheatsheet.training import score_generator

quality = score_generator(generator, scorer, draws=10)
print(quality.summary())
print(history.collapse_report(quality, data.classes))
for name, interval in zip(data.classes, quality.class_intervals()):
    print(f"  class {name}: {interval.format('%')} of the {interval.n:,} samples")

# %%
# Where the generator looks
# -------------------------
# The attention block of the generator holds, for every position of its map, a softmax
# over all positions: where that position reads from. Below, three query positions (the
# crosses) of three generated images, and the map of each, enlarged to the image's size. A map that is a bright spot around its cross looks locally, like a
# convolution; one spread over distant parts of the image reads from far away.
# (The last lines printed below come from the site's build, which records this run's
# headline number for the results table.)
from mlcheatsheet.plotting import plot_attention_maps
from mlcheatsheet.training import sample_images

inputs = {}
hook = generator.attention.register_forward_hook(lambda module, args, output: inputs.update(x=args[0]))
images = sample_images(generator, style[:3], torch.tensor([0, 4, 8], device=device))
hook.remove()
maps = generator.attention.attention(inputs["x"]).detach()  # (3, HW, HW)
side = inputs["x"].shape[-1]
queries = [(side // 2, side // 2), (side // 4, side // 3), (3 * side // 4, 2 * side // 3)]  # (row, column)
_ = plot_attention_maps(images.cpu(), maps.cpu(), queries, title=f"Generator attention at {side}×{side}, three query positions")
print(f"Attention gate gamma: generator {generator.attention.gamma.item():+.3f}, "
      f"discriminator {discriminator.attention.gamma.item():+.3f} (0 at the start: the block adds nothing)")
# sphinx_gallery_start_ignore
from mlcheatsheet.findings import Finding, conditional_coverage_finding
from mlcheatsheet.site.report import report_result

coverage = Finding("coverage", conditional_coverage_finding(quality.class_shares, data.classes, quality.conditional_interval),
                   f"{quality.conditional_interval.n:,} samples from one trained generator; one training run, from one seed")
_ = report_result(
    "sagan", title="SAGAN", data=data, device=device, recipe=config.recipe(), model=generator, histories=[history],
    metric="FID (classifier features)", value=quality.fid, interval=quality.fid_interval, higher_is_better=False,
    findings=[coverage], extra={**quality.record(), "best step": history.best_step},
)
# sphinx_gallery_end_ignore

# %%
# Where to go next
# ----------------
# Set ``loss="wgan-gp", critic_steps=3`` in the config for a Wasserstein critic with a
# gradient penalty instead of the hinge loss (``fit_gan`` then gives each interpolate the
# real image's class), ``SAGANDiscriminator(attention_size=14)`` to give the discriminator
# attention on its larger map as well, or run the build on a GPU to train on CIFAR-10. The
# :ref:`techniques example <sphx_glr_auto_examples_plot_gan_techniques.py>` measures the
# older remedies for unstable training against the plain DCGAN.
