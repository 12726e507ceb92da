"""Saving a trained model with its configuration, and loading it back safely.

A checkpoint holds the model's registry name, its constructor arguments (see
:func:`~mlcheatsheet.models.registry.model_config`) and its weights, so
:func:`load_checkpoint` rebuilds the model from the registry and needs nothing else.

Three properties matter more than the format:

* **A crash never leaves a truncated file.** The checkpoint is written to a temporary file
  in the same directory, flushed to disk, then renamed over the target with
  :func:`os.replace`, which is atomic: the path holds the old file or the new one, never
  half of one.
* **A damaged file is refused, never half-loaded.** Before unpickling, the zip archive that
  ``torch.save`` writes is checked whole, CRC-32 of every member included, so a file cut
  short or with a flipped byte in its weights fails with an error naming it.
* **Loading a checkpoint cannot run code.** Files are read with
  ``torch.load(..., weights_only=True)``, which unpickles only tensors and plain data; the
  configuration is stored as JSON text (tuples are tagged so they come back as tuples).

The configuration names the constructor's arguments, so renaming one is a new format
version. Files of every earlier version still load, their arguments renamed on reading;
a file of a version this package does not know is refused with the versions it reads.

Example:
    >>> import tempfile, torch
    >>> from mlcheatsheet.models import build_model
    >>> model = build_model("mlp", hidden_dims=(16,)).eval()
    >>> path = save_checkpoint(tempfile.mkdtemp() + "/mlp.pt", model)
    >>> again = load_checkpoint(path, "mlp")
    >>> x = torch.rand(2, 1, 28, 28)
    >>> torch.equal(model(x), again(x))
    True
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import re
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .cache import write_atomically
from .data import default_data_root
from .models.registry import available_models, build_model, get_builder, model_config

__all__ = ["Checkpoint", "CheckpointError", "load_checkpoint", "load_pretrained", "read_checkpoint", "save_checkpoint"]

_FORMAT = "mlcheatsheet-checkpoint"
# Version 2: the classifiers and autoencoders call their input size ``image_shape``, as the
# GANs always did (version 1 said ``input_shape``).
_VERSION = 2
_READABLE_VERSIONS = (1, 2)
# The models whose ``input_shape`` argument became ``image_shape`` in version 2.
_INPUT_SHAPE_MODELS = frozenset(
    {"autoencoder", "cnn", "conv-autoencoder", "gru", "lstm", "mlp", "plain", "resnet", "resnet18", "resnet50", "rnn", "vae"}
)
_TUPLE_TAG = "__tuple__"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: corrupt, of another model, or not a checkpoint."""


@dataclass(frozen=True)
class Checkpoint:
    """The validated content of a checkpoint file.

    Attributes:
        path: The file it was read from.
        name: Registry name of the model.
        kwargs: Constructor arguments of the model.
        state_dict: The weights and buffers, on the CPU.
        extra: Whatever the caller stored alongside (metrics, epochs, ...).
        torch_version: The torch version that wrote the file.
    """

    path: Path
    name: str
    kwargs: dict[str, Any]
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    extra: dict[str, Any] = field(default_factory=dict)
    torch_version: str = ""


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, *, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``model``, its configuration and ``extra`` to ``path``, atomically.

    Args:
        path: Target file (conventionally ``.pt``); its directory is created if needed.
            An existing file is replaced only once the new one is completely on disk.
        model: A model built by a registered builder (:func:`~mlcheatsheet.models.registry.build_model`
            or a registered class), so its configuration is known.
        extra: JSON-like values to keep with the weights, e.g. ``{"epochs": 10}``.

    Returns:
        The path written.

    Raises:
        ValueError: The model was not built by a registered builder, or a constructor
            argument or ``extra`` value is not plain data (numbers, strings, booleans,
            ``None``, lists, tuples, dicts with string keys).
    """
    path = Path(path)
    config = model_config(model)
    defaults = _defaults_of(config.name)
    kwargs: dict[str, Any] = {}
    for key, value in config.kwargs.items():
        try:
            kwargs[key] = _encode(value, f"argument {key!r} of {config.name!r}")
        except ValueError:
            if key in defaults and defaults[key] is value:
                continue  # an unencodable default is the default again when rebuilt
            raise
    payload = {
        "format": _FORMAT,
        "version": _VERSION,
        "model": config.name,
        "config": json.dumps(kwargs, sort_keys=True),
        "extra": json.dumps(_encode(dict(extra or {}), "extra"), sort_keys=True),
        "torch_version": str(torch.__version__),  # TorchVersion is a str subclass weights_only refuses
        "state_dict": {key: tensor.detach().cpu().clone() for key, tensor in model.state_dict().items()},
    }
    _atomic_save(payload, path)
    return path


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and validate a checkpoint without building its model.

    Raises:
        FileNotFoundError: There is no file at ``path``.
        CheckpointError: The file is corrupt or truncated, holds something other than
            tensors and plain data, is not an mlcheatsheet checkpoint, or is of a format
            version this package cannot read. The message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    damage = _archive_damage(path)
    if damage:
        raise CheckpointError(f"{path} is corrupt or truncated and cannot be read ({damage})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # damaged pickles also trigger torch's "unusual protocol" warning
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if found:  # a pickled object that is neither a tensor nor plain data
            raise CheckpointError(
                f"{path} contains objects other than tensors and plain data ({found.group(1)}); it was "
                "refused because loading it could run code (mlcheatsheet checkpoints never need that)"
            ) from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", str(exc))
        reason = f"UnpicklingError: {detail.group(1).strip()}" if detail else _first_line(exc)
        raise CheckpointError(f"{path} is corrupt or truncated and cannot be read ({reason})") from None
    except Exception as exc:  # noqa: BLE001 - a damaged pickle can raise almost anything (IndexError, KeyError, ...)
        raise CheckpointError(f"{path} is corrupt or truncated and cannot be read ({_first_line(exc)})") from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise CheckpointError(
            f"{path} is not an mlcheatsheet checkpoint (write one with save_checkpoint; a bare "
            "state_dict can be loaded with model.load_state_dict(torch.load(path, weights_only=True)))"
        )
    version = payload.get("version")
    if type(version) is not int or version not in _READABLE_VERSIONS:  # type(): True is not version 1
        newer = " (a newer mlcheatsheet wrote it: upgrade to load it)" if type(version) is int and version > _VERSION else ""
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}, which this mlcheatsheet cannot read; "
            f"it reads versions {', '.join(map(str, _READABLE_VERSIONS))}{newer}"
        )
    try:
        name = payload["model"]
        kwargs = _decode(json.loads(payload["config"]))
        extra = _decode(json.loads(payload["extra"]))
        state_dict = payload["state_dict"]
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is a damaged mlcheatsheet checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(name, str) or not isinstance(kwargs, dict) or not isinstance(state_dict, dict):
        raise CheckpointError(f"{path} is a damaged mlcheatsheet checkpoint (unexpected field types)")
    return Checkpoint(path, name, _upgrade(kwargs, name, version), dict(state_dict), extra, str(payload.get("torch_version", "")))


def _upgrade(kwargs: dict[str, Any], name: str, version: int) -> dict[str, Any]:
    """The constructor arguments of a version-``version`` checkpoint, in today's names."""
    if version < 2 and name in _INPUT_SHAPE_MODELS:
        kwargs = {("image_shape" if key == "input_shape" else key): value for key, value in kwargs.items()}
    return kwargs


def load_checkpoint(
    path: str | os.PathLike[str],
    name: str | None = None,
    *,
    model: nn.Module | None = None,
    device: torch.device | str | None = None,
) -> nn.Module:
    """Rebuild the model saved at ``path`` and load its weights.

    Args:
        path: A file written by :func:`save_checkpoint`.
        name: The model you expect (e.g. ``"cnn"``); a checkpoint of another model is
            refused instead of loaded. ``None`` accepts any registered model.
        model: Load the weights into this model instead of building a new one; its
            parameter names and shapes must match the checkpoint's.
        device: Where to put the model (default: the CPU).

    Returns:
        The model, in eval mode.

    Raises:
        FileNotFoundError: There is no file at ``path``.
        CheckpointError: The file is corrupt, holds another model than ``name`` (or than
            ``model``), or its weights do not fit the model; the message names the file
            and both models.
    """
    ckpt = read_checkpoint(path)
    if model is not None and name is None:
        try:
            name = model_config(model).name
        except ValueError:
            name = None  # an unregistered model: the shapes decide
    if name is not None and name != ckpt.name:
        raise CheckpointError(f"{ckpt.path} holds a {ckpt.name!r} model, not the {name!r} that was asked for")
    if model is None:
        if ckpt.name not in available_models():
            raise CheckpointError(
                f"{ckpt.path} holds a {ckpt.name!r} model, which this mlcheatsheet does not register; "
                f"known models: {', '.join(available_models())}"
            )
        try:
            model = build_model(ckpt.name, **ckpt.kwargs)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{ckpt.path}: cannot rebuild {ckpt.name!r} from its saved configuration {ckpt.kwargs}: {exc}") from None
    _check_fits(ckpt, model)
    model.load_state_dict(ckpt.state_dict)
    if device is not None:
        model.to(device)
    return model.eval()


def load_pretrained(source: str | os.PathLike[str], *, device: torch.device | str | None = None) -> nn.Module:
    """A trained model from a checkpoint file or its address, ready to sample or classify.

    The site's example pages offer the model each run trained as such a file. Loading is
    :func:`load_checkpoint`'s (the same refusals, nothing that could run code); the model
    comes back in eval mode with its parameters frozen (``requires_grad`` off: outputs are
    plain tensors). Call ``model.requires_grad_(True).train()`` to fine-tune it.

    Args:
        source: A file written by :func:`save_checkpoint`, or an ``http(s)://`` address of
            one, downloaded once into ``<data root>/pretrained/`` (see
            :func:`~mlcheatsheet.data.default_data_root`).
        device: Where to put the model (default: the CPU).

    Raises:
        FileNotFoundError: There is no file at ``source``.
        CheckpointError: The file is not an mlcheatsheet checkpoint, is of a format version
            this package cannot read, is damaged, or its model is not registered here.
        ConnectionError: The address could not be downloaded.
    """
    text = os.fspath(source)
    path = _download(text) if re.match(r"https?://", text) else Path(text)
    model = load_checkpoint(path, device=device)
    return model.requires_grad_(False)


def _download(url: str, timeout: float = 60.0) -> Path:
    """The local copy of ``url`` (downloaded whole, or not at all, when there is none yet)."""
    name = Path(urllib.request.url2pathname(url.rsplit("/", 1)[-1].split("?")[0])).name or "checkpoint.pt"
    # Two sites can publish files of the same name: the address's digest keeps them apart.
    path = default_data_root() / "pretrained" / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{name}"
    if path.is_file():
        return path
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) only, checked by the caller
            data = response.read()
    except urllib.error.HTTPError as exc:
        raise ConnectionError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConnectionError(f"could not download {url}: {reason}") from None
    return write_atomically(path, lambda fh: fh.write(data))


def _check_fits(ckpt: Checkpoint, model: nn.Module) -> None:
    expected = model.state_dict()
    registered = _registered_name(model)
    what = f"the {registered!r} model" if registered else "the model"
    missing = [key for key in expected if key not in ckpt.state_dict]
    unexpected = [key for key in ckpt.state_dict if key not in expected]
    if missing or unexpected:
        raise CheckpointError(
            f"{ckpt.path} (a {ckpt.name!r} checkpoint) does not fit {what} ({type(model).__name__}): "
            f"missing {_few(missing)}; unexpected {_few(unexpected)}"
        )
    for key, tensor in expected.items():
        saved = ckpt.state_dict[key]
        if not isinstance(saved, torch.Tensor) or saved.shape != tensor.shape:
            saved_shape = tuple(saved.shape) if isinstance(saved, torch.Tensor) else type(saved).__name__
            raise CheckpointError(
                f"{ckpt.path} (a {ckpt.name!r} checkpoint) does not fit {what} ({type(model).__name__}): "
                f"{key!r} has shape {saved_shape} in the checkpoint but {tuple(tensor.shape)} in the model"
            )


def _registered_name(model: nn.Module) -> str | None:
    try:
        return model_config(model).name
    except ValueError:
        return None


def _few(keys: list[str], limit: int = 3) -> str:
    if not keys:
        return "none"
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _archive_damage(path: Path) -> str | None:
    """Why ``path`` is not an intact zip archive (the container torch.save writes), or ``None``.

    Checking the archive first turns every kind of damage into one clear error: a file cut
    short loses the archive's central directory, and a flipped byte inside a stored tensor
    fails the archive's CRC-32 check (``torch.load`` itself does not verify it and would load
    the wrong weights without a word).
    """
    if path.stat().st_size == 0:
        return "the file is empty"
    try:
        if not zipfile.is_zipfile(path):
            return "not the zip archive torch.save writes: cut short, overwritten, another kind of file or torch's legacy format"
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except Exception as exc:  # noqa: BLE001 - damaged headers raise assorted errors
        return f"damaged zip archive: {_first_line(exc)}"
    return f"checksum mismatch in {bad!r}" if bad is not None else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _defaults_of(name: str) -> dict[str, Any]:
    import inspect

    try:
        parameters = inspect.signature(get_builder(name)).parameters
    except (TypeError, ValueError):
        return {}
    return {key: p.default for key, p in parameters.items() if p.default is not inspect.Parameter.empty}


def _encode(value: Any, where: str) -> Any:
    """``value`` as JSON-able data, tuples tagged; ``ValueError`` naming ``where`` otherwise."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value}, which a checkpoint cannot store as JSON")
        return value
    if isinstance(value, tuple):
        return {_TUPLE_TAG: [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        if _TUPLE_TAG in value:
            raise ValueError(f"{where} uses the reserved key {_TUPLE_TAG!r}")
        return {k: _encode(v, where) for k, v in value.items()}
    raise ValueError(
        f"{where} is a {type(value).__name__}, which a checkpoint cannot store; use numbers, strings, "
        "booleans, None, lists, tuples or dicts with string keys"
    )


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {_TUPLE_TAG}:
            return tuple(_decode(v) for v in value[_TUPLE_TAG])
        return {k: _decode(v) for k, v in value.items()}
    return value


def _atomic_save(payload: dict[str, Any], path: Path) -> None:
    write_atomically(path, lambda fh: torch.save(payload, fh), durable=True)
