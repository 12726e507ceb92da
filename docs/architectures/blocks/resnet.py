from torch import nn


class BasicBlock(nn.Module):
    """out = ReLU(F(x) + x): two 3x3 convolutions learn a correction to the identity."""

    def __init__(self, channels: int):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
                               nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                               nn.BatchNorm2d(channels))

    def forward(self, x):  # (N, C, H, W) -> (N, C, H, W)
        return (self.f(x) + x).relu()
