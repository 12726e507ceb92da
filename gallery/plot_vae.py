"""
Variational autoencoder: a code space you can sample from
=========================================================

An autoencoder's codes are scattered points: decode a random point and the result rarely
looks like the data. Can an autoencoder be trained so that *every* code drawn from a
standard normal decodes to a plausible image, and how much does that cost in
reconstruction? This example trains the package's convolutional
:class:`~mlcheatsheet.models.vae.VAE` while the documentation is built, and measures it by
its held-out negative ELBO.
"""

# %%
# Device and data
# ---------------
import torch

from mlcheatsheet.data import load_dataset
from mlcheatsheet.runtime import describe_device, get_device, seed_everything

# sphinx_gallery_thumbnail_number = 7
device = get_device()
print(f"Device: {describe_device(device)}")
data = load_dataset("mnist-5k", verbose=False)
# sphinx_gallery_start_ignore
from mlcheatsheet.site.budgets import build_data, build_length

data = build_data("vae", device, data)  # a quick build keeps fewer images; a GPU build may load others
# sphinx_gallery_end_ignore
print(data.describe())

# %%
# Each pixel value :math:`x_j \in [0, 1]` is scored as the *target* of a Bernoulli
# variable whose mean is the decoder's :math:`\sigma(\ell_j)`, so :math:`p(x \mid z)` is a
# product over the pixels. (On values between 0 and 1 this is not a normalised density —
# see the VAE page — so the nats below compare models on these data only.) Twenty
# training images drawn at random:
from mlcheatsheet.plotting import show_images

look = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(0))[:20]
_ = show_images(data.x_train[look], labels=data.y_train[look], classes=data.classes, title="Training images")

# %%
# The model
# ---------
# The encoder (two stride-2 convolutions of 24 and 48 channels and a 512-unit layer)
# outputs :math:`2d` numbers: the mean :math:`\mu(x)` and the log-variance
# :math:`\log \sigma^2(x)` of :math:`q(z \mid x)`, here with :math:`d = 16`. The decoder
# mirrors it with transposed convolutions and returns the logits of :math:`p(x \mid z)`.
from mlcheatsheet.models import VAE
from mlcheatsheet.training import count_parameters

seed_everything(0)
vae = VAE(image_shape=data.image_shape, base_channels=24, hidden_dim=512, latent_dim=16)
vae

# %%
print(f"{count_parameters(vae):,} trainable parameters")

# %%
# The objective and training
# --------------------------
# Training minimises the negative evidence lower bound, in nats per image,
#
# .. math::
#    -\mathrm{ELBO}(x) = \underbrace{-\mathbb{E}_{q(z \mid x)} \log p(x \mid z)}_{\text{reconstruction}}
#    + \underbrace{\tfrac12 \sum_{k=1}^{d} \big(\mu_k^2 + \sigma_k^2 - 1 - \log \sigma_k^2\big)}_{\mathrm{KL}(q(z \mid x) \,\|\, \mathcal{N}(0, I))}
#    \;\ge\; -\log p(x),
#
# with one code :math:`z = \mu + \sigma \odot \varepsilon` drawn per image and step (the
# reparameterisation trick). The weight of the KL term rises from 0 to 1 over the first
# epochs (KL warm-up), meant to let the decoder use the code before the prior pulls the
# codes together. The weight decay (0.05, on the weight matrices and kernels) is a
# regulariser for a model this size on a few thousand training images (the default data).
from mlcheatsheet.findings import mean_interval
from mlcheatsheet.training import TrainConfig, fit_vae, negative_elbo_per_image

epochs = 30
# sphinx_gallery_start_ignore
epochs = build_length("vae", device, epochs=epochs)
# sphinx_gallery_end_ignore
config = TrainConfig(epochs=epochs, batch_size=32, lr=2e-3, weight_decay=0.05)
print(f"Recipe: {config.recipe()}")
history = fit_vae(vae, data, config, kl_warmup_epochs=3, device=device)
test = data.to(device).x_test
per_image = negative_elbo_per_image(vae, test)
elbo = mean_interval(per_image["loss"])
reconstruction, kl = (float(per_image[part].mean()) for part in ("reconstruction", "kl"))
print(f"Held-out negative ELBO: {elbo.format('nats')} per image (95% interval over {elbo.n:,} images) = "
      f"reconstruction {reconstruction:.1f} + KL {kl:.1f} ({history.steps:,} steps in {history.total_seconds:.1f} s)")

# %%
# The loss splits into its two parts, shown per epoch. The KL is the price, in nats, of
# what the code says about each image: a code that carries more about its image lowers
# the reconstruction term and raises the KL.
from mlcheatsheet.plotting import plot_vae_history

_ = plot_vae_history(history, title=f"Convolutional VAE on {data.name}")

# %%
# Results
# -------
# Two held-out images of each class and their reconstructions, decoded from the mean
# code :math:`\mu(x)`. Unlike the plain autoencoder's, every code here is also asked to sit
# where the prior puts probability.
from mlcheatsheet.plotting import show_image_rows

first = [torch.nonzero(data.y_test == k).flatten()[:2] for k in range(data.num_classes)]  # two of each class
shown = torch.stack(first, dim=1).flatten()  # one of each class, then another of each
with torch.inference_mode():
    means, _ = vae.encode(test)
    rebuilt = torch.sigmoid(vae.decode(means[shown.to(device)])).cpu()
originals = data.x_test[shown]
_ = show_image_rows(torch.stack([originals[:10], rebuilt[:10], originals[10:], rebuilt[10:]]),
                    row_labels=["input", "reconstruction", "input", "reconstruction"],
                    title="Held-out images and their VAE reconstructions")

# %%
# New images: codes drawn from the prior :math:`\mathcal{N}(0, I)` and decoded, with no
# image in sight. The classifier behind the GAN pages' FID (trained on images disjoint
# from the held-out ones) judges ten independent sets of samples, each as large as the
# held-out set: FID (mean with its 95% interval), precision and recall (beside what one
# set of real images scores against the other), and which classes appear.
from mlcheatsheet.findings import coverage_finding
from mlcheatsheet.training import fid_scorer

scorer = fid_scorer(data, device=device)
prior = torch.Generator(device=device).manual_seed(0)
with torch.inference_mode():
    draws = [torch.sigmoid(vae.sample(scorer.num_reference, generator=prior)).cpu() for _ in range(10)]
quality = scorer.score_draws(draws)
samples = draws[0]
predicted = scorer.classify(samples)
print(f"Prior samples: {quality.summary()}")
print(coverage_finding(quality.class_shares, data.classes))

# %%
# Three samples of each class, as the classifier sorted them (its label above each).
picked = torch.cat([torch.nonzero(predicted == k).flatten()[:3] for k in range(data.num_classes)])
_ = show_images(samples[picked], labels=predicted[picked], classes=data.classes, ncols=10,
                title="Images decoded from codes drawn from the prior")

# %%
# A path between two images
# -------------------------
# Walk in a straight line from the mean code of one held-out image to that of another,
# decoding as you go. The KL term pulls the codes towards one region, so the points in
# between are places the decoder was trained near; whether they decode to plausible
# images is what the rows show; the share of them that fall where real images are (their
# precision, in the judge's feature space) is printed below.
pairs = [(int(first[a][0]), int(first[b][0])) for a, b in ((0, 6), (1, 7), (3, 8), (4, 9))]
weights = torch.linspace(0, 1, 10, device=device)
with torch.inference_mode():
    paths = [torch.lerp(means[a], means[b], weights[:, None]) for a, b in pairs]  # (10, d) each
    strips = torch.stack([torch.sigmoid(vae.decode(path)).cpu() for path in paths])  # (4, 10, C, H, W)
_ = show_image_rows(strips, row_labels=[f"{data.classes[data.y_test[a]]} → {data.classes[data.y_test[b]]}" for a, b in pairs],
                    col_labels=[f"{w:.2f}" for w in weights.tolist()], title="Interpolating between held-out images")
inner = strips[:, 1:-1].flatten(0, 1)  # the points strictly between the two ends
print(f"Precision of the {len(inner)} in-between images: {scorer.score(inner).precision:.2f} "
      f"(one set of real images against the other: {scorer.real_precision:.2f})")

# %%
# The latent space in two dimensions
# ----------------------------------
# With :math:`d = 2` the whole code space can be drawn. A second, smaller VAE learns a
# 2-D code; its held-out images' mean codes are drawn coloured by the labels it never
# saw, and the spread of the codes is printed next to the prior's.
from mlcheatsheet.plotting import plot_codes_2d

seed_everything(0)
vae_2d = VAE(image_shape=data.image_shape, base_channels=16, hidden_dim=128, latent_dim=2)
epochs_2d = 10
# sphinx_gallery_start_ignore
epochs_2d = build_length("vae_2d", device, epochs=epochs_2d)
# sphinx_gallery_end_ignore
config_2d = TrainConfig(epochs=epochs_2d, batch_size=64, lr=3e-3)
history_2d = fit_vae(vae_2d, data, config_2d, device=device)
print(f"2-D VAE: held-out negative ELBO {history_2d['test_loss'][-1]:.1f} nats per image "
      f"({history_2d.steps:,} steps in {history_2d.total_seconds:.1f} s)")
with torch.inference_mode():
    means_2d, _ = vae_2d.encode(test)
_ = plot_codes_2d(means_2d.cpu(), data.y_test, data.classes, title="Mean codes of held-out images (2-D VAE)")
spread = means_2d.float().std(dim=0).tolist()
print(f"Standard deviation of the mean codes along each axis: {spread[0]:.2f}, {spread[1]:.2f} (the prior's: 1 and 1)")

# %%
# Decoding a regular grid of codes draws the manifold the VAE learned. The grid is evenly
# spaced in probability under the prior (the 5% to 95% quantiles of
# :math:`\mathcal{N}(0, 1)` on each axis), so each tile covers the same prior mass.
# (The last lines printed below come from the site's build, which records this run's
# headline number and exports both decoders for the in-browser demo of the :doc:`VAE page
# </architectures/vae>`.)
from mlcheatsheet.plotting import plot_latent_manifold

steps = 15
values = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, steps))
grid = torch.stack(torch.meshgrid(values, values, indexing="ij"), dim=-1)  # (S, S, 2): [i, j] = (z2_i, z1_j)
with torch.inference_mode():
    tiles = torch.sigmoid(vae_2d.decode(grid.flip(-1).reshape(-1, 2).to(device))).cpu()
_ = plot_latent_manifold(tiles.reshape(steps, steps, *data.image_shape), values,
                         title="Images decoded from a grid of 2-D codes")
# sphinx_gallery_start_ignore
from mlcheatsheet.site.export import DemoModel, Pixels, export_demo
from mlcheatsheet.site.report import report_result

codes = [[round(x, 3), round(y, 3), label] for (x, y), label in zip(means_2d.cpu().tolist(), data.y_test.tolist())]
low, high = means_2d.min(dim=0).values.cpu(), means_2d.max(dim=0).values.cpu()
_ = export_demo(
    "vae", "vae",
    {"decoder2d": DemoModel(Pixels(vae_2d, "sigmoid", "decode"), {"code": means_2d[:4].cpu()}),
     "decoder": DemoModel(Pixels(vae, "sigmoid", "decode"), {"code": torch.randn(4, vae.latent_dim)})},
    title="Convolutional VAE", data=data, device=device,
    extra={"latent_dim": vae.latent_dim, "codes": codes, "code_range": [[float(low[0]), float(high[0])], [float(low[1]), float(high[1])]]},
)

_ = report_result(
    "vae", title="Convolutional VAE (16-D code)", data=data, device=device, recipe=config.recipe(), model=vae,
    histories=[history, history_2d],
    metric="held-out negative ELBO", value=elbo.value, interval=elbo, unit="nats", higher_is_better=False,
    extra={"reconstruction": reconstruction, "KL": kl, "2-D VAE negative ELBO": history_2d["test_loss"][-1],
           **{f"prior samples {key}": value for key, value in quality.record().items()}},
)
# sphinx_gallery_end_ignore

# %%
# Where to go next
# ----------------
# The Bernoulli decoder's mean averages over what the code leaves uncertain. The
# :ref:`GAN <sphx_glr_auto_examples_plot_gan.py>` and
# :ref:`DCGAN <sphx_glr_auto_examples_plot_dcgan.py>` examples give up the likelihood and
# train a generator against a discriminator instead; their FIDs use the same judge and
# floor as the one above. Try ``kl_warmup_epochs=0``, or a
# larger ``latent_dim``, and watch how the two parts of the loss trade off.
