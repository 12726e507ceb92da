"""
Autoencoders: how much of an image survives a 32-number code?
=============================================================

An image has hundreds of pixels or more (784 for a 28×28 MNIST digit). How well do a
few numbers rebuild it, how do a convolutional and a fully connected encoder compare at
the same code size, and can the same architecture learn to remove noise it never saw in
its targets? This example trains the package's
:class:`~mlcheatsheet.models.autoencoder.Autoencoder` and
:class:`~mlcheatsheet.models.autoencoder.ConvAutoencoder` while the documentation is built,
without ever looking at a label.
"""

# %%
# Device and data
# ---------------
# Labels are loaded with the images, but only the last figure uses them, to colour the codes.
import torch

from mlcheatsheet.data import load_dataset
from mlcheatsheet.runtime import describe_device, get_device, seed_everything

# sphinx_gallery_thumbnail_number = 3
device = get_device()
print(f"Device: {describe_device(device)}")
data = load_dataset("mnist-5k", verbose=False)
# sphinx_gallery_start_ignore
from mlcheatsheet.site.budgets import build_data, build_length

data = build_data("autoencoder", device, data)  # a quick build keeps fewer images; a GPU build may load others
# sphinx_gallery_end_ignore
print(data.describe())

# %%
# The targets are the inputs themselves: pixel values in :math:`[0, 1]`. Twenty training
# images drawn at random:
from mlcheatsheet.plotting import show_images

look = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(0))[:20]
_ = show_images(data.x_train[look], labels=data.y_train[look], classes=data.classes, title="Training images")

# %%
# The models
# ----------
# Two autoencoders with the same 32-number code. The fully connected one squeezes the
# pixels through layers of 512 and 128 units; the convolutional one uses two stride-2
# convolutions (28 → 14 → 7 pixels on MNIST) and a 256-unit layer; each decoder mirrors
# its encoder, the convolutional one with transposed convolutions. Both decoders return
# logits, one per pixel. A third, fully connected with a 12-number code, is measured
# beside them at the same number of epochs.
from mlcheatsheet.models import Autoencoder, ConvAutoencoder
from mlcheatsheet.training import count_parameters

seed_everything(0)
models = {
    "fully connected, 32": Autoencoder(image_shape=data.image_shape, hidden_dims=(512, 128), latent_dim=32),
    "convolutional, 32": ConvAutoencoder(image_shape=data.image_shape, base_channels=16, hidden_dim=256, latent_dim=32),
    "fully connected, 12": Autoencoder(image_shape=data.image_shape, hidden_dims=(512, 128), latent_dim=12),
}
conv = models["convolutional, 32"]
conv

# %%
pixels = data.image_shape[0] * data.image_shape[1] * data.image_shape[2]
for name, model in models.items():
    print(f"{name}: code of {model.latent_dim} numbers for {pixels} pixels — {count_parameters(model):,} parameters")

# %%
# The objective and training
# --------------------------
# With encoder :math:`f`, decoder :math:`g` and decoder logits :math:`\ell = g(f(x))`,
# each pixel value :math:`x_j` (a grey level or one colour channel) is scored by the
# Bernoulli cross-entropy
#
# .. math::
#    \mathcal{L}(x) = -\frac{1}{D} \sum_{j=1}^{D} \big[x_j \log \sigma(\ell_j)
#    + (1 - x_j) \log(1 - \sigma(\ell_j))\big],
#
# the cross-entropy of a Bernoulli whose mean is :math:`\sigma(\ell_j)` and whose target is
# the pixel value (its minimiser, like the squared error's, is the mean of the plausible
# targets, so neither loss removes the blur of averaging). Progress is *measured* as the
# mean squared error per pixel of the reconstruction :math:`\sigma(\ell)` on the held-out
# images.
from mlcheatsheet.training import TrainConfig, fit_autoencoder

epochs = 10
# sphinx_gallery_start_ignore
epochs = build_length("autoencoder", device, epochs=epochs)
# sphinx_gallery_end_ignore
config = TrainConfig(epochs=epochs, batch_size=64, lr=3e-3)
print(f"Recipe: {config.recipe()}")
histories = {name: fit_autoencoder(model, data, config, device=device) for name, model in models.items()}
for name, history in histories.items():
    print(f"{name}: held-out MSE {history['test_mse'][-1]:.4f} per pixel on {len(data.x_test):,} images — "
          f"{history.steps:,} steps in {history.total_seconds:.1f} s")

# %%
# Fully connected versus convolutional, at the same code size
# ------------------------------------------------------------
# The convolutional model shares each filter across the image and rebuilds it from local
# pieces. Each held-out image's error is measured for both 32-number models and the two
# are compared image by image (a paired t-test), with the 12-number model beside them:
from mlcheatsheet.findings import compare_means, mean_interval
from mlcheatsheet.plotting import plot_histories
from mlcheatsheet.training import reconstruction_errors

_ = plot_histories(histories, metric="test_mse", title="Held-out reconstruction error per pixel")
held_out = data.to(device)
test = held_out.x_test
errors = {name: reconstruction_errors(model, test) for name, model in models.items()}
for name, values in errors.items():
    print(f"{name}: MSE per pixel {mean_interval(values).format()} (95% interval over {len(values):,} images)")
print(compare_means("convolutional, 32", errors["convolutional, 32"], "fully connected, 32", errors["fully connected, 32"],
                    what="MSE per pixel").sentence())

# %%
# Does a reconstruction still show the same class? The classifier the GAN examples use as
# their judge (:func:`~mlcheatsheet.training.scorer.fid_scorer`, trained once per build on
# images disjoint from the held-out ones) labels the originals and each model's
# reconstructions; the share it still gets right is the measure, with 95% intervals.
from mlcheatsheet.findings import accuracy_interval
from mlcheatsheet.training import fid_scorer, predict

judge = fid_scorer(data, device=device)
labels = held_out.y_test.cpu()
print(f"judge on the original held-out images: {accuracy_interval(judge.classify(test) == labels).format('%')}")
for name, model in models.items():
    rebuilt_all = torch.sigmoid(predict(model, test))
    print(f"judge on the {name} reconstructions: {accuracy_interval(judge.classify(rebuilt_all) == labels).format('%')}")

# %%
# Input versus reconstruction for one held-out image of each class.
from mlcheatsheet.plotting import show_image_rows

shown = torch.stack([torch.nonzero(data.y_test == k).flatten()[0] for k in range(data.num_classes)])
originals = data.x_test[shown]
rebuilt = {name: torch.sigmoid(predict(model, test[shown.to(device)])).cpu() for name, model in models.items()}
short = [name.replace("fully connected", "FC").replace("convolutional", "conv") for name in rebuilt]  # fits the margin
_ = show_image_rows(torch.stack([originals, *rebuilt.values()]), row_labels=["input", *short],
                    title="Held-out images and their reconstructions")

# %%
# A denoising autoencoder
# -----------------------
# Same convolutional architecture, but every training input is corrupted with Gaussian
# noise of standard deviation 0.5 (clipped to :math:`[0, 1]`) while the target stays
# clean. Copying the input is now useless: the model must learn what the images look like.
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
# Noisy input, the denoiser's output, and the clean image it never saw.
noisy_shown = noisy[shown.to(device)]
denoised = torch.sigmoid(predict(denoiser, noisy_shown)).cpu()
_ = show_image_rows(torch.stack([noisy_shown.cpu(), denoised, originals]), row_labels=["noisy", "denoised", "clean"],
                    title=f"Denoising held-out images (noise σ = {noise_std})")

# %%
# What the code has learned
# -------------------------
# A code of two numbers can be drawn directly. One more autoencoder, fully connected with
# a 2-number code, is trained like the others, and the codes of the held-out images are
# drawn coloured by the labels it never saw. How well the classes separate in that plane
# is measured by a 5-nearest-neighbour vote among the training images' codes, next to
# the same vote on the raw pixels.
from mlcheatsheet.metrics import confusion_matrix, nearest_neighbour_labels
from mlcheatsheet.plotting import plot_codes_2d

seed_everything(2)
dense_2d = Autoencoder(image_shape=data.image_shape, hidden_dims=(512, 128), latent_dim=2)
history_2d = fit_autoencoder(dense_2d, data, config, device=device)
print(f"2-number code: held-out MSE {history_2d['test_mse'][-1]:.4f} per pixel")
with torch.inference_mode():
    codes = dense_2d.encode(test).float().cpu()
    train_codes = dense_2d.encode(held_out.x_train).float().cpu()
_ = plot_codes_2d(codes, data.y_test, data.classes, title="2-number codes of the held-out images")
train_labels = held_out.y_train.cpu()
votes = nearest_neighbour_labels(train_codes, train_labels, codes)
knn_codes = votes == labels
knn_pixels = nearest_neighbour_labels(held_out.x_train, train_labels, test) == labels
print(f"5-nearest-neighbour accuracy on the 2-number codes: {accuracy_interval(knn_codes).format('%')}; "
      f"on the {pixels} raw pixels: {accuracy_interval(knn_pixels).format('%')}; chance: {100 / data.num_classes:.0f}%")

# %%
# Which classes share the plane? The pairs the nearest-neighbour vote on the codes confuses
# most often, in both directions:
# (The last lines printed below come from the site's build, which records this run's
# headline number and exports the convolutional autoencoder and the denoiser for the in-
# browser demo of the :doc:`autoencoder page </architectures/autoencoder>`.)
counts = confusion_matrix(votes, labels, data.num_classes)
pairs = sorted(((int(counts[i, j] + counts[j, i]), i, j) for i in range(data.num_classes) for j in range(i)), reverse=True)
print("Most confused pairs: " + "; ".join(f"{data.classes[j]} and {data.classes[i]} ({n} held-out images voted as the other)"
                                       for n, i, j in pairs[:4]))
# sphinx_gallery_start_ignore
from mlcheatsheet.site.export import DemoModel, Pixels, export_demo
from mlcheatsheet.site.report import report_result

_ = export_demo(
    "autoencoder", "autoencoder",
    {"autoencoder": DemoModel(Pixels(conv, "sigmoid"), {"image": data.x_test[:4]}),
     "denoiser": DemoModel(Pixels(denoiser, "sigmoid"), {"image": data.x_test[:4]})},
    title="Convolutional autoencoder", data=data, device=device, extra={"noise_std": noise_std},
)

conv_error = mean_interval(errors["convolutional, 32"])
_ = report_result(
    "autoencoder", title="Convolutional autoencoder (32-number code)", data=data, device=device, model=conv,
    recipe=config.recipe(),
    histories=(*histories.values(), denoising, history_2d),
    metric="held-out MSE per pixel", value=conv_error.value, interval=conv_error, higher_is_better=False,
    extra={**{f"{name}: MSE per pixel": float(values.mean()) for name, values in errors.items()},
           "denoising: noisy input": noisy_mse, "denoising: output": denoising["test_mse"][-1],
           "2-number codes: 5-NN accuracy": float(knn_codes.float().mean())},
)
# sphinx_gallery_end_ignore

# %%
# Where to go next
# ----------------
# Nothing in this objective says what lies between the codes of two training images, or
# where to draw a new code from: decode a point halfway between two codes, or a random
# one, and see. The :ref:`variational autoencoder <sphx_glr_auto_examples_plot_vae.py>`
# makes the code space a distribution you can sample from. For codes larger than two numbers, a
# non-linear embedding such as t-SNE (``sklearn.manifold.TSNE``) draws a 2-D map of them.
