"""The model a gallery run trained, published for a reader to download and use without training.

:func:`~mlcheatsheet.site.report.report_result` saves the run's headline model beside its
result record (``$MLCHEATSHEET_RESULTS/<example>.pt``, the package's checkpoint format,
loaded with ``weights_only``) with what the page needs to describe it: the example, the
data it learnt and the run's stamp. The example page offers the file with the lines of
:func:`usage_lines`, written from the checkpoint itself (its model's inputs, its dataset,
its image shape), so the lines fit the file they load.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from pathlib import Path

from torch import nn

from ..checkpoint import Checkpoint, save_checkpoint
from ..data import Dataset
from ..models.diffusion import FlowSampler, flow_evaluations
from ..models.registry import get_builder, model_config

__all__ = ["PRETRAINED_KEY", "save_pretrained", "usage", "usage_lines"]

#: The key of a checkpoint's ``extra`` that holds what the site says about the file.
PRETRAINED_KEY = "pretrained"


def save_pretrained(path: str | os.PathLike[str], model: nn.Module, *, example: str, data: Dataset,
                    stamp: Mapping[str, object]) -> Path | None:
    """Save ``model`` to ``path`` for the example page; ``None`` for a model no registered builder made.

    A :class:`~mlcheatsheet.models.diffusion.FlowSampler` is saved as its network, with its steps and
    solver, so the page's lines sample the way the run did.

    Args:
        path: The file to write (atomically).
        model: The run's headline model.
        example: Gallery script stem without ``plot_``.
        data: The data it trained on (its name, classes and image shape are stored).
        stamp: The run's :func:`~mlcheatsheet.site.report.run_stamp`.
    """
    info: dict[str, object] = {}
    if isinstance(model, FlowSampler):
        model, info["sampler"] = model.network, {"steps": model.steps, "solver": model.solver}
    try:
        model_config(model)
    except ValueError:
        return None  # only a registered model can be rebuilt from the file
    info |= {"example": example, "dataset": data.name, "classes": list(data.classes),
             "image_shape": list(data.image_shape), **stamp}
    return save_checkpoint(path, model, extra={PRETRAINED_KEY: info})


def usage(name: str) -> str:
    """How a model of registry name ``name`` is used: ``"classifier"``, ``"generator"``,
    ``"conditional-generator"``, ``"vae"``, ``"autoencoder"``, ``"diffusion"`` or ``"discriminator"``."""
    if name == "vae":
        return "vae"
    if name == "unet":
        return "diffusion"
    if name.endswith("autoencoder"):
        return "autoencoder"
    if name.endswith(("-discriminator", "-critic")):
        return "discriminator"
    if name.endswith("-generator"):
        forward = getattr(get_builder(name), "forward", None)
        takes_labels = forward is not None and "labels" in inspect.signature(forward).parameters
        return "conditional-generator" if takes_labels else "generator"
    return "classifier"


def _shape(count: int, image_shape: list[int]) -> str:
    return f"({', '.join(map(str, [count, *image_shape]))})"


def usage_lines(filename: str, checkpoint: Checkpoint) -> list[str]:
    """The lines that load ``filename`` (this checkpoint, downloaded) and sample or classify with it.

    Raises:
        ValueError: The checkpoint was not saved by :func:`save_pretrained`, or holds a
            discriminator (which has nothing to show on its own).
    """
    info = checkpoint.extra.get(PRETRAINED_KEY)
    if not isinstance(info, dict):
        raise ValueError(f"{checkpoint.path} was not saved for an example page (no {PRETRAINED_KEY!r} information)")
    kind, shape, dataset = usage(checkpoint.name), list(info["image_shape"]), info["dataset"]
    load = f'load_pretrained("{filename}")'
    if kind == "classifier":
        return ["from mlcheatsheet.checkpoint import load_pretrained",
                "from mlcheatsheet.data import load_dataset",
                f'model, data = {load}, load_dataset("{dataset}")',
                "print(model(data.x_test[:8]).argmax(dim=1), data.y_test[:8])  # predicted and true classes of 8 test images"]
    if kind == "autoencoder":
        return ["from mlcheatsheet.checkpoint import load_pretrained",
                "from mlcheatsheet.data import load_dataset",
                f"autoencoder = {load}",
                f'images = autoencoder(load_dataset("{dataset}").x_test[:8]).sigmoid()  # 8 test images rebuilt, {_shape(8, shape)}']
    if kind == "vae":
        return ["from mlcheatsheet.checkpoint import load_pretrained",
                f"vae = {load}",
                f"images = vae.sample(16).sigmoid()  # 16 images decoded from the prior, {_shape(16, shape)}"]
    if kind == "diffusion":  # the U-Net is the velocity of a flow: integrating it from noise draws images
        sampler = info.get("sampler")
        if not isinstance(sampler, dict):
            raise ValueError(f"{checkpoint.path} holds a diffusion network saved without its sampler (save a FlowSampler)")
        steps, solver = int(sampler["steps"]), str(sampler["solver"])
        return ["from mlcheatsheet.checkpoint import load_pretrained",
                "from mlcheatsheet.models import flow_sample",
                f"network = {load}",
                f'images = (flow_sample(network, 16, steps={steps}, solver="{solver}") + 1) / 2'
                f"  # 16 samples, {flow_evaluations(steps, solver)} network evaluations each: {_shape(16, shape)}"]
    if kind in ("generator", "conditional-generator"):
        classes, conditional = info["classes"], kind == "conditional-generator"
        count = len(classes) if conditional else 16
        labels = f", torch.arange({count})" if conditional else ""
        drawn = f"one sample of each class, {classes[0]} to {classes[-1]}" if conditional else f"{count} samples"
        return ["import torch",
                "from mlcheatsheet.checkpoint import load_pretrained",
                f"generator = {load}",
                f"images = generator(torch.randn({count}, generator.latent_dim){labels})  # {drawn}: {_shape(count, shape)}"]
    raise ValueError(f"{checkpoint.path} holds a {checkpoint.name!r}, which the site does not offer on its own")
