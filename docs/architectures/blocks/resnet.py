from torch import nn


class BasicBlock(nn.Module):
    """ReLU(F(x) + x): two 3x3 convolutions learn a correction to x."""

    def __init__(self, channels: int):
        super().__init__()
        conv = lambda: nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.f = nn.Sequential(conv(), nn.BatchNorm2d(channels), nn.ReLU(),
                               conv(), nn.BatchNorm2d(channels))

    def forward(self, x):  # (N, C, H, W) -> (N, C, H, W)
        return (self.f(x) + x).relu()
