"""The training loop: it learns, it records, it refuses nonsense, it is reproducible."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mlcheatsheet.models import MLP
from mlcheatsheet.models import CNN
from mlcheatsheet.training import (
    TrainConfig,
    TrainingDivergedError,
    evaluate_classifier,
    fit,
    fit_classifier,
    make_optimizer,
)


def test_a_few_epochs_lower_the_loss(mnist5k) -> None:
    data = mnist5k.subset(max_train=512)
    model = MLP(hidden_dims=(64,))
    before = evaluate_classifier(model, data.x_test, data.y_test)["loss"]
    history = fit_classifier(model, data, TrainConfig(epochs=3, batch_size=64, lr=3e-3))
    assert history.epochs == 3 and len(history.test_loss) == 3 and len(history.seconds) == 3
    assert history.steps == 3 * (512 // 64) and history.samples == 3 * 512
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.test_loss[-1] < before
    assert history.test_accuracy[-1] > 0.6
    assert all(b >= a for a, b in zip(history.seconds, history.seconds[1:]))


def test_same_seed_same_history(mnist5k) -> None:
    data = mnist5k.subset(max_train=256)
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = MLP(hidden_dims=(32,))
        runs.append(fit_classifier(model, data, TrainConfig(epochs=2, batch_size=32, augment=True, seed=7)))
    assert runs[0].train_loss == runs[1].train_loss
    assert runs[0].test_accuracy == runs[1].test_accuracy


def test_batch_larger_than_data_is_refused(mnist5k) -> None:
    with pytest.raises(ValueError, match="batch_size 5000 is larger than the 100 training images"):
        fit_classifier(MLP(hidden_dims=(8,)), mnist5k.subset(max_train=100), TrainConfig(batch_size=5000))


@pytest.mark.parametrize("kwargs", [{"epochs": 0}, {"batch_size": 0}, {"lr": -1.0}, {"optimizer": "lion"},
                                    {"optimizer": "adadelta"}, {"schedule": "cosine"}, {"precision": "fp8"}])
def test_impossible_settings_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TrainConfig(**kwargs)


def test_an_unknown_precision_is_named_with_the_choices() -> None:
    from mlcheatsheet.training import GanConfig

    for config in (TrainConfig, GanConfig):
        with pytest.raises(ValueError, match="unknown precision 'half'; choose one of: auto, float32, bfloat16, float16"):
            config(precision="half")


def test_nan_loss_stops_training_and_names_the_step(mnist5k) -> None:
    data = mnist5k.subset(max_train=256)

    def exploding(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = nn.functional.cross_entropy(net(images), labels)
        return loss * math.inf if net.training_steps >= 3 else loss

    model = MLP(hidden_dims=(8,))
    model.training_steps = 0

    def counting(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        out = exploding(net, images, labels)
        net.training_steps += 1
        return out

    with pytest.raises(TrainingDivergedError, match=r"MLP: the training loss became .* at step 4 .*learning rate too high"):
        fit(model, data, TrainConfig(epochs=1, batch_size=32), loss_fn=counting)


@pytest.mark.parametrize("optimizer", ["adamw", "adam", "sgd"])
def test_weight_decay_applies_to_weight_matrices_and_kernels_only(optimizer: str) -> None:
    model = CNN()
    built = make_optimizer(model.parameters(), TrainConfig(optimizer=optimizer, weight_decay=0.05), torch.device("cpu"))
    decay = {id(p): group["weight_decay"] for group in built.param_groups for p in group["params"]}
    assert len(decay) == len(list(model.parameters()))  # every parameter in exactly one group
    for name, param in model.named_parameters():
        assert decay[id(param)] == (0.05 if param.dim() >= 2 else 0.0), name
    assert any(p.dim() == 1 for p in model.parameters())  # BatchNorm gains and biases exist to exempt


def test_a_batchnorm_gain_is_not_shrunk_by_weight_decay() -> None:
    """With zero gradients, decoupled decay alone moves parameters: only the 2-D ones."""
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    built = make_optimizer(model.parameters(), TrainConfig(weight_decay=0.5, lr=0.1), torch.device("cpu"))
    before = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    built.step()
    moved = [not torch.equal(a, b) for a, b in zip(before, model.parameters())]
    assert moved == [True, False, False, False]  # linear weight; not its bias, BN weight or BN bias


def test_a_recipe_is_written_from_the_config_it_describes() -> None:
    """Every number of the sentence is the config's, so a page that prints it cannot drift from it."""
    assert TrainConfig(epochs=12, batch_size=128, lr=5e-3, label_smoothing=0.1, augment=True).recipe() == (
        "12 epochs of batches of 128; AdamW, weight decay 0.0001 on weights only; peak learning rate 0.005, one-cycle "
        "schedule; label smoothing 0.1; random shifts, rotations and scalings of every batch")
    assert TrainConfig(epochs=1, optimizer="sgd", schedule="constant", weight_decay=0.0, lr=0.1).recipe() == (
        "1 epoch of batches of 128; SGD with Nesterov momentum 0.9; learning rate 0.1, constant")


def test_label_smoothing_sets_the_floor_of_the_training_loss(mnist5k) -> None:
    """The floor is the smoothed target's entropy: a model that predicts the target exactly reaches it."""
    from mlcheatsheet.training.objectives import smoothed_loss_floor

    target = torch.full((10,), 0.01)
    target[3] = 0.91
    assert smoothed_loss_floor(0.1, 10) == pytest.approx(float(-(target * target.log()).sum()), rel=1e-6)
    assert smoothed_loss_floor(0.0, 10) == 0.0
    history = fit_classifier(MLP(image_shape=(1, 28, 28), hidden_dims=(16,)), mnist5k.subset(max_train=256),
                             TrainConfig(epochs=1, label_smoothing=0.1), device="cpu")
    assert history.train_loss_floor == pytest.approx(0.5003, abs=1e-4) and history.train_loss[-1] > history.train_loss_floor


def test_a_zoomed_accuracy_axis_never_cuts_a_curve_off() -> None:
    from mlcheatsheet.plotting import plot_histories
    from mlcheatsheet.training import History

    low = History(train_loss=[1.0, 0.6], seconds=[1.0, 2.0], metrics={"test_accuracy": [0.62, 0.97]}, train_loss_floor=0.5)
    high = History(train_loss=[0.9, 0.55], seconds=[1.0, 2.0], metrics={"test_accuracy": [0.93, 0.98]}, train_loss_floor=0.5)
    figure = plot_histories({"a": low, "b": high}, ylim=(90, 100))
    left, right = figure.axes
    assert right.get_ylim()[0] < 62 and right.get_ylim()[1] == 100
    assert any("smoothing floor (0.50)" in text.get_text() for text in left.get_legend().get_texts())
