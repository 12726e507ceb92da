from torch import nn

generator = nn.Sequential(  # noise (N, 16) -> image (N, 1, 28, 28) in [-1, 1]
    nn.Unflatten(1, (16, 1, 1)),
    nn.ConvTranspose2d(16, 64, 7, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
    nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False), nn.BatchNorm2d(32),
    nn.ReLU(),                                       # -> (N, 32, 14, 14)
    nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Tanh())  # -> (N, 1, 28, 28)
discriminator = nn.Sequential(  # strided convolutions, LeakyReLU, one logit
    nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2),    # -> (N, 32, 14, 14)
    nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(0.2),   # -> (N, 64, 7, 7)
    nn.Flatten(), nn.Linear(64 * 7 * 7, 1))          # -> (N, 1)
