from torch import nn


def stage(c_in: int, c_out: int) -> nn.Sequential:
    """Conv 3x3 -> BatchNorm -> ReLU -> max-pool 2x2: half the size."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2))


cnn = nn.Sequential(  # (N, 1, 28, 28) -> (N, 128, 3, 3) -> (N, 10)
    stage(1, 32), stage(32, 64), stage(64, 128),
    nn.Flatten(), nn.Linear(128 * 3 * 3, 10))
