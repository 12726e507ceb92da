"""Reliability: reproducible runs, training that stops when it diverges, clear errors on bad input.

The bad-input tests iterate every registered model, so a model added later is covered
without touching this file; a model whose input these tests cannot work out fails loudly
and asks for an entry in ``_INPUT_SHAPES``.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from torch import nn

from mlcheatsheet.data import Dataset, load_dataset
from mlcheatsheet.runtime import seed_everything
from mlcheatsheet.models import MLP, available_models, build_model, get_builder
from mlcheatsheet.training import History, TrainConfig, TrainingDivergedError, fit, fit_classifier

ROOT = Path(__file__).resolve().parents[1]

# -- What each model takes as input --------------------------------------------------------------
# By default a model's input is worked out from its forward signature: a first argument named
# ``z`` takes latent vectors ``(N, latent_dim)``, any other first argument takes images of the
# model's ``image_shape``; a further ``labels`` argument takes class
# indices below ``num_classes``. List a model here (registry name -> shape of one input,
# without the batch dimension) only when that rule does not describe it.
_INPUT_SHAPES: dict[str, tuple[int, ...]] = {}

# Integer hyper-parameters for which 0 is a meaningful value (registry name, argument).
_ZERO_ALLOWED: set[tuple[str, str]] = set()
# Integer arguments that are not sizes (seeds, indices...), never tested for sign.
_NOT_SIZES: set[tuple[str, str]] = set()


def _forward_parameters(model: nn.Module) -> list[str]:
    return [
        p.name
        for p in inspect.signature(model.forward).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]


def image_shape_of(name: str, model: nn.Module) -> tuple[int, ...]:
    """Shape of one input of the registered model ``name`` (no batch dimension)."""
    if name in _INPUT_SHAPES:
        return _INPUT_SHAPES[name]
    params = _forward_parameters(model)
    latent_dim = getattr(model, "latent_dim", None)
    if params and params[0] == "z" and isinstance(latent_dim, int):
        return (latent_dim,)
    shape = getattr(model, "image_shape", None)
    if params and params[0] != "z" and isinstance(shape, tuple) and len(shape) == 3:
        return tuple(int(s) for s in shape)
    pytest.fail(
        f"cannot tell what input model {name!r} ({type(model).__name__}.forward({', '.join(params)})) takes: "
        "add its input shape to _INPUT_SHAPES in tests/test_reliability.py"
    )


def extra_inputs(name: str, model: nn.Module, n: int) -> tuple[torch.Tensor, ...]:
    """The inputs after the first (class labels for conditional models, noise levels for diffusion models)."""
    extras = []
    for param in _forward_parameters(model)[1:]:
        num_classes = getattr(model, "num_classes", None)
        if param == "labels" and isinstance(num_classes, int):
            extras.append(torch.arange(n) % num_classes)
        elif param == "t":  # a diffusion model's noise level, one per image
            extras.append(torch.linspace(0, 1, n))
        else:
            pytest.fail(
                f"model {name!r} takes an argument {param!r} these tests cannot make up: "
                "teach extra_inputs in tests/test_reliability.py about it"
            )
    return tuple(extras)


def example_inputs(name: str, model: nn.Module, n: int = 3, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """A valid batch of ``n`` inputs for the registered model ``name``."""
    shape = image_shape_of(name, model)
    generator = torch.Generator().manual_seed(seed)
    first = torch.randn(n, *shape, generator=generator) if len(shape) == 1 else torch.rand(n, *shape, generator=generator)
    return (first, *extra_inputs(name, model, n))


def _bad_batches(shape: tuple[int, ...], n: int = 2) -> list[torch.Tensor]:
    """Wrongly shaped versions of a batch whose inputs have shape ``shape``."""
    if len(shape) == 3:  # images: wrong channel count, wrong size, no batch dimension
        c, h, w = shape
        return [torch.rand(n, c + 2, h, w), torch.rand(n, c, h + 4, w + 4), torch.rand(c, h, w)]
    if len(shape) == 1:  # vectors: wrong length, no batch dimension
        return [torch.randn(n, shape[0] + 1), torch.randn(shape[0])]
    return [torch.randn(n, *shape[:-1], shape[-1] + 1), torch.randn(*shape)]


# -- Reproducibility ----------------------------------------------------------------------------

_REPRO_CONFIG = {"epochs": 2, "batch_size": 64, "lr": 3e-3, "augment": True, "seed": 11}


def _trained_mlp(data: Dataset, model_seed: int = 5, train_seed: int = 11) -> tuple[History, nn.Module]:
    seed_everything(model_seed)  # initialisation comes from the global generator
    model = MLP(hidden_dims=(32,), dropout=0.2)  # dropout and augmentation both draw random numbers
    history = fit_classifier(model, data, TrainConfig(**{**_REPRO_CONFIG, "seed": train_seed}), device="cpu")
    return history, model


def _as_record(history: History) -> dict[str, object]:
    return {"train_loss": history.train_loss, "metrics": history.metrics, "steps": history.steps, "samples": history.samples}


def test_same_seed_gives_the_identical_run_in_fresh_models(mnist5k: Dataset) -> None:
    data = mnist5k.subset(max_train=512)
    first, model_a = _trained_mlp(data)
    torch.rand(1000)  # disturb the global generator: the run must not depend on it
    second, model_b = _trained_mlp(data)
    assert first.epochs == 2 and set(first.metrics) == {"test_loss", "test_accuracy"}
    assert _as_record(first) == _as_record(second)  # every loss and metric, bit for bit
    for (key, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(a, b), f"{key} differs between two runs with the same seed"
    # The comparison can fail: another shuffling seed gives another history.
    other, _ = _trained_mlp(data, train_seed=12)
    assert other.train_loss != first.train_loss


_SUBPROCESS_RUN = """
import json, sys
sys.path.insert(0, {tests!r})
from test_reliability import _as_record, _trained_mlp
from mlcheatsheet.data import load_dataset
history, _ = _trained_mlp(load_dataset("mnist-5k", verbose=False).subset(max_train=512))
print(json.dumps(_as_record(history)))
"""


def test_same_seed_gives_the_identical_run_in_another_process(mnist5k: Dataset) -> None:
    here, _ = _trained_mlp(mnist5k.subset(max_train=512))  # the subset is deterministic too
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env["PYTHONHASHSEED"] = "123"  # a different hash seed must not matter either
    done = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS_RUN.format(tests=str(ROOT / "tests"))],
        env=env, capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    there = json.loads(done.stdout.strip().splitlines()[-1])
    assert there == json.loads(json.dumps(_as_record(here)))


# -- Training that goes wrong -------------------------------------------------------------------


def _step_counter(bad_from_step: int, part: str) -> tuple[nn.Module, object]:
    model = MLP(hidden_dims=(8,))
    calls = {"n": 0}

    def loss_fn(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = nn.functional.cross_entropy(net(images), labels)
        sick = torch.tensor(math.nan) if calls["n"] >= bad_from_step else torch.tensor(1.0)
        calls["n"] += 1
        if part == "loss":
            return {"loss": loss * sick, "reg": loss.detach()}
        return {"loss": loss, part: loss.detach() * sick}

    return model, loss_fn


def test_nan_in_the_loss_stops_training_naming_model_step_and_causes(mnist5k: Dataset) -> None:
    model, loss_fn = _step_counter(5, "loss")
    with pytest.raises(TrainingDivergedError) as info:
        fit(model, mnist5k.subset(max_train=256), TrainConfig(epochs=2, batch_size=32), loss_fn=loss_fn, device="cpu")
    message = str(info.value)
    assert message.startswith("MLP: the training loss became nan at step 6 (epoch 1)")  # the 6th call of loss_fn
    assert "learning rate too high" in message and "not normalised" in message


def test_nan_in_a_loss_part_stops_training(mnist5k: Dataset) -> None:
    # The optimised loss stays finite; only a logged part (say a KL term) goes bad.
    model, loss_fn = _step_counter(11, "kl")
    with pytest.raises(TrainingDivergedError, match=r"^MLP: the loss part 'kl' became nan at step 12 \(epoch 2\)"):
        fit(model, mnist5k.subset(max_train=256), TrainConfig(epochs=3, batch_size=32), loss_fn=loss_fn, device="cpu")


def test_nan_in_an_evaluation_metric_stops_training(mnist5k: Dataset) -> None:
    epochs_seen = []

    def evaluate(net: nn.Module, data: Dataset) -> dict[str, float]:
        epochs_seen.append(1)
        return {"test_loss": math.inf if len(epochs_seen) == 2 else 0.5, "test_accuracy": 0.9}

    def loss_fn(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(net(images), labels)

    with pytest.raises(TrainingDivergedError, match=r"^MLP: the evaluation metric 'test_loss' became inf after epoch 2 \(step 16\)"):
        fit(MLP(hidden_dims=(8,)), mnist5k.subset(max_train=256), TrainConfig(epochs=3, batch_size=32),
            loss_fn=loss_fn, evaluate=evaluate, device="cpu")


def test_a_learning_rate_far_too_high_is_caught(mnist5k: Dataset) -> None:
    # A real divergence: no BatchNorm to rescue it, plain SGD with an absurd step size.
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))

    def loss_fn(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(net(images), labels)

    config = TrainConfig(epochs=3, batch_size=32, lr=1e6, optimizer="sgd", schedule="constant")
    with pytest.raises(TrainingDivergedError, match=r"^Sequential: the training loss became (nan|inf) at step \d+ .*lr=1000000\.0"):
        fit(model, mnist5k.subset(max_train=256), config, loss_fn=loss_fn, device="cpu")


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5])
def test_a_run_of_a_few_steps_trains(mnist5k: Dataset, steps: int) -> None:
    # A smoke-test budget must not trip the one-cycle schedule (it divided by zero below 6 steps).
    history = fit_classifier(MLP(hidden_dims=(8,)), mnist5k.subset(max_train=16 * steps), TrainConfig(epochs=1, batch_size=16), device="cpu")
    assert history.steps == steps and math.isfinite(history.train_loss[-1])


# -- Bad input: names ------------------------------------------------------------------------


def test_unknown_model_name_lists_the_valid_names() -> None:
    with pytest.raises(ValueError) as info:
        build_model("transformer")
    assert str(info.value) == f"unknown model 'transformer'; choose one of: {', '.join(available_models())}"


def test_unknown_dataset_name_lists_the_valid_names() -> None:
    from mlcheatsheet.data import available_datasets

    with pytest.raises(ValueError) as info:
        load_dataset("imagenet", verbose=False)
    assert str(info.value).startswith("unknown dataset 'imagenet'; choose one of: ")
    assert all(name in str(info.value) for name in available_datasets())


# -- Bad input: shapes, for every registered model --------------------------------------------


@pytest.mark.parametrize("name", available_models())
def test_every_model_rejects_wrongly_shaped_input_with_the_expected_shape(name: str) -> None:
    model = build_model(name).eval()
    shape = image_shape_of(name, model)
    good = example_inputs(name, model, n=2)
    with torch.no_grad():
        model(*good)  # the default input is accepted, so the failures below are about shape
    expected = ", ".join(str(s) for s in shape)
    for bad in _bad_batches(shape):
        extras = extra_inputs(name, model, bad.shape[0] if bad.dim() > len(shape) else 1)
        with pytest.raises(ValueError) as info, torch.no_grad():
            model(bad, *extras)
        message = str(info.value)
        assert "expects" in message and expected in message, (
            f"{name}: input of shape {tuple(bad.shape)} gave an unclear error: {message!r}"
        )
        assert str(tuple(bad.shape)) in message, f"{name}: the error does not say what it got: {message!r}"


def test_a_model_whose_input_cannot_be_worked_out_fails_loudly() -> None:
    class TokenModel(nn.Module):
        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return tokens

    with pytest.raises(pytest.fail.Exception, match="add its input shape to _INPUT_SHAPES"):
        image_shape_of("token-model", TokenModel())


# -- Bad input: impossible hyper-parameters, for every registered model -----------------------


def _size_arguments(name: str) -> list[tuple[str, object]]:
    """The builder's arguments whose defaults are positive integers or sequences of them."""
    found = []
    for param in inspect.signature(get_builder(name)).parameters.values():
        default = param.default
        if (name, param.name) in _NOT_SIZES or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        is_int = isinstance(default, int) and not isinstance(default, bool)
        is_ints = (
            isinstance(default, Sequence) and not isinstance(default, str) and len(default) > 0
            and all(isinstance(v, int) and not isinstance(v, bool) for v in default)
        )
        if is_int or is_ints:
            found.append((param.name, default))
    return found


@pytest.mark.parametrize("name", available_models())
def test_every_model_refuses_impossible_sizes_at_construction(name: str) -> None:
    sizes = _size_arguments(name)
    for arg, default in sizes:
        impossible = [-1] if (name, arg) in _ZERO_ALLOWED else [-1, 0]
        for value in impossible:
            bad = value if isinstance(default, int) else type(default)([value, *list(default)[1:]])
            with pytest.raises(ValueError) as info:
                build_model(name, **{arg: bad})
            assert arg in str(info.value), f"{name}({arg}={bad!r}) raised an error that does not name {arg!r}: {info.value}"


def test_zero_latent_dimension_is_refused_by_every_model_that_has_one() -> None:
    with_latent = [n for n in available_models() if "latent_dim" in inspect.signature(get_builder(n)).parameters]
    assert with_latent, "no registered model has a latent_dim: this test checks nothing"
    for name in with_latent:
        with pytest.raises(ValueError, match="latent_dim"):
            build_model(name, latent_dim=0)


def test_batch_larger_than_the_data_is_refused_before_training(mnist5k: Dataset) -> None:
    model = MLP(hidden_dims=(8,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"^batch_size 512 is larger than the 300 training images"):
        fit_classifier(model, mnist5k.subset(max_train=300), TrainConfig(batch_size=512), device="cpu")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "the model changed"


# -- Bad input: a data root that cannot be written ----------------------------------------------


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_unwritable_data_root_fails_clearly_and_writes_nothing(tmp_path: Path) -> None:
    from mlcheatsheet.data import DataUnavailableError

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the data root should be\n")
    root = blocker / "data"  # cannot be created, even by root
    before = _tree(tmp_path)
    with pytest.raises((DataUnavailableError, OSError, ValueError)) as info:
        load_dataset("mnist", root=root, download=True, fallback=False, verbose=False)
    assert str(blocker) in str(info.value), f"the error does not name the data root: {info.value}"
    assert _tree(tmp_path) == before, "loading into an unwritable root left files behind"
    assert blocker.read_text() == "a file where the data root should be\n"


def test_a_failed_download_into_a_new_root_leaves_no_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision import datasets as tv

    from mlcheatsheet import data as data_module
    from mlcheatsheet.data import DataUnavailableError

    def download_halfway(self: tv.MNIST) -> None:  # writes part of a file, then the network drops
        raw = Path(self.raw_folder)
        raw.mkdir(parents=True)
        (raw / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + bytes(1000))
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: <urlopen error timed out>")

    fake = type("MNIST", (tv.MNIST,), {"download": download_halfway})
    monkeypatch.setattr(data_module._TorchvisionSpec, "torchvision_class", lambda spec: fake)
    root = tmp_path / "new" / "data"  # neither folder exists yet
    with pytest.raises(DataUnavailableError, match=rf"^mnist is not in {re.escape(str(root))} and could not be downloaded \(no answer"):
        load_dataset("mnist", root=root, download=True, fallback=False, verbose=False)
    assert _tree(tmp_path) == set(), "the failed download left folders or files behind"


# -- Reproducibility of adversarial training ------------------------------------------------------


def _trained_gan(data: Dataset, seed: int = 3) -> tuple[object, nn.Module]:
    from mlcheatsheet.models import Discriminator, Generator
    from mlcheatsheet.training import GanConfig, fit_gan

    seed_everything(7)  # the networks' initialisation
    generator, discriminator = Generator(latent_dim=8, hidden_dims=(32,)), Discriminator(hidden_dims=(32,))
    torch.rand(1000)  # fit_gan must seed everything it draws itself
    config = GanConfig(steps=12, batch_size=32, log_every=4, eval_every=6, eval_samples=64, fixed_samples=8,
                       ema=0.9, seed=seed)
    return fit_gan(generator, discriminator, data, config, device="cpu"), generator


def test_same_seed_gives_the_identical_gan_run(mnist5k: Dataset) -> None:
    data = mnist5k.subset(max_train=256)
    (first, g1), (second, g2) = _trained_gan(data), _trained_gan(data)
    series = ("generator_loss", "discriminator_loss", "d_real", "d_fake", "diversity", "log_steps", "eval_steps")
    assert len(first.generator_loss) == 3
    for name in series:
        assert getattr(first, name) == getattr(second, name), f"{name} differs between two runs with the same seed"
    assert all(torch.equal(a, b) for a, b in zip(first.snapshots, second.snapshots))
    assert all(torch.equal(a, b) for a, b in zip(g1.state_dict().values(), g2.state_dict().values()))
    other, _ = _trained_gan(data, seed=4)  # the comparison can fail
    assert other.generator_loss != first.generator_loss


# -- The build cannot lie: report_result counts the steps that really ran --------------------------


def test_report_result_records_the_steps_that_really_trained(mnist5k: Dataset, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from mlcheatsheet.site.report import RESULTS_ENV, load_results, report_result

    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    data = mnist5k.subset(max_train=64)
    report_result("before", title="MLP", data=data, device="cpu", model=MLP(hidden_dims=(8,)), train_seconds=1.0,
                  steps=0, metric="test accuracy", value=0.1, unit="%")  # starts the count afresh
    model = MLP(hidden_dims=(8,))
    history = fit_classifier(model, data, TrainConfig(epochs=2, batch_size=16), device="cpu")
    honest = report_result("honest", title="MLP", data=data, device="cpu", model=model, train_seconds=history.total_seconds,
                           steps=history.steps, metric="test accuracy", value=history.test_accuracy[-1], unit="%")
    invented = report_result("invented", title="MLP", data=data, device="cpu", model=model, train_seconds=1.0,
                             steps=500, metric="test accuracy", value=0.99, unit="%")
    assert history.steps == 8 and honest.trained_steps == 8
    assert invented.trained_steps == 0  # nothing trained since the previous report
    recorded = {r.example: r.trained_steps for r in load_results(tmp_path)}
    assert recorded["honest"] == 8 and recorded["invented"] == 0  # what the docs build checks


def test_report_result_adds_up_the_runs_it_is_given(mnist5k: Dataset) -> None:
    from mlcheatsheet.site.report import report_result
    from mlcheatsheet.training import GanConfig, fit_gan
    from mlcheatsheet.models import Discriminator, Generator

    data = mnist5k.subset(max_train=64)
    model = MLP(hidden_dims=(8,))
    first = fit_classifier(model, data, TrainConfig(epochs=1, batch_size=16), device="cpu")
    gan = fit_gan(Generator(latent_dim=4, hidden_dims=(8,)), Discriminator(hidden_dims=(8,)), data,
                  GanConfig(steps=3, batch_size=16, eval_samples=16, fixed_samples=4), device="cpu")
    result = report_result("both", title="MLP", data=data, device="cpu", model=model, histories=[first, gan],
                           metric="test accuracy", value=first.test_accuracy[-1], unit="%")
    assert result.steps == first.steps + gan.steps == 4 + 3
    assert result.train_seconds == pytest.approx(first.total_seconds + gan.total_seconds)
    with pytest.raises(ValueError, match="needs the histories of its runs"):
        report_result("none", title="MLP", data=data, device="cpu", model=model, metric="test accuracy", value=0.5)


# -- Impossible training settings, and a GAN whose losses go bad -------------------------------------


@pytest.mark.parametrize(
    "make,field",
    [
        (lambda: TrainConfig(epochs=0), "epochs"),
        (lambda: TrainConfig(batch_size=-8), "batch sizes"),
        (lambda: TrainConfig(lr=-1e-3), "lr"),
        (lambda: TrainConfig(optimizer="adamm"), "optimizer"),
        (lambda: _gan_config(steps=0), "steps"),
        (lambda: _gan_config(batch_size=0), "batch_size"),
        (lambda: _gan_config(loss="hinged"), "GAN loss"),
    ],
)
def test_impossible_training_settings_are_refused_at_construction(make: object, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make()  # type: ignore[operator]


def _gan_config(**changes: object) -> object:
    from mlcheatsheet.training import GanConfig

    return GanConfig(**changes)  # type: ignore[arg-type]


class _NanDiscriminator(nn.Module):
    """A discriminator whose logits turn into NaN after a few calls, as a diverging one's do."""

    def __init__(self, healthy_calls: int) -> None:
        super().__init__()
        self.linear = nn.Linear(784, 1)
        self.calls, self.healthy_calls = 0, healthy_calls

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        logits = self.linear(images.flatten(1))
        return logits * math.nan if self.calls > self.healthy_calls else logits


def test_a_gan_loss_that_becomes_nan_stops_training_naming_both_networks(mnist5k: Dataset) -> None:
    from mlcheatsheet.models import Generator
    from mlcheatsheet.training import fit_gan

    config = _gan_config(steps=12, batch_size=16, log_every=4, eval_every=12, eval_samples=16, fixed_samples=4)
    # Three discriminator calls per step: D(real), D(fake), and D(G(z)) for the generator.
    with pytest.raises(TrainingDivergedError) as info:
        fit_gan(Generator(latent_dim=8, hidden_dims=(16,)), _NanDiscriminator(healthy_calls=3 * 5), mnist5k.subset(max_train=64),
                config, device="cpu")
    message = str(info.value)
    assert message.startswith("Generator/_NanDiscriminator: a GAN loss became non-finite between steps 5 and 8")
    assert "learning rates too high" in message
