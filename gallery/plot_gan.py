"""
The original GAN: a minimax game between two MLPs
=================================================

How far does the original recipe of Goodfellow et al. (2014) — a fully connected
generator against a fully connected discriminator — get on small images, and why
does everybody train its generator with a slightly different loss than the one in the
game? This example trains the package's :class:`~mlcheatsheet.models.gan.Generator` and
:class:`~mlcheatsheet.models.gan.Discriminator` while the documentation is built.
"""

# %%
# Device and data
# ---------------
import torch

from mlcheatsheet.data import load_dataset
from mlcheatsheet.runtime import describe_device, get_device, seed_everything

# sphinx_gallery_thumbnail_number = 6
device = get_device()
print(f"Device: {describe_device(device)}")
data = load_dataset("mnist-5k", verbose=False)
# sphinx_gallery_start_ignore
from mlcheatsheet.site.budgets import build_data, build_length

data = build_data("gan", device, data)  # a quick build keeps fewer images; a GPU build may load others
# sphinx_gallery_end_ignore
print(data.describe())

# %%
# The generator must learn to draw these: real images, pixels in :math:`[0, 1]` (scaled to
# :math:`[-1, 1]` for training).
from mlcheatsheet.plotting import show_images

_ = show_images(data.x_train[:20], labels=data.y_train[:20], classes=data.classes, title="Training images")

# %%
# The yardstick
# -------------
# FID here is the Fréchet distance in the feature space of a small classifier trained on
# the same images — not Inception-FID — quoted with its floor, the score of a second set
# of real images (:ref:`how the samples are judged <fid-floor>`).
from mlcheatsheet.training import fid_scorer

scorer = fid_scorer(data, device=device)
print(f"FID classifier: {100 * scorer.accuracy:.1f}% held-out accuracy — FID floor {scorer.floor:.3f} "
      f"({scorer.num_reference:,} held-out images against {scorer.num_reference:,} training images the classifier never saw)")

# %%
# The models
# ----------
# Both networks are MLPs: the generator maps 64 numbers of noise through two hidden
# layers to every pixel of an image (784 on MNIST) with a ``tanh``; the discriminator maps
# those pixels to one logit.
from mlcheatsheet.models import Discriminator, Generator
from mlcheatsheet.training import count_parameters

seed_everything(0)
generator = Generator(latent_dim=64, hidden_dims=(256, 512), image_shape=data.image_shape)
discriminator = Discriminator(image_shape=data.image_shape, hidden_dims=(512, 256))
generator

# %%
print(f"Generator: {count_parameters(generator):,} parameters — discriminator: {count_parameters(discriminator):,}")

# %%
# The game, and the non-saturating trick
# --------------------------------------
# :math:`D` maximises and :math:`G` minimises
# :math:`V(D, G) = \mathbb{E}_x[\log D(x)] + \mathbb{E}_z[\log(1 - D(G(z)))]`. Early on
# :math:`D` rejects the samples: its logit :math:`\ell` on them is very negative and
# :math:`D(G(z)) = \sigma(\ell) \approx 0`. As a function of :math:`D`, :math:`\log(1 - D)`
# has slope :math:`-1` there, but the generator moves :math:`D` only through the logit, and
# :math:`\partial \log(1 - \sigma(\ell)) / \partial \ell = -\sigma(\ell) \to 0`: the
# minimax generator's gradient vanishes exactly when it is worst. The non-saturating loss
# :math:`-\log D(G(z))` has the same fixed point and the gradient
# :math:`-(1 - \sigma(\ell)) \to -1` there. The package's loss functions and their
# gradients, evaluated on a grid of logits:
import matplotlib.pyplot as plt

from mlcheatsheet.models.gan import minimax_generator_loss, non_saturating_generator_loss

logits = torch.linspace(-6, 6, 241)
losses = {r"minimax: $\log(1 - D(G(z)))$": minimax_generator_loss,
          r"non-saturating: $-\log D(G(z))$": non_saturating_generator_loss}
fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(8, 3.4), layout="constrained")
for label, loss in losses.items():
    points = logits.clone().requires_grad_(True)
    values = torch.stack([loss(v[None]) for v in points])
    (slopes,) = torch.autograd.grad(values.sum(), points)
    ax_loss.plot(logits, values.detach(), label=label)
    ax_grad.plot(logits, slopes, label=label)
for ax in (ax_loss, ax_grad):
    ax.axvspan(-6, -2.2, color="C3", alpha=0.1)  # D(G(z)) below 0.1: early training
ax_loss.set(xlabel=r"logit $\ell$ of $D$ on a generated image", ylabel="generator loss", title="The two losses")
ax_grad.set(xlabel=r"logit $\ell$ of $D$ on a generated image", ylabel=r"$\partial\,\mathrm{loss} / \partial \ell$",
            title="Their gradients (shaded: D(G(z)) < 0.1)")
_ = ax_loss.legend(fontsize=8)

# %%
# Training
# --------
# The loop below is the whole algorithm: at every step one update of the discriminator on
# a real batch and a generated one, then one update of the generator through the
# discriminator's verdict on the same generated batch.
# :class:`~mlcheatsheet.training.adversarial.GanLoop` does what surrounds it: the seed and the device,
# an Adam optimiser for each network, an exponential moving average of the
# generator's weights for evaluation, the logged losses, and every ``eval_every`` steps the
# FID against the selection images (training images the classifier never saw), keeping
# the generator with the best one. :func:`~mlcheatsheet.training.adversarial.fit_gan` runs this same
# loop for every loss the package offers. The learning rates are larger than the paper's
# usual :math:`2 \cdot 10^{-4}` (the recipe printed below gives them): a build trains for a
# few thousand steps, and the moving average is there to smooth what the large steps shake.
from mlcheatsheet.models.gan import discriminator_loss
from mlcheatsheet.training import GanConfig, GanLoop

steps = 4_800
# sphinx_gallery_start_ignore
steps = build_length("gan", device, steps=steps)
# sphinx_gallery_end_ignore
config = GanConfig(steps=steps, batch_size=64, lr_generator=1e-3, lr_discriminator=2e-3, ema=0.999,
                   eval_every=max(steps // 10, 25), log_every=max(1, steps // 60))
print(f"Recipe: {config.recipe()}")
loop = GanLoop(generator, discriminator, data, config, scorer=scorer, device=device)
for step in range(1, config.steps + 1):
    real, _ = loop.real_batch()  # training images, scaled to [-1, 1] like the generator's tanh
    noise, _ = loop.noise()
    with loop.autocast():  # mixed precision on a GPU; nothing changes on the CPU
        fake = generator(noise)
        real_logits, fake_logits = discriminator(real), discriminator(fake.detach())  # G is not updated here
        d_loss = discriminator_loss(real_logits, fake_logits)
    loop.update_discriminator(d_loss)
    with loop.autocast():
        g_loss = non_saturating_generator_loss(discriminator(fake))
    loop.update_generator(g_loss)
    loop.end_step(step, d=d_loss, g=g_loss, real=torch.sigmoid(real_logits).mean(), fake=torch.sigmoid(fake_logits).mean())
history = loop.finish()
print(f"{history.steps:,} generator steps in {history.total_seconds:.1f} s; kept the generator of step {history.best_step:,}")

# %%
# The losses and what the discriminator believes. At the game's equilibrium
# :math:`D = 1/2` everywhere and the discriminator's loss is :math:`2 \log 2`.
from mlcheatsheet.plotting import plot_gan_history, plot_snapshots

_ = plot_gan_history(history, title=f"GAN (fully connected) on {data.name}")

# %%
_ = plot_snapshots(history)

# %%
from mlcheatsheet.plotting import plot_fid_history

_ = plot_fid_history(history, floor=scorer.floor)

# %%
# Results
# -------
# Ten independent sets of fresh samples, each as large as the held-out set, scored
# against the held-out images: the FID is their mean with its 95% interval, precision and
# recall their means (beside what real images score against each other); coverage pools
# the sets. The interval covers the draws from this one trained generator, not retraining
# from another seed, which moves a GAN further.
from mlcheatsheet.plotting import plot_class_coverage
from mlcheatsheet.training import sample_images, score_generator

quality = score_generator(generator, scorer, draws=10)
print(quality.summary())
print(history.collapse_report(quality, data.classes))
noise = torch.randn(scorer.num_reference, generator.latent_dim, generator=torch.Generator().manual_seed(1)).to(device)
samples = sample_images(generator, noise)  # the first of the ten scored sets
_ = show_images(samples[:64].cpu(), ncols=16, size=0.6, title=f"GAN samples (FID {quality.fid:.2f}, floor {quality.floor:.2f})")

# %%
_ = plot_class_coverage(quality.class_shares, data.classes)

# %%
# A latent interpolation: the generator's output changes continuously with the noise.
# (The last lines printed below come from the site's build, which records this run's headline
# number for the results table.)
from mlcheatsheet.models.gan import interpolate_latents
from mlcheatsheet.plotting import show_image_rows

path = interpolate_latents(noise[:4], noise[4:8], steps=10)
rows = sample_images(generator, path.flatten(0, 1)).unflatten(0, (4, 10))
_ = show_image_rows(rows.cpu(), title="Latent interpolation (slerp)")
# sphinx_gallery_start_ignore
from mlcheatsheet.site.report import report_result

_ = report_result(
    "gan", title="GAN (fully connected)", data=data, device=device, recipe=config.recipe(), model=generator,
    histories=[history], metric="FID (classifier features)", value=quality.fid, interval=quality.fid_interval,
    higher_is_better=False,
    extra=quality.record(),
)
# sphinx_gallery_end_ignore

# %%
# Where to go next
# ----------------
# Replace ``non_saturating_generator_loss`` by ``minimax_generator_loss`` in the loop
# above and watch the generator stall. The
# :ref:`DCGAN <sphx_glr_auto_examples_plot_dcgan.py>` replaces both MLPs by convolutional
# networks; the results table on the landing page puts both FIDs, with their intervals,
# side by side.
