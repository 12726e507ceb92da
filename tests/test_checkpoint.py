"""Checkpoints: every model round-trips with its configuration, files are written atomically,
loading never runs code, and bad files fail with messages that name them."""

from __future__ import annotations

import io
import json
import os
import random
import re
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from test_reliability import example_inputs
from torch import nn

import mlcheatsheet.checkpoint as checkpoint_module
from mlcheatsheet.checkpoint import CheckpointError, load_checkpoint, load_pretrained, read_checkpoint, save_checkpoint
from mlcheatsheet.models import MLP, available_models, build_model, model_config, register_model
from mlcheatsheet.models.registry import _REGISTRY


def _outputs(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    torch.manual_seed(0)  # models that sample in forward (a VAE) draw the same noise
    with torch.no_grad():
        out = model(*inputs)
    return list(out) if isinstance(out, (tuple, list)) else [out]


@pytest.mark.parametrize("name", available_models())
def test_every_registered_model_round_trips(name: str, tmp_path: Path) -> None:
    model = build_model(name).eval()
    with torch.no_grad():  # buffers (BatchNorm statistics) away from their initial values
        for buffer in model.buffers():
            if buffer.is_floating_point():
                buffer.mul_(1 + 0.1 * torch.rand_like(buffer)).add_(0.01 * torch.rand_like(buffer))
    inputs = example_inputs(name, model, n=2)
    expected = _outputs(model, inputs)

    path = save_checkpoint(tmp_path / f"{name}.pt", model)
    torch.manual_seed(1234)  # the rebuilt model starts from other random weights...
    loaded = load_checkpoint(path, name)

    assert type(loaded) is type(model) and not loaded.training
    assert model_config(loaded) == model_config(model)
    got = _outputs(loaded, inputs)
    assert len(got) == len(expected)
    for a, b in zip(expected, got):
        assert torch.equal(a, b), f"{name}: outputs differ after save and load"
    torch.manual_seed(1234)  # ...which the checkpoint's weights replaced
    fresh = build_model(name)
    for (key, a), b in zip(loaded.state_dict().items(), fresh.state_dict().values()):
        if a.is_floating_point() and a.numel() > 1 and "weight" in key:
            assert not torch.equal(a, b), f"{name}: {key} kept its fresh initialisation"
            break


def test_configuration_round_trips_with_its_types(tmp_path: Path) -> None:
    model = MLP(image_shape=(3, 32, 32), hidden_dims=[24, 12], num_classes=7, dropout=0.0)
    loaded = load_checkpoint(save_checkpoint(tmp_path / "m.pt", model))
    kwargs = model_config(loaded).kwargs
    assert kwargs == {"image_shape": (3, 32, 32), "hidden_dims": [24, 12], "num_classes": 7, "dropout": 0.0}
    assert type(kwargs["image_shape"]) is tuple and type(kwargs["hidden_dims"]) is list
    assert loaded(torch.rand(2, 3, 32, 32)).shape == (2, 7)


def _write_by_hand(path: Path, version: object, name: str, config: dict, model: nn.Module) -> Path:
    """A checkpoint file laid out as save_checkpoint writes it, with any version and configuration."""
    torch.save({
        "format": "mlcheatsheet-checkpoint", "version": version, "model": name, "config": json.dumps(config),
        "extra": "{}", "torch_version": str(torch.__version__), "state_dict": model.state_dict(),
    }, path)
    return path


@pytest.mark.parametrize(("name", "kwargs"), [("mlp", {"hidden_dims": (8,)}), ("cnn", {"channels": (4,)})])
def test_a_version_1_checkpoint_loads_with_input_shape_read_as_image_shape(name: str, kwargs: dict, tmp_path: Path) -> None:
    model = build_model(name, image_shape=(3, 32, 32), **kwargs).eval()
    recorded = dict(model_config(model).kwargs)
    recorded["input_shape"] = recorded.pop("image_shape")  # version 1's name; its JSON encoding was today's
    path = _write_by_hand(tmp_path / "old.pt", 1, name, checkpoint_module._encode(recorded, "config"), model)
    assert read_checkpoint(path).kwargs["image_shape"] == (3, 32, 32)
    loaded = load_checkpoint(path, name)
    assert model_config(loaded).kwargs["image_shape"] == (3, 32, 32) and "input_shape" not in model_config(loaded).kwargs
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(loaded(x), model(x))


def test_a_version_1_checkpoint_of_a_gan_keeps_its_image_shape(tmp_path: Path) -> None:
    model = build_model("gan-discriminator", image_shape=(3, 32, 32), hidden_dims=(8,)).eval()
    config = checkpoint_module._encode(model_config(model).kwargs, "config")
    loaded = load_checkpoint(_write_by_hand(tmp_path / "old.pt", 1, "gan-discriminator", config, model))
    assert model_config(loaded) == model_config(model)


@pytest.mark.parametrize(
    ("version", "hint"),
    [(3, " (a newer mlcheatsheet wrote it: upgrade to load it)"), (0, ""), (True, ""), ("2", ""), (None, "")],
)
def test_an_unknown_format_version_is_refused_naming_the_file_and_the_versions_read(
    version: object, hint: str, tmp_path: Path
) -> None:
    path = _write_by_hand(tmp_path / "future.pt", version, "mlp", {"image_shape": {"__tuple__": [1, 28, 28]}}, MLP())
    message = (f"{path} has checkpoint format version {version!r}, which this mlcheatsheet cannot read; "
               f"it reads versions 1, 2{hint}")
    with pytest.raises(CheckpointError, match=f"^{re.escape(message)}$"):
        load_checkpoint(path)


def test_extra_data_is_kept(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.pt", MLP(hidden_dims=(4,)), extra={"epochs": 3, "accuracy": 0.97, "split": (4000, 1000)})
    ckpt = read_checkpoint(path)
    assert ckpt.name == "mlp" and ckpt.extra == {"epochs": 3, "accuracy": 0.97, "split": (4000, 1000)}
    assert ckpt.torch_version == str(torch.__version__)


@pytest.fixture
def registered_function() -> Iterator[str]:
    """A builder function registered for the duration of one test."""
    name = "test-mlp-builder"

    @register_model(name)
    def tiny_mlp(width: int = 8, *, activation: type[nn.Module] = nn.ReLU, num_classes: int = 10) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(784, width), activation(), nn.Linear(width, num_classes))

    try:
        yield name
    finally:
        del _REGISTRY[name]


def test_function_builders_round_trip_and_record_their_arguments(registered_function: str, tmp_path: Path) -> None:
    builder = _REGISTRY[registered_function]
    model = builder(16, num_classes=3)  # called directly, positionally: still recorded by keyword
    assert model_config(model).kwargs == {"width": 16, "activation": nn.ReLU, "num_classes": 3}
    loaded = load_checkpoint(save_checkpoint(tmp_path / "f.pt", model), registered_function)
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(model(x), loaded(x))
    # A default that is not plain data is left out (it is the default again on load);
    # the same kind of value passed explicitly cannot be stored, and the error says which.
    with pytest.raises(ValueError, match=r"argument 'activation' of 'test-mlp-builder' is a type, which a checkpoint cannot store"):
        save_checkpoint(tmp_path / "g.pt", builder(activation=nn.GELU))
    assert not (tmp_path / "g.pt").exists()


def test_a_model_of_no_registered_builder_cannot_be_saved(tmp_path: Path) -> None:
    class Custom(MLP):
        pass

    with pytest.raises(ValueError, match="Custom was not built by a registered model builder"):
        save_checkpoint(tmp_path / "c.pt", Custom())


def test_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "mlp.pt", MLP(hidden_dims=(8,)))
    with pytest.raises(CheckpointError, match=rf"^{re.escape(str(path))} holds a 'mlp' model, not the 'cnn' that was asked for$"):
        load_checkpoint(path, "cnn")
    other = next(n for n in available_models() if n != "mlp")
    with pytest.raises(CheckpointError, match=rf"holds a 'mlp' model, not the '{other}' that was asked for"):
        load_checkpoint(path, model=build_model(other))


def test_weights_of_another_shape_are_refused_naming_both(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "mlp.pt", MLP(hidden_dims=(8,)))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model=MLP(hidden_dims=(16,)))
    message = str(info.value)
    assert str(path) in message and "'mlp'" in message
    assert "'layers.1.weight' has shape (8, 784) in the checkpoint but (16, 784) in the model" in message


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"no checkpoint at {tmp_path / 'absent.pt'}"):
        load_checkpoint(tmp_path / "absent.pt")


def _damaged(data: bytes, damage: str, seed: int) -> bytes:
    """``data`` (a checkpoint file's bytes) damaged in one of several ways, reproducibly."""
    rng = random.Random(seed)
    if damage == "truncated":
        return data[: rng.randrange(1, len(data))]
    if damage == "garbage":  # random bytes: the unpickler alone would raise IndexError, KeyError, ...
        return rng.randbytes(4096)
    if damage == "pickle-garbage":  # looks like a pickle (protocol 2 header), then random bytes
        return b"\x80\x02" + rng.randbytes(4096)
    if damage == "flipped-weight":  # one byte of the stored weights inverted: torch.load would not notice
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            member = max(archive.infolist(), key=lambda info: info.compress_size)
            start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
            offset = start + rng.randrange(member.compress_size)
        return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]
    if damage == "garbage-pickle-in-archive":  # an intact zip whose pickle is random bytes
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("archive/data.pkl", b"\x80\x02" + rng.randbytes(512))
            archive.writestr("archive/version", b"3\n")
        return buffer.getvalue()
    assert damage == "empty"
    return b""


@pytest.mark.parametrize(
    "damage", ["truncated", "garbage", "pickle-garbage", "flipped-weight", "garbage-pickle-in-archive", "empty"]
)
def test_corrupt_file_is_named(damage: str, tmp_path: Path) -> None:
    # Random damage makes the underlying errors vary from file to file (IndexError, KeyError,
    # UnicodeDecodeError, UnpicklingError, RuntimeError...): try many, reproducibly.
    path = save_checkpoint(tmp_path / "m.pt", MLP(hidden_dims=(8,)))
    data = path.read_bytes()
    for seed in range(1 if damage == "empty" else 40):
        path.write_bytes(_damaged(data, damage, seed))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # and no stray warning from torch on the way
            with pytest.raises(CheckpointError, match=rf"^{re.escape(str(path))} is corrupt or truncated and cannot be read \(.+\)$"):
                load_checkpoint(path)


def test_a_flipped_byte_in_the_weights_is_caught_by_the_checksum(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.pt", MLP(hidden_dims=(8,)))
    path.write_bytes(_damaged(path.read_bytes(), "flipped-weight", seed=0))
    with pytest.raises(CheckpointError, match=r"checksum mismatch in 'archive/data/\d+'"):
        read_checkpoint(path)


def test_a_bare_state_dict_is_not_mistaken_for_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(MLP(hidden_dims=(8,)).state_dict(), path)
    with pytest.raises(CheckpointError, match="is not an mlcheatsheet checkpoint"):
        load_checkpoint(path)


class _Payload:
    """An object whose unpickling runs code, as a malicious checkpoint's would."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def test_loading_never_runs_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "mlcheatsheet-checkpoint", "version": 1, "payload": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match="refused because loading it could run code"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_crash_while_writing_keeps_the_old_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = MLP(hidden_dims=(8,)).eval()
    path = save_checkpoint(tmp_path / "m.pt", old)
    real_save = torch.save

    def crash_halfway(obj: object, fh: object, *args: object, **kwargs: object) -> None:
        real_save(obj, fh, *args, **kwargs)
        fh.truncate(100)  # type: ignore[attr-defined] - half a file on disk, then the "crash"
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_module.torch, "save", crash_halfway)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, MLP(hidden_dims=(8,)))
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"], "a temporary file was left behind"
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(load_checkpoint(path)(x), old(x))


def test_the_write_is_a_rename_in_the_same_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    renames: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        renames.append((str(src), str(dst)))
        assert Path(src).stat().st_size > 0
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint_module.os, "replace", spy)
    path = save_checkpoint(tmp_path / "sub" / "m.pt", MLP(hidden_dims=(8,)))
    assert len(renames) == 1 and Path(renames[0][1]) == path
    assert Path(renames[0][0]).parent == path.parent and not Path(renames[0][0]).exists()


# -- load_pretrained: a downloaded file or its address -----------------------------------
def test_a_pretrained_model_loads_frozen_from_a_file_or_its_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import functools
    import http.server
    import threading

    model = build_model("cnn").eval()
    site = tmp_path / "site"
    save_checkpoint(site / "_checkpoints" / "cnn.pt", model)
    x = torch.rand(3, 1, 28, 28)
    local = load_pretrained(site / "_checkpoints" / "cnn.pt")
    assert not local.training and not any(p.requires_grad for p in local.parameters())
    assert torch.equal(local(x), model(x)) and not local(x).requires_grad  # outputs are plain tensors

    monkeypatch.setenv("MLCHEATSHEET_DATA", str(tmp_path / "data"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/_checkpoints/cnn.pt"
        fetched = load_pretrained(url)
        assert torch.equal(fetched(x), model(x))
        copies = list((tmp_path / "data" / "pretrained").iterdir())
        assert len(copies) == 1 and copies[0].name.endswith("-cnn.pt")  # downloaded once, whole
        (site / "_checkpoints" / "cnn.pt").unlink()
        assert torch.equal(load_pretrained(url)(x), model(x))  # from the local copy
        with pytest.raises(ConnectionError, match=r"^could not download http://127\.0\.0\.1:\d+/_checkpoints/gone\.pt: HTTP 404"):
            load_pretrained(url.replace("cnn.pt", "gone.pt"))
    finally:
        server.shutdown()
        server.server_close()
    port = server.server_address[1]  # closed now: nothing answers there
    with pytest.raises(ConnectionError, match=rf"^could not download http://127\.0\.0\.1:{port}/x\.pt: .*refused"):
        load_pretrained(f"http://127.0.0.1:{port}/x.pt")
    assert not list((tmp_path / "data" / "pretrained").glob("*x.pt*"))  # no half-written file


def test_load_pretrained_refuses_another_format_or_version_with_one_line(tmp_path: Path) -> None:
    bare = tmp_path / "bare.pt"
    torch.save(build_model("cnn").state_dict(), bare)
    with pytest.raises(CheckpointError, match=r"is not an mlcheatsheet checkpoint"):
        load_pretrained(bare)
    future = _write_by_hand(tmp_path / "future.pt", 3, "mlp", {"image_shape": {"__tuple__": [1, 28, 28]}}, MLP())
    with pytest.raises(CheckpointError, match=r"format version 3, which this mlcheatsheet cannot read.*upgrade") as caught:
        load_pretrained(future)
    assert "\n" not in str(caught.value)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_pretrained(tmp_path / "missing.pt")
