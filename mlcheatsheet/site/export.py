"""Trained models as ONNX files, for the demos that run them in the reader's browser.

A gallery example hands its trained networks to :func:`export_demo`, wrapped so that every
image that goes in or comes out is pixels in :math:`[0, 1]` (white digit on black, as the
data are): :class:`Probabilities` adds the softmax to a classifier, :class:`Pixels` maps a
decoder's logits (sigmoid) or a generator's ``tanh`` output to pixels. The page's
JavaScript then feeds the files to onnxruntime-web and does no model-specific arithmetic.

:func:`export_demo` writes ``$MLCHEATSHEET_DEMOS/<example>/`` — one ``.onnx`` file per model
(``torch.onnx.export``, the ``torch.export`` path) and ``demo.json`` with what the page
needs and the stamp of the run — into a temporary folder that replaces the old one in one
step. Before it does, onnxruntime runs every file on the example inputs and the outputs
must match PyTorch's to :data:`TOLERANCE`; a mismatch is an error, never a demo that
differs from the model the page describes. Outside a docs build (no ``$MLCHEATSHEET_DEMOS``)
nothing is written unless a folder is given.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..cache import published_mode
from ..data import Dataset
from .budgets import build_mode
from .report import run_stamp

__all__ = ["DEMOS_ENV", "TOLERANCE", "DemoModel", "Pixels", "Probabilities", "export_demo", "run_onnx"]

#: Environment variable naming the folder the docs build collects demos in.
DEMOS_ENV = "MLCHEATSHEET_DEMOS"
#: Largest absolute difference allowed between an exported model's outputs and PyTorch's.
TOLERANCE = 1e-4
KINDS = ("classifier", "vae", "generator", "conditional-generator", "autoencoder", "diffusion")


class Probabilities(nn.Module):
    """A classifier that returns its logits and their softmax."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.classifier(image)
        return logits, torch.softmax(logits, dim=1)


class Pixels(nn.Module):
    """A network whose output becomes pixels in :math:`[0, 1]`.

    Args:
        network: The decoder or generator (any inputs).
        output: ``"sigmoid"`` for logits (the autoencoders' and VAEs' decoders), ``"tanh"``
            for outputs in :math:`[-1, 1]` (the GAN generators).
        method: The network's method to call, e.g. ``"decode"`` for a VAE's decoder.
    """

    def __init__(self, network: nn.Module, output: str, method: str = "forward") -> None:
        super().__init__()
        if output not in ("sigmoid", "tanh"):
            raise ValueError(f"output must be 'sigmoid' or 'tanh', got {output!r}")
        self.network, self.output, self.method = network, output, method

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        raw = getattr(self.network, self.method)(*inputs)
        return torch.sigmoid(raw) if self.output == "sigmoid" else (raw + 1) / 2


@dataclass
class DemoModel:
    """One network of a demo.

    Attributes:
        module: The wrapped network (:class:`Probabilities`, :class:`Pixels`).
        inputs: Example inputs by name, with a batch dimension (its size is free in the file).
        outputs: The names of its outputs, in order.
    """

    module: nn.Module
    inputs: dict[str, torch.Tensor]
    outputs: tuple[str, ...] = ("pixels",)


def _on_cpu(module: nn.Module) -> nn.Module:
    """A float32, contiguous CPU copy in eval mode (the trained one stays where it is)."""
    clone = copy.deepcopy(module).cpu().float().eval()
    for parameter in clone.parameters():
        parameter.requires_grad_(False)
        parameter.data = parameter.data.contiguous()
    return clone


def _batch_dimensions(module: nn.Module, count: int) -> object:
    """``torch.export``'s ``dynamic_shapes`` for ``count`` inputs whose first dimension is the batch."""
    batch = torch.export.Dim("batch", min=1, max=4096)
    parameters = list(inspect.signature(module.forward).parameters.values())
    if parameters and parameters[0].kind is inspect.Parameter.VAR_POSITIONAL:  # forward(self, *inputs)
        return {parameters[0].name: tuple({0: batch} for _ in range(count))}
    return [{0: batch} for _ in range(count)]


Shapes = dict[str, list[int | None]]  # each input's and output's shape, the batch dimension None


def _export(model: DemoModel, path: Path) -> tuple[Shapes, float]:
    """Write ``model`` to ``path``, check the file against PyTorch; its shapes and largest difference."""
    module = _on_cpu(model.module)
    inputs = tuple(tensor.detach().cpu() for tensor in model.inputs.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes about its own internals are not the reader's concern
        torch.onnx.export(module, inputs, str(path), input_names=list(model.inputs), output_names=list(model.outputs),
                          dynamic_shapes=_batch_dimensions(module, len(inputs)), dynamo=True, verbose=False,
                          external_data=False)  # one file per model: what the browser fetches
    with torch.no_grad():
        expected = module(*inputs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    session = _session(path)  # one session for both checks
    got = session.run(None, {name: tensor.numpy() for name, tensor in zip(model.inputs, inputs)})
    largest = 0.0
    for name, want, have in zip(model.outputs, expected, got):
        difference = float((want - torch.from_numpy(have)).abs().max())
        if difference > TOLERANCE:
            raise RuntimeError(f"the exported {path.name} differs from the PyTorch model in {name!r} by {difference:.2e} "
                               f"(allowed {TOLERANCE:g}); the demo would not be the model the page describes")
        largest = max(largest, difference)
    _check_any_batch(session, path, dict(zip(model.inputs, inputs)))
    named = [*zip(model.inputs, inputs), *zip(model.outputs, expected)]
    return {name: [None, *tensor.shape[1:]] for name, tensor in named}, largest


def _check_any_batch(session: object, path: Path, inputs: dict[str, torch.Tensor]) -> None:
    """The page draws batches of any size: a file whose batch size was frozen at export is refused."""
    bigger = {name: torch.cat([tensor, tensor[:1]]).numpy() for name, tensor in inputs.items()}
    try:
        session.run(None, bigger)  # type: ignore[attr-defined]
    except Exception as exc:  # onnxruntime's own error types: the message is what matters
        raise RuntimeError(f"the exported {path.name} accepts only batches of {len(next(iter(inputs.values())))} "
                           f"({type(exc).__name__}); the model's code must keep the batch size symbolic") from exc


def _session(path: str | os.PathLike[str]) -> object:
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_onnx(path: str | os.PathLike[str], inputs: Mapping[str, object]) -> list:
    """Run an ONNX file with onnxruntime on the CPU; its outputs as NumPy arrays, in order."""
    return _session(path).run(None, dict(inputs))  # type: ignore[attr-defined]


def export_demo(example: str, kind: str, models: Mapping[str, DemoModel], *, title: str, data: Dataset,
                device: torch.device | str, folder: str | os.PathLike[str] | None = None,
                extra: Mapping[str, object] | None = None) -> Path | None:
    """Export ``models`` and write ``<folder>/<example>/demo.json``; the folder, or ``None`` when there is none.

    Args:
        example: The gallery example's name, e.g. ``"cnn"``.
        kind: What the page's demo does with them: one of :data:`KINDS`.
        models: The networks by name (e.g. ``{"classifier": DemoModel(...)}``).
        title: The model's name for the reader.
        data: The training data (its name and classes go into ``demo.json``).
        device: Where the model trained (for the stamp).
        folder: Where demos go; default ``$MLCHEATSHEET_DEMOS`` (nothing is written when unset).
        extra: More fields of ``demo.json`` (``latent_dim``, ``codes``, ``noise_std`` ...).

    Raises:
        ValueError: An unknown ``kind``, or no models.
        RuntimeError: An exported file's outputs differ from PyTorch's by more than :data:`TOLERANCE`.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown demo kind {kind!r}; one of {', '.join(KINDS)}")
    if not models:
        raise ValueError(f"export_demo({example!r}) needs at least one model")
    root = folder or os.environ.get(DEMOS_ENV)
    if not root:
        return None
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{example}.", suffix=".part", dir=root))
    work.chmod(published_mode(0o777))  # renamed into place below: a web server that is not root must read it
    start = time.perf_counter()
    try:
        checked = {name: _export(model, work / f"{name}.onnx") for name, model in models.items()}
        shapes = {name: shape for name, (shape, _) in checked.items()}
        manifest = _manifest(example, kind, models, shapes, title=title, data=data, device=device, extra=extra or {})
        manifest["export_seconds"] = round(time.perf_counter() - start, 2)  # what the demo costs the build
        manifest["largest_difference"] = {name: difference for name, (_, difference) in checked.items()}
        (work / "demo.json").write_text(json.dumps(manifest, indent=1))
        final = root / example
        if final.exists():
            shutil.rmtree(final)
        os.rename(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, (_, difference) in checked.items():
        size = (final / f"{name}.onnx").stat().st_size
        print(f"Exported {name}.onnx ({size / 1024:,.0f} kB): largest difference from PyTorch on "
              f"{len(next(iter(models[name].inputs.values())))} example inputs {difference:.1e} (allowed {TOLERANCE:g})")
    return final


def _manifest(example: str, kind: str, models: Mapping[str, DemoModel], shapes: Mapping[str, Shapes], *,
              title: str, data: Dataset, device: torch.device | str, extra: Mapping[str, object]) -> dict[str, object]:
    channels, height, width = data.image_shape
    return {
        "example": example, "kind": kind, "title": title, "mode": build_mode(), **run_stamp(device),
        "dataset": data.name, "data_kind": data.kind,
        "classes": list(data.classes),
        "image": {"channels": channels, "height": height, "width": width},
        "models": {name: {"file": f"{name}.onnx",
                          "inputs": {k: shapes[name][k] for k in model.inputs},
                          "outputs": {k: shapes[name][k] for k in model.outputs}}
                   for name, model in models.items()},
        "latent_dim": None, "codes": None, "noise_std": None, **dict(extra),
    }
