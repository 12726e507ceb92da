from torch import nn

# Two hidden layers: Linear -> BatchNorm -> ReLU -> Dropout, then a linear read-out.
mlp = nn.Sequential(
    nn.Flatten(),                                                     # (N, 1, 28, 28) -> (N, 784)
    nn.Linear(784, 1024, bias=False), nn.BatchNorm1d(1024), nn.ReLU(), nn.Dropout(0.3),
    nn.Linear(1024, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(), nn.Dropout(0.3),
    nn.Linear(512, 10),                                               # (N, 10) class logits
)
