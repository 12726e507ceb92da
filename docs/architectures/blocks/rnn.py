import torch
from torch import nn


class RowReader(nn.Module):
    """Read an image one row per step; classify the last hidden state."""

    def __init__(self, cell=nn.LSTM, rows=28, hidden=128, classes=10):
        super().__init__()
        self.recurrent = cell(rows, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, 28, 28)
        states, _ = self.recurrent(x.flatten(1, 2))  # (N, T=28, hidden)
        return self.fc(states[:, -1])  # (N, 10)
