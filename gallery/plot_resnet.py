"""
Residual networks and transfer learning
=======================================

Two questions about the package's :class:`~mlcheatsheet.models.resnet.ResNet`. First: do
skip connections make a deep network easier to train than the same stack of layers
without them? Second: how much does a network trained on one task help on another when
the new task has only a handful of labelled images?
"""

# %%
# Device and data
# ---------------
# The same images as the CNN example; the line below says which data and source this
# build used.
from mlcheatsheet.data import load_dataset
from mlcheatsheet.runtime import describe_device, get_device, seed_everything

# sphinx_gallery_thumbnail_number = 2
device = get_device()
print(f"Device: {describe_device(device)}")
data = load_dataset("mnist-5k", verbose=False)
# sphinx_gallery_start_ignore
from mlcheatsheet.site.budgets import build_data, build_length

data = build_data("resnet", device, data)  # a quick build keeps fewer images; a GPU build may load others
# sphinx_gallery_end_ignore
print(data.describe())

# %%
# A look at the data.
from mlcheatsheet.plotting import show_images

_ = show_images(data.x_train[:20], labels=data.y_train[:20], classes=data.classes, title="Training images")

# %%
# Part 1 — skip connections
# -------------------------
# A small-image ResNet in the style of the paper's CIFAR-10 networks: a 3×3 stem, then
# three stages of three :class:`~mlcheatsheet.models.resnet.BasicBlock` at full, half and
# quarter resolution (28×28, 14×14 and 7×7 on MNIST), global average pooling and a linear
# layer — 20 layers with weights. The second block stage opens with a strided block
# whose shortcut is a 1×1 projection, because its input has half the channels and twice
# the resolution of its output:
from mlcheatsheet.models import plain_small, resnet_small
from mlcheatsheet.training import count_parameters

seed_everything(0)
resnet = resnet_small(image_shape=data.image_shape, num_classes=data.num_classes, blocks_per_stage=3, base_channels=8)
resnet.stages[1][0]

# %%
# The plain network has the same 20 layers and widths, built from
# :class:`~mlcheatsheet.models.resnet.PlainBlock`: each block's output is :math:`F(x)` instead
# of :math:`F(x) + x`.
plain = plain_small(image_shape=data.image_shape, num_classes=data.num_classes, blocks_per_stage=3, base_channels=8)
print(f"ResNet-20: {count_parameters(resnet):,} parameters; plain-20: {count_parameters(plain):,} "
      "(no projection shortcuts)")

# %%
# Both minimise the cross-entropy :math:`-\log \mathrm{softmax}(f_\theta(x))_y` with
# the same optimiser, schedule, augmentation and number of epochs.
from mlcheatsheet.plotting import plot_histories
from mlcheatsheet.training import TrainConfig, fit_classifier

epochs, transfer_steps = 14, 120  # each network's epochs; optimiser steps of each transfer strategy
# sphinx_gallery_start_ignore
epochs, transfer_steps = build_length("resnet", device, epochs=epochs, transfer_steps=transfer_steps)
# sphinx_gallery_end_ignore
config = TrainConfig(epochs=epochs, batch_size=128, lr=5e-3, label_smoothing=0.1, augment=True)
print(f"Recipe: {config.recipe()}")
depth_runs = {"ResNet-20": fit_classifier(resnet, data, config, device=device),
              "plain-20": fit_classifier(plain, data, config, device=device)}
resnet_history = depth_runs["ResNet-20"]
_ = plot_histories(depth_runs, title="The same 20 layers with and without skip connections", ylim=(90, 100))

# %%
# Both networks are scored on the same held-out images, so they are compared image by
# image (McNemar's exact test on the images only one of them gets right); a winner is
# named only when the difference is significant at 5%.
from mlcheatsheet.findings import compare_classifiers
from mlcheatsheet.training import classified_correctly

held_out = data.to(device)
right = {name: classified_correctly(model, held_out.x_test, held_out.y_test) for name, model in (("ResNet-20", resnet), ("plain-20", plain))}
depth = compare_classifiers("ResNet-20", right["ResNet-20"], "plain-20", right["plain-20"])
print(depth.sentence())

# %%
# Skip connections are about *training* a deep stack, so the two are also compared on the
# images they trained on: each training image's cross-entropy (no label smoothing, no
# augmentation), paired image by image. Each network was trained once, from one seed: both
# tests cover the images, not what another training run would give.
import torch.nn.functional as F

from mlcheatsheet.findings import Finding, compare_means
from mlcheatsheet.training import predict

fit_losses = {name: F.cross_entropy(predict(model, held_out.x_train), held_out.y_train, reduction="none")
              for name, model in (("ResNet-20", resnet), ("plain-20", plain))}
fit = compare_means("ResNet-20", fit_losses["ResNet-20"], "plain-20", fit_losses["plain-20"], what="training cross-entropy")
once = "each network trained once, from one seed"
findings = [Finding("training fit", fit.sentence(), f"the {len(held_out.x_train):,} training images; {once}"),
            Finding("test accuracy", depth.sentence(), f"the {len(held_out.x_test):,} test images; {once}")]
print(fit.sentence())

# %%
# Part 2 — transfer learning with few labels
# ------------------------------------------
# A real transfer experiment that needs no download: pre-train a ResNet on classes 0–4,
# then learn classes 5–9 from only ten labelled images of each. Pre-training sees none of
# the new classes, so whatever helps is knowledge about edges and shapes that carries
# over.
pretrain_data = data.subset(classes=(0, 1, 2, 3, 4))
transfer_data = data.subset(classes=(5, 6, 7, 8, 9), max_train=50)  # 10 images per class
print(f"pre-training: {len(pretrain_data.x_train):,} images of classes 0–4; transfer: {len(transfer_data.x_train)} "
      f"labelled images of classes 5–9; evaluation: {len(transfer_data.x_test)} held-out images of classes 5–9")
_ = show_images(transfer_data.x_train, labels=transfer_data.y_train, classes=data.classes,
                title="Every labelled image the transfer strategies get")

# %%
# Pre-training on the old classes, with the same recipe as above.
seed_everything(1)
pretrained = resnet_small(image_shape=data.image_shape, num_classes=data.num_classes, blocks_per_stage=3, base_channels=8)
pretrain_history = fit_classifier(pretrained, pretrain_data, config, device=device)
print(f"pre-trained on classes 0–4: {100 * pretrain_history.test_accuracy[-1]:.2f}% on held-out images of 0–4")

# %%
# Three ways to learn the new classes from the 50 labelled images:
#
# * **feature extraction** — keep the pre-trained network frozen (BatchNorm included) and
#   train only a new linear head on its features, at a larger learning rate than
#   fine-tuning's (``head_config`` below: with the fine-tuning rate the head was still
#   far from trained after this many steps, when this recipe was chosen);
# * **fine-tuning** — start from the pre-trained weights with a new head and train
#   everything, gently;
# * **from scratch** — the same architecture from a random initialisation.
#
# When torchvision's ImageNet weights for ResNet-18 are already in the local torch cache,
# a fourth run uses those features instead; the package never downloads them.
from dataclasses import replace

from mlcheatsheet.models import resnet18
from mlcheatsheet.models.resnet import imagenet_weights_path
from mlcheatsheet.transfer import freeze_backbone, with_new_head

batch = 10
few_config = TrainConfig(epochs=max(1, transfer_steps * batch // len(transfer_data.x_train)), batch_size=batch,
                         lr=1e-3, label_smoothing=0.1, augment=True)
seed_everything(2)
strategies = {
    "feature extraction": freeze_backbone(with_new_head(pretrained, data.num_classes)),
    "fine-tuning": with_new_head(pretrained, data.num_classes),
    "from scratch": resnet_small(image_shape=data.image_shape, num_classes=data.num_classes, blocks_per_stage=3, base_channels=8),
}
frozen = {"feature extraction"}
if imagenet_weights_path("resnet18").is_file():
    imagenet = resnet18(weights="imagenet", image_shape=data.image_shape, num_classes=data.num_classes)
    strategies["ImageNet ResNet-18 features"] = freeze_backbone(imagenet)
    frozen.add("ImageNet ResNet-18 features")
else:
    print(f"ImageNet weights not in the local torch cache ({imagenet_weights_path('resnet18')}): "
          "running the offline experiment only.")
head_config = replace(few_config, lr=10 * few_config.lr)  # for the strategies that train only a head
transfer_runs = {
    name: fit_classifier(model, transfer_data, head_config if name in frozen else few_config, device=device)
    for name, model in strategies.items()
}

# %%
# The results on the held-out images of the new classes, with 95% intervals, and each
# strategy compared with the next best on the same images:
# (The last lines printed below come from the site's build, which records this run's
# headline number for the results table.)
from mlcheatsheet.findings import accuracy_interval

new_held_out = transfer_data.to(device)
transfer_right = {name: classified_correctly(model, new_held_out.x_test, new_held_out.y_test) for name, model in strategies.items()}
print(f"{len(transfer_data.x_test):,} held-out images of classes 5–9")
print(f"{'strategy':<30}{'accuracy [95% interval]':>26}{'trainable':>12}{'seconds':>9}")
print("\n".join(
    f"{name:<30}{accuracy_interval(transfer_right[name]).format('%'):>26}{count_parameters(strategies[name]):>12,}"
    f"{run.total_seconds:>9.1f}" for name, run in transfer_runs.items()
))
ranked = sorted(transfer_right, key=lambda name: -float(transfer_right[name].float().mean()))
for better, worse in zip(ranked, ranked[1:]):
    print(compare_classifiers(better, transfer_right[better], worse, transfer_right[worse]).sentence())
_ = plot_histories(transfer_runs, title="Learning classes 5–9 from 10 labelled images each")
# sphinx_gallery_start_ignore
from mlcheatsheet.site.report import report_result

transfer_accuracy = {f"transfer {name}": run.test_accuracy[-1] for name, run in transfer_runs.items()}
_ = report_result(
    "resnet", title="ResNet-20", data=data, device=device, recipe=config.recipe(), model=resnet, histories=[resnet_history],
    metric="test accuracy", value=resnet_history.test_accuracy[-1], interval=accuracy_interval(right["ResNet-20"]),
    unit="%", findings=findings,
    extra={"plain-20 test accuracy": depth_runs["plain-20"].test_accuracy[-1], "McNemar p (ResNet vs plain)": depth.p_value,
           **transfer_accuracy},
)
# sphinx_gallery_end_ignore

# %%
# Where to go next
# ----------------
# He et al. report a higher training error for a 56-layer plain network than for a
# 20-layer one (their Figure 1, CIFAR-10), and the opposite for residual networks: rebuild
# both networks here with ``blocks_per_stage=9`` and compare again. For transfer, try 1 or
# 100 labelled images per class and see how the gap between the strategies moves. The
# same residual idea reappears in almost every modern architecture, from U-Nets to
# transformers.
