"""
Convolutional network: small filters slid across the image
==========================================================

What does a network gain by looking at an image through small filters that it slides
across the whole picture? This example trains the package's
:class:`~mlcheatsheet.models.cnn.CNN` while the documentation is built, then opens it up:
the filters it learned, what they respond to in one test image, and the images it still
gets wrong.
"""

# %%
# Device and data
# ---------------
# The same images as the MLP example on a CPU build, so the two can be compared number
# for number. The line below says which data and source this build used.
import torch

from mlcheatsheet.data import load_dataset
from mlcheatsheet.runtime import describe_device, get_device, seed_everything

# sphinx_gallery_thumbnail_number = 4
device = get_device()
print(f"Device: {describe_device(device)}")
data = load_dataset("mnist-5k", verbose=False)
# sphinx_gallery_start_ignore
from mlcheatsheet.site.budgets import build_data, build_length

data = build_data("cnn", device, data)  # a quick build keeps fewer images, a GPU build may load more
# sphinx_gallery_end_ignore
print(data.describe())

# %%
# A look at the data: a CNN sees each image as a grid of pixels, not as one long vector.
from mlcheatsheet.plotting import show_images

_ = show_images(data.x_train[:20], labels=data.y_train[:20], classes=data.classes, title="Training images")

# %%
# The model
# ---------
# Three stages of ``3×3 convolution → BatchNorm → ReLU → 2×2 max-pool`` with 32, 64 and
# 128 channels take a 28×28 MNIST digit down to 128 maps of 3×3 (a 32×32 CIFAR-10 photo
# to 4×4); one linear layer reads them.
# Most of the parameters sit in the convolutions, and each is reused at every position.
from mlcheatsheet.models import CNN, MLP
from mlcheatsheet.training import count_parameters

seed_everything(0)
model = CNN(image_shape=data.image_shape, channels=(32, 64, 128), num_classes=data.num_classes)
model

# %%
mlp_parameters = count_parameters(MLP(image_shape=data.image_shape, hidden_dims=(1024, 512)))
print(f"{count_parameters(model):,} trainable parameters (the MLP example's network: {mlp_parameters:,})")

# %%
# The objective and training
# --------------------------
# As for every classifier on this site: logits :math:`z = f_\theta(x)` and the
# cross-entropy :math:`-\log \mathrm{softmax}(z)_y`, here with label smoothing (with
# :math:`\varepsilon = 0.1` and :math:`K` classes the target puts
# :math:`1 - \varepsilon + \varepsilon / K` on the true class and :math:`\varepsilon / K`
# on each other one), minimised with AdamW and a one-cycle schedule on randomly shifted,
# rotated and scaled batches.
from mlcheatsheet.findings import accuracy_interval
from mlcheatsheet.training import TrainConfig, classified_correctly, fit_classifier

epochs = 12
# sphinx_gallery_start_ignore
epochs = build_length("cnn", device, epochs=epochs)
# sphinx_gallery_end_ignore
config = TrainConfig(epochs=epochs, batch_size=128, lr=5e-3, label_smoothing=0.1, augment=True)
print(f"Recipe: {config.recipe()}")
history = fit_classifier(model, data, config, device=device)
held_out = data.to(device)
accuracy = accuracy_interval(classified_correctly(model, held_out.x_test, held_out.y_test))
print(f"Held-out accuracy: {accuracy.format('%')} (95% interval) on {accuracy.n:,} test images "
      f"after {history.epochs} epochs ({history.total_seconds:.1f} s)")

# %%
# The loss and the held-out accuracy per epoch.
from mlcheatsheet.plotting import plot_history

_ = plot_history(history, title=f"CNN on {data.name}")

# %%
# What the network learned
# ------------------------
# The 32 filters of the first layer, each a 3×3 patch of weights (bright = positive).
# Filters of this kind are often oriented edge and line detectors, like the
# hand-designed features that came before; the figure shows what this run learned.
from mlcheatsheet.plotting import plot_filters

model = model.cpu()
_ = plot_filters(model.features[0].weight, title="Learned first-layer filters (3×3)")

# %%
# The feature maps of one test image after each stage: each map is the image seen through
# one filter, and each stage halves the resolution, so later maps are coarser maps of
# where a stage's patterns were found.
from mlcheatsheet.plotting import plot_feature_maps

image = data.x_test[:1]
with torch.inference_mode():
    maps = model.eval().feature_maps(image)
_ = plot_feature_maps(image[0], [m[0] for m in maps],
                      title=f"Feature maps of a test image (label {data.classes[int(data.y_test[0])]})")

# %%
# Results
# -------
# The held-out mistakes, captioned ``predicted (true)``; their number is in the title.
from mlcheatsheet.training import predict

predictions = predict(model, data.x_test).argmax(dim=1)
wrong = torch.nonzero(predictions != data.y_test).flatten()[:20]
_ = show_images(
    data.x_test[wrong], labels=data.y_test[wrong], predictions=predictions[wrong], classes=data.classes,
    title=f"{int((predictions != data.y_test).sum())} mistakes on the test set (first 20)",
)

# %%
# The confusion matrix shows which classes are mistaken for which. (The last lines printed below
# it come from the site's build, which records this run's headline number and exports the
# network for the in-browser demo of the :doc:`CNN page </architectures/cnn>`.)
from mlcheatsheet.metrics import confusion_matrix
from mlcheatsheet.plotting import plot_confusion_matrix

_ = plot_confusion_matrix(confusion_matrix(predictions, data.y_test, data.num_classes), data.classes)
# sphinx_gallery_start_ignore
# The site's results table and the CNN page's in-browser demo (ONNX, checked against PyTorch).
from mlcheatsheet.site.export import DemoModel, Probabilities, export_demo
from mlcheatsheet.site.report import report_result

_ = export_demo("cnn", "classifier", {"classifier": DemoModel(Probabilities(model), {"image": data.x_test[:4]},
                                                            ("logits", "probabilities"))},
                title="CNN", data=data, device=device)
_ = report_result("cnn", title="CNN", data=data, device=device, recipe=config.recipe(), model=model, histories=[history],
                  metric="test accuracy", value=accuracy.value, interval=accuracy, unit="%")
# sphinx_gallery_end_ignore

# %%
# Where to go next
# ----------------
# Very deep plain convolutional stacks are hard to optimise; the
# :ref:`ResNet example <sphx_glr_auto_examples_plot_resnet.py>` adds skip connections. To
# read an image as a *sequence* instead, see the
# :ref:`RNN example <sphx_glr_auto_examples_plot_rnn.py>`. Try ``channels=(16, 32)``
# above — two of the three stages and about a fifth of the parameters — and compare the
# two accuracies with :func:`~mlcheatsheet.findings.compare_classifiers`.
