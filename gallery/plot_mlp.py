"""
Multilayer perceptron
=====================

How well can a network that knows nothing about images — every pixel wired to every
hidden unit — classify them? This example trains the package's
:class:`~mlcheatsheet.models.mlp.MLP` while the documentation is built and shows what it gets
right and wrong.
"""

# %%
# Device and data
# ---------------
# The package picks CUDA, then Apple's MPS, then the CPU, and loads the images as tensors
# in memory. ``mnist-5k`` is 5,000 real MNIST digits that need no download; the site's GPU
# build trains on Fashion-MNIST's 70,000 clothing images instead. The lines below say which
# data and source this build used.
import torch

from mlcheatsheet.data import load_dataset
from mlcheatsheet.runtime import describe_device, get_device, seed_everything

# sphinx_gallery_thumbnail_number = 2
device = get_device()
print(f"Device: {describe_device(device)}")
data = load_dataset("mnist-5k", verbose=False)
# sphinx_gallery_start_ignore
from mlcheatsheet.site.budgets import build_data, build_length

data = build_data("mlp", device, data)  # a quick build keeps fewer images; a GPU build may load others
# sphinx_gallery_end_ignore
print(data.describe())

# %%
# A look at the data: the first twenty training images with their labels. Pixels are
# floats in :math:`[0, 1]`.
from mlcheatsheet.plotting import show_images

_ = show_images(data.x_train[:20], labels=data.y_train[:20], classes=data.classes, title="Training images")

# %%
# The model
# ---------
# Two hidden layers of 1,024 and 512 units. Printing the model shows its layers;
# almost all of its parameters sit in the first ``Linear``, which sees every pixel.
from mlcheatsheet.models import MLP
from mlcheatsheet.training import count_parameters

seed_everything(0)
model = MLP(image_shape=data.image_shape, hidden_dims=(1024, 512), num_classes=data.num_classes, dropout=0.3)
model

# %%
print(f"{count_parameters(model):,} trainable parameters")

# %%
# The objective and training
# --------------------------
# The model outputs logits :math:`z`; training minimises the cross-entropy
# :math:`-\log \mathrm{softmax}(z)_y` with AdamW and a one-cycle learning-rate schedule.
# Each batch is randomly shifted, rotated and scaled a little: a few thousand images show
# each class in few positions, and an MLP, which has no built-in notion of a shifted
# pattern, must see the shifts to learn them.
from mlcheatsheet.findings import accuracy_interval
from mlcheatsheet.training import TrainConfig, classified_correctly, fit_classifier

epochs = 30
# sphinx_gallery_start_ignore
epochs = build_length("mlp", device, epochs=epochs)
# sphinx_gallery_end_ignore
config = TrainConfig(epochs=epochs, batch_size=512, lr=5e-3, augment=True)
print(f"Recipe: {config.recipe()}")
history = fit_classifier(model, data, config, device=device)
held_out = data.to(device)
accuracy = accuracy_interval(classified_correctly(model, held_out.x_test, held_out.y_test))
print(f"Held-out accuracy: {accuracy.format('%')} (95% interval) on {accuracy.n:,} test images")

# %%
# The loss falls on both splits and the held-out accuracy climbs, then settles as the
# learning rate anneals.
from mlcheatsheet.plotting import plot_history

_ = plot_history(history, title=f"MLP on {data.name}")

# %%
# Results
# -------
# Predictions on the first thirty test images; a mistake is framed in red and captioned
# ``predicted (true)``.
from mlcheatsheet.training import predict

data_on_device = data.to(device)
predictions = predict(model, data_on_device.x_test).argmax(dim=1).cpu()
_ = show_images(
    data.x_test[:30], labels=data.y_test[:30], predictions=predictions[:30], classes=data.classes,
    title="Test predictions",
)

# %%
# The mistakes themselves, the first twenty: the figure shows each image with its true
# label and the model's guess.
wrong = torch.nonzero(predictions != data.y_test).flatten()[:20]
_ = show_images(
    data.x_test[wrong], labels=data.y_test[wrong], predictions=predictions[wrong], classes=data.classes,
    title=f"{int((predictions != data.y_test).sum())} mistakes on the test set (first 20)",
)

# %%
# The confusion matrix shows which classes are mistaken for which. (The last lines printed below
# it come from the site's build, which records this run's headline number and exports the
# network for the in-browser demo of the :doc:`MLP page </architectures/mlp>`.)
from mlcheatsheet.metrics import confusion_matrix
from mlcheatsheet.plotting import plot_confusion_matrix

_ = plot_confusion_matrix(confusion_matrix(predictions, data.y_test, data.num_classes), data.classes)
# sphinx_gallery_start_ignore
from mlcheatsheet.site.export import DemoModel, Probabilities, export_demo
from mlcheatsheet.site.report import report_result

_ = export_demo("mlp", "classifier", {"classifier": DemoModel(Probabilities(model), {"image": data.x_test[:4]},
                                                            ("logits", "probabilities"))},
                title="MLP", data=data, device=device)

_ = report_result(
    "mlp", title="MLP", data=data, device=device, recipe=config.recipe(), model=model, histories=[history],
    metric="test accuracy", value=accuracy.value, interval=accuracy, unit="%",
)
# sphinx_gallery_end_ignore

# %%
# Where to go next
# ----------------
# The MLP ignores that neighbouring pixels belong together. A
# :ref:`convolutional network <sphx_glr_auto_examples_plot_cnn.py>` shares small filters
# across the image, with fewer parameters; the landing page's results table puts both
# accuracies, with their intervals, side by side. Try removing ``augment=True`` above to
# see how much the MLP relied on it.
