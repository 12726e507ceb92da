"""
Autoencoders: how much of a digit survives a 32-number code?
============================================================

A digit has 784 pixels. How few numbers does a network need to rebuild it, does a
convolutional encoder beat a fully connected one at the same job, and can the same
architecture learn to remove noise it never saw in its targets? This example trains the
package's :class:`~mlcheatsheet.models.autoencoder.Autoencoder` and
:class:`~mlcheatsheet.models.autoencoder.ConvAutoencoder` while the documentation is built,
without ever looking at a label.
"""

# %%
# Device and data
# ---------------
# Labels are loaded with the images, but only the last figure uses them, to colour the codes.
import torch

from mlcheatsheet.budgets import build_mode, get_budget
from mlcheatsheet.data import load_dataset
from mlcheatsheet.runtime import describe_device, get_device, seed_everything

# sphinx_gallery_thumbnail_number = 3
device = get_device()
budget = get_budget("autoencoder", device=device)
print(f"Device: {describe_device(device)} — build mode: {build_mode()} — budget: {budget.epochs} epochs per model")
data = load_dataset(budget.dataset).subset(max_train=budget.max_train)

# %%
# The targets are the inputs themselves: grey levels in :math:`[0, 1]`. (The embedded
# digits are stored sorted by class, so we look at a random twenty.)
from mlcheatsheet.plotting import show_images

look = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(0))[:20]
_ = show_images(data.x_train[look], labels=data.y_train[look], classes=data.classes, title="Training images")

# %%
# The models
# ----------
# Two autoencoders with the same kind of bottleneck. The fully connected one squeezes the
# 784 pixels through layers of 512 and 128 units to a **12-number** code. The
# convolutional one uses two stride-2 convolutions (28 → 14 → 7 pixels) and a 256-unit
# layer to reach a **32-number** code; its decoder mirrors it with transposed
# convolutions. Both decoders return logits, one per pixel.
from mlcheatsheet.models import Autoencoder, ConvAutoencoder
from mlcheatsheet.training import count_parameters

seed_everything(0)
dense = Autoencoder(image_shape=data.image_shape, hidden_dims=(512, 128), latent_dim=12)
conv = ConvAutoencoder(image_shape=data.image_shape, base_channels=16, hidden_dim=256, latent_dim=32)
conv

# %%
pixels = data.image_shape[0] * data.image_shape[1] * data.image_shape[2]
for name, model in (("fully connected", dense), ("convolutional", conv)):
    print(f"{name}: code of {model.latent_dim} numbers for {pixels} pixels — {count_parameters(model):,} parameters")

# %%
# The objective and training
# --------------------------
# With encoder :math:`f`, decoder :math:`g` and decoder logits :math:`\ell = g(f(x))`,
# each pixel's grey level :math:`x_j` is scored by the Bernoulli cross-entropy
#
# .. math::
#    \mathcal{L}(x) = -\frac{1}{D} \sum_{j=1}^{D} \big[x_j \log \sigma(\ell_j)
#    + (1 - x_j) \log(1 - \sigma(\ell_j))\big],
#
# which, unlike the squared error, keeps pushing on pixels that are almost right, so the
# strokes come out sharper. Progress is *measured* as the mean squared error per pixel of
# the reconstruction :math:`\sigma(\ell)` on the 1,000 held-out digits.
from mlcheatsheet.training import TrainConfig, fit_autoencoder

config = TrainConfig(epochs=budget.epochs, batch_size=budget.batch_size, lr=3e-3)
histories = {
    "fully connected, 12-number code": fit_autoencoder(dense, data, config, device=device),
    "convolutional, 32-number code": fit_autoencoder(conv, data, config, device=device),
}
for name, history in histories.items():
    print(f"{name}: held-out MSE {history['test_mse'][-1]:.4f} per pixel — "
          f"{history.steps} steps in {history.total_seconds:.1f} s")

# %%
# Fully connected versus convolutional
# ------------------------------------
# The convolutional model shares each filter across the image and rebuilds strokes from
# local pieces; it ends well below the fully connected one.
from mlcheatsheet.plotting import plot_histories

_ = plot_histories(histories, metric="test_mse", title="Held-out reconstruction error per pixel")

# %%
# Input versus reconstruction for one held-out digit of each class. The 12-number code
# keeps the digit's identity and pose but loses the details of the stroke; the 32-number
# convolutional code keeps most of them.
from mlcheatsheet.plotting import show_image_rows
from mlcheatsheet.training import predict

test = data.to(device).x_test
shown = torch.stack([torch.nonzero(data.y_test == k).flatten()[0] for k in range(data.num_classes)])
originals = data.x_test[shown]
rebuilt = {name: torch.sigmoid(predict(model, test[shown.to(device)])).cpu()
           for name, model in (("FC, 12", dense), ("conv, 32", conv))}
_ = show_image_rows(torch.stack([originals, *rebuilt.values()]), row_labels=["input", *rebuilt],
                    title="Held-out digits and their reconstructions")

# %%
# A denoising autoencoder
# -----------------------
# Same convolutional architecture, but every training input is corrupted with Gaussian
# noise of standard deviation 0.5 (clipped to :math:`[0, 1]`) while the target stays
# clean. Copying the input is now useless: the model must learn what digits look like.
from mlcheatsheet.models.autoencoder import corrupt
from mlcheatsheet.training import evaluate_autoencoder

noise_std = 0.5
seed_everything(1)
denoiser = ConvAutoencoder(image_shape=data.image_shape, base_channels=16, hidden_dim=256, latent_dim=32)
denoising = fit_autoencoder(denoiser, data, config, noise_std=noise_std, device=device)
noisy = corrupt(test, noise_std, generator=torch.Generator(device=device).manual_seed(0))
noisy_mse = torch.mean((noisy - test) ** 2).item()
print(f"Held-out MSE of the noisy input: {noisy_mse:.4f} — after denoising: {denoising['test_mse'][-1]:.4f} "
      f"(the plain convolutional model on the same noisy input: "
      f"{evaluate_autoencoder(conv, test, noise_std=noise_std)['mse']:.4f})")

# %%
# Noisy input, the denoiser's output, and the clean digit it never saw.
noisy_shown = noisy[shown.to(device)]
denoised = torch.sigmoid(predict(denoiser, noisy_shown)).cpu()
_ = show_image_rows(torch.stack([noisy_shown.cpu(), denoised, originals]), row_labels=["noisy", "denoised", "clean"],
                    title=f"Denoising held-out digits (noise σ = {noise_std})")

# %%
# What the code has learned
# -------------------------
# A code of two numbers can be drawn directly. A third autoencoder, the fully connected
# one with a 2-number code, is trained like the others; the codes of the held-out digits,
# coloured by the labels it never saw, group by digit: the network discovered the classes
# on its own. The groups that touch (4 and 9, 3, 5 and 8) are digits that look alike.
from mlcheatsheet.plotting import plot_codes_2d

seed_everything(2)
dense_2d = Autoencoder(image_shape=data.image_shape, hidden_dims=(512, 128), latent_dim=2)
history_2d = fit_autoencoder(dense_2d, data, config, device=device)
print(f"2-number code: held-out MSE {history_2d['test_mse'][-1]:.4f} per pixel")
with torch.inference_mode():
    codes = dense_2d.encode(test).float().cpu()
_ = plot_codes_2d(codes, data.y_test, data.classes, title="2-number codes of the held-out digits")

# %%
# The headline number of this run, recorded for the site's results table:
from mlcheatsheet.report import report_result

conv_history = histories["convolutional, 32-number code"]
_ = report_result(
    "autoencoder", title="Convolutional autoencoder (32-number code)", data=data, device=device, model=conv,
    histories=(*histories.values(), denoising, history_2d),
    metric="held-out MSE per pixel", value=conv_history["test_mse"][-1], higher_is_better=False,
    extra={"fully connected, 12-number code": histories["fully connected, 12-number code"]["test_mse"][-1],
           "denoising: noisy input": noisy_mse, "denoising: output": denoising["test_mse"][-1]},
)

# %%
# Where to go next
# ----------------
# The codes here are points with no structure between them: decode a point halfway
# between two codes, or a random one, and the result is rarely a digit. The
# :ref:`variational autoencoder <sphx_glr_auto_examples_plot_vae.py>` makes the code
# space a distribution you can sample from. For codes larger than two numbers, a
# non-linear embedding such as t-SNE (``sklearn.manifold.TSNE``) draws a 2-D map of them.
