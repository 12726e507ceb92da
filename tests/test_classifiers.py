"""The classifier architectures: CNN, ResNet (blocks, layouts, transfer helpers) and the RNN family."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mlcheatsheet.metrics import input_gradient_per_row
from mlcheatsheet.models import (
    CNN,
    BasicBlock,
    Bottleneck,
    PlainBlock,
    RecurrentClassifier,
    ResNet,
    available_models,
    build_model,
    plain_small,
    resnet18,
    resnet50,
    resnet_small,
)
from mlcheatsheet.models.resnet import imagenet_weights_path
from mlcheatsheet.runtime import use_channels_last
from mlcheatsheet.training import TrainConfig, fit_classifier
from mlcheatsheet.transfer import freeze_backbone, with_new_head

CLASSIFIERS = ("cnn", "resnet", "plain", "resnet18", "resnet50", "rnn", "lstm", "gru")
# Small versions of each model, for the shape and training tests.
SMALL = {
    "cnn": {"channels": (4, 8)},
    # base_channels=4 gives a strided 1x1 shortcut on 4 channels, whose channels-last backward
    # crashes torch on the CPU: training it checks that fit() avoids that layout here.
    "resnet": {"blocks_per_stage": 1, "base_channels": 4},
    "plain": {"blocks_per_stage": 1, "base_channels": 4},
    "rnn": {"hidden_size": 16},
    "lstm": {"hidden_size": 16},
    "gru": {"hidden_size": 16},
}


def test_every_classifier_is_registered() -> None:
    assert set(CLASSIFIERS) <= set(available_models())


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_output_shape_for_digits_and_colour_images(name: str) -> None:
    kwargs = SMALL.get(name, {})
    digits = build_model(name, **kwargs)
    assert digits(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    colour = build_model(name, image_shape=(3, 32, 32), num_classes=100, **kwargs)
    assert colour(torch.rand(2, 3, 32, 32)).shape == (2, 100)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_wrong_image_shape_is_a_clear_error(name: str) -> None:
    model = build_model(name, **SMALL.get(name, {}))
    with pytest.raises(ValueError, match=r"expects a batch of images of shape \(N, 1, 28, 28\), got \(2, 3, 32, 32\)"):
        model(torch.rand(2, 3, 32, 32))


@pytest.mark.parametrize(
    ("builder", "kwargs"),
    [
        (CNN, {"channels": ()}),
        (CNN, {"channels": (8, 0)}),
        (CNN, {"kernel_size": 4}),
        (CNN, {"dropout": 1.0}),
        (CNN, {"channels": (4, 4, 4, 4, 4)}),  # five pools cannot fit in 28 pixels
        (resnet_small, {"blocks_per_stage": 0}),
        (resnet_small, {"base_channels": -1}),
        (plain_small, {"num_classes": 0}),
        (resnet18, {"weights": "imagenet21k"}),
        (RecurrentClassifier, {"cell": "transformer"}),
        (RecurrentClassifier, {"hidden_size": 0}),
        (RecurrentClassifier, {"dropout": 0.5}),  # dropout needs stacked layers
    ],
)
def test_impossible_hyper_parameters_are_refused(builder: type | object, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        builder(**kwargs)  # type: ignore[operator]


def test_unknown_cell_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown cell 'transformer'; choose one of: rnn, lstm, gru"):
        RecurrentClassifier(cell="transformer")


def test_resnet_rejects_mismatched_stage_lists() -> None:
    with pytest.raises(ValueError, match="same, non-zero number of stages"):
        ResNet(block=BasicBlock, layers=(2, 2), widths=(16, 32, 64))


# -- Residual blocks -------------------------------------------------------------------


def test_block_expansion() -> None:
    assert BasicBlock.expansion == 1
    assert PlainBlock.expansion == 1
    assert Bottleneck.expansion == 4
    assert BasicBlock.residual and Bottleneck.residual and not PlainBlock.residual


@pytest.mark.parametrize("block", [BasicBlock, Bottleneck])
def test_identity_block_keeps_the_shape(block: type[BasicBlock] | type[Bottleneck]) -> None:
    layer = block(8 * block.expansion, 8, 1)
    assert layer.shortcut is None  # the identity
    assert layer(torch.rand(2, 8 * block.expansion, 14, 14)).shape == (2, 8 * block.expansion, 14, 14)


@pytest.mark.parametrize("block", [BasicBlock, Bottleneck])
def test_a_block_adds_the_shortcut_it_is_given(block: type[BasicBlock] | type[Bottleneck]) -> None:
    projection = nn.Conv2d(8, 16 * block.expansion, kernel_size=1, stride=2, bias=False)
    layer = block(8, 16, 2, projection)
    assert layer.shortcut is projection
    assert layer(torch.rand(2, 8, 14, 14)).shape == (2, 16 * block.expansion, 7, 7)


@pytest.mark.parametrize(
    ("block", "strides"),
    # Stage 1 keeps the stem's 8 channels unless the block expands them; stage 2 halves the size.
    [(BasicBlock, [None, (2, 2)]), (Bottleneck, [(1, 1), (2, 2)]), (PlainBlock, [None, None])],
)
def test_the_layer_builder_gives_a_projection_only_where_a_residual_block_changes_shape(
    block: type[BasicBlock] | type[Bottleneck], strides: list[tuple[int, int] | None]
) -> None:
    model = ResNet(block=block, layers=(2, 2), widths=(8, 16), stem_channels=8)
    projections = [stage[0].shortcut for stage in model.stages]
    assert [None if s is None else s[0].stride for s in projections] == strides
    assert all(isinstance(s[0], nn.Conv2d) and s[0].kernel_size == (1, 1) for s in projections if s is not None)
    assert all(b.shortcut is None for stage in model.stages for b in stage[1:])
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_a_plain_block_refuses_a_shortcut() -> None:
    with pytest.raises(ValueError, match="a PlainBlock has no shortcut"):
        PlainBlock(8, 16, 2, nn.Conv2d(8, 16, kernel_size=1, stride=2))


def test_residual_block_adds_its_input() -> None:
    block = BasicBlock(4, 4, 1).eval()
    for bn in (block.bn1, block.bn2):
        nn.init.zeros_(bn.weight)  # F(x) = 0, so the block reduces to ReLU(x)
    x = torch.randn(2, 4, 7, 7)
    torch.testing.assert_close(block(x), torch.relu(x))
    plain = PlainBlock(4, 4, 1).eval()
    nn.init.zeros_(plain.bn2.weight)
    nn.init.zeros_(plain.bn2.bias)
    assert plain(x).abs().max() == 0  # without a shortcut nothing gets through


def test_standard_layouts() -> None:
    r18, r50 = resnet18(), resnet50()
    assert [len(stage) for stage in r18.stages] == [2, 2, 2, 2]
    assert [len(stage) for stage in r50.stages] == [3, 4, 6, 3]
    assert all(isinstance(b, BasicBlock) for stage in r18.stages for b in stage)
    assert all(isinstance(b, Bottleneck) for stage in r50.stages for b in stage)
    assert r18.fc.in_features == 512 and r50.fc.in_features == 2048
    assert 11_000_000 < sum(p.numel() for p in r18.parameters()) < 11_300_000


def test_small_resnet_depth_and_plain_twin() -> None:
    resnet, plain = resnet_small(blocks_per_stage=3), plain_small(blocks_per_stage=3)
    convs = [m for m in resnet.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) + 1 == 20  # 19 3x3 convolutions and the linear layer: ResNet-20
    plain_convs = [m for m in plain.modules() if isinstance(m, nn.Conv2d)]
    assert len(plain_convs) == len(convs)  # same depth, no projection shortcuts
    assert all(isinstance(b, PlainBlock) and b.shortcut is None for stage in plain.stages for b in stage)


def test_imagenet_weights_absent_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert not imagenet_weights_path("resnet18").exists()
    with pytest.raises(FileNotFoundError, match="not in the local torch cache") as error:
        resnet18(weights="imagenet")
    assert "\n" not in str(error.value)  # one line, naming the path; nothing is downloaded
    assert str(imagenet_weights_path("resnet18")) in str(error.value)


def test_imagenet_weights_load_from_the_cache(tmp_path, monkeypatch) -> None:
    torchvision = pytest.importorskip("torchvision")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = imagenet_weights_path("resnet18")
    path.parent.mkdir(parents=True)
    reference = torchvision.models.resnet18()  # random weights saved under torchvision's name
    torch.save(reference.state_dict(), path)
    colour = resnet18(weights="imagenet", image_shape=(3, 32, 32))
    torch.testing.assert_close(colour.stages[3][1].conv2.weight, reference.layer4[1].conv2.weight)
    torch.testing.assert_close(colour.stages[1][0].shortcut[0].weight, reference.layer2[0].downsample[0].weight)
    grey = resnet18(weights="imagenet")
    torch.testing.assert_close(grey.stem[0].weight[:, 0], reference.conv1.weight.sum(dim=1))
    assert grey(torch.rand(2, 1, 28, 28)).shape == (2, 10)


# -- Recurrent classifiers -------------------------------------------------------------------


def test_rnn_reads_rows_as_time_steps() -> None:
    model = RecurrentClassifier(image_shape=(3, 32, 32), cell="gru", hidden_size=8)
    assert model.recurrent.input_size == 96
    seen: dict[str, tuple[int, ...]] = {}

    def record(module: nn.Module, args: tuple[torch.Tensor, ...], output: object) -> None:
        seen["shape"] = tuple(args[0].shape)

    model.recurrent.register_forward_hook(record)
    model(torch.rand(2, 3, 32, 32))
    assert seen["shape"] == (2, 32, 96)


def test_input_gradient_per_row_sees_only_rows_the_model_reads() -> None:
    model = RecurrentClassifier(cell="lstm", hidden_size=8)
    norms = input_gradient_per_row(model, torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3]))
    assert norms.shape == (28,) and torch.all(norms > 0)
    cnn = CNN(channels=(4,))
    cnn.features[0].weight.data[:, :, 0, :] = 0  # with padding 1, the bottom row feeds only this filter row
    cnn.features[0].weight.data[:, :, 1, :] = 0
    cnn_norms = input_gradient_per_row(cnn, torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3]))
    assert cnn_norms[0] == 0 and cnn_norms[-1] > 0


# -- Training ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cnn", "resnet", "plain", "rnn", "lstm", "gru"])
def test_short_training_lowers_the_loss(name: str, mnist5k) -> None:
    data = mnist5k.subset(max_train=256)
    model = build_model(name, **SMALL[name])
    x, y = data.x_train, data.y_train
    model.eval()
    with torch.no_grad():
        before = F.cross_entropy(model(x), y).item()
    # 32 steps with a large one-cycle peak: enough for every tiny model (measured ratios 0.70-0.77).
    fit_classifier(model, data, TrainConfig(epochs=4, batch_size=32, lr=3e-2), device="cpu")
    with torch.no_grad():
        after = F.cross_entropy(model(x), y).item()
    assert after < 0.9 * before


def test_channels_last_avoided_where_onednn_breaks() -> None:
    cpu = torch.device("cpu")
    assert use_channels_last(CNN(), cpu)
    assert not use_channels_last(resnet_small(base_channels=4), cpu)  # strided 1x1 conv on 4 channels
    assert use_channels_last(resnet_small(base_channels=4), torch.device("cuda"))  # a CPU-only bug


def test_freeze_backbone_really_freezes(mnist5k) -> None:
    data = mnist5k.subset(max_train=128)
    pretrained = resnet_small(blocks_per_stage=1, base_channels=4)
    model = freeze_backbone(with_new_head(pretrained, 10))
    assert [name for name, p in model.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    probe = data.x_test[:16]
    with torch.no_grad():
        features_before = model.features(probe).clone()
        head_before = model.fc.weight.clone()
    fit_classifier(model, data, TrainConfig(epochs=2, batch_size=32, lr=1e-2), device="cpu")
    with torch.no_grad():
        torch.testing.assert_close(model.features(probe), features_before)  # backbone unchanged, stats too
        assert not torch.equal(model.fc.weight, head_before)  # the head did learn
    # The frozen features equal the pre-trained network's evaluation-mode features.
    with torch.no_grad():
        torch.testing.assert_close(pretrained.eval().features(probe), features_before)


def test_with_new_head_copies_and_resets() -> None:
    model = resnet_small(blocks_per_stage=1, base_channels=4)
    copy_ = with_new_head(model, 5)
    assert copy_.fc.out_features == 5 and model.fc.out_features == 10
    copy_.stem[0].weight.data.zero_()
    assert model.stem[0].weight.abs().sum() > 0  # the original is untouched
    with pytest.raises(ValueError, match="no nn.Linear attribute 'head'"):
        with_new_head(model, 5, head="head")
    with pytest.raises(ValueError, match="no module 'classifier'"):
        freeze_backbone(model, head="classifier")
