import torch
from torch import nn


class RowReader(nn.Module):
    """Read an image one row per step; classify from the last hidden state."""

    def __init__(self, cell=nn.LSTM, rows: int = 28, hidden: int = 128, num_classes: int = 10):
        super().__init__()
        self.recurrent = cell(rows, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, 28, 28) -> (N, 10)
        states, _ = self.recurrent(x.flatten(1, 2))        # (N, T=28, H): the state after every row
        return self.fc(states[:, -1])
