"""Recurrent networks that read an image one row at a time: the vanilla RNN, the LSTM and the GRU.

Elman, "Finding structure in time", Cognitive Science 14 (1990),
https://doi.org/10.1207/s15516709cog1402_1 (the tanh recurrence
:math:`h_t = \\tanh(W x_t + U h_{t-1} + b)`); Hochreiter & Schmidhuber, "Long short-term
memory", Neural Computation 9(8) (1997), https://doi.org/10.1162/neco.1997.9.8.1735;
Cho et al., "Learning phrase representations using RNN encoder-decoder for statistical
machine translation", EMNLP 2014, https://arxiv.org/abs/1406.1078 (the GRU; ``torch.nn.GRU``
applies the reset gate after the recurrent matrix product, as cuDNN does, not before it as
in the paper). The LSTM and the GRU replace the repeated multiplication by :math:`U` with a
gated, *additive* update of their state, which gives the gradient of the loss a path back
to the first rows of the image.
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_image_batch, check_image_shape, check_positive, check_probability
from .registry import register_model

__all__ = ["CELLS", "RecurrentClassifier", "gru", "lstm", "rnn"]

#: The recurrent cells, by name, with the ``torch.nn`` layer that runs each.
CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentClassifier(nn.Module):
    """A sequence classifier that reads an image row by row and classifies its last state.

    Row :math:`t` of the image (all channels side by side, :math:`C \\cdot W` numbers) is the
    input :math:`x_t` of time step :math:`t`; after the last row, a linear layer maps the
    hidden state :math:`h_T` of the top layer to class logits. A 1×28×28 image is 28 steps of
    28 features; a 3×32×32 image is 32 steps of 96.

    With ``init="orthogonal"`` (the default), each gate's recurrent weight block starts as a
    random orthogonal matrix (Saxe et al. 2014, https://arxiv.org/abs/1312.6120), whose
    singular values are all 1, so the linear part of a vanilla RNN step neither shrinks nor
    stretches the gradient at initialisation (only the :math:`\\tanh` derivative can shrink it). All biases start at zero except the
    LSTM's forget gate, which starts at 1 (Jozefowicz et al., ICML 2015), so
    :math:`f_t \\approx \\sigma(1) \\approx 0.73` where its other inputs are small: the cell
    state starts out mostly kept. Input weights keep ``torch.nn``'s default.
    ``init="default"`` leaves every weight and bias at ``torch.nn``'s initialisation,
    :math:`U(-1/\\sqrt{H}, 1/\\sqrt{H})`, for comparison.

    Args:
        image_shape: Shape ``(C, H, W)`` of one input image.
        cell: ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"``.
        hidden_size: Size of the hidden state :math:`h_t`.
        num_layers: Stacked recurrent layers.
        num_classes: Number of output logits.
        dropout: Dropout between stacked layers (needs ``num_layers > 1``).
        init: ``"orthogonal"`` or ``"default"`` (see above).

    Shape:
        - Input: :math:`(N, C, H, W)`, read as :math:`T = H` steps of :math:`C W` features.
        - Output: :math:`(N, K)` logits, :math:`K` = ``num_classes``.

    Example:
        >>> model = RecurrentClassifier(cell="gru", hidden_size=32)
        >>> model(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        cell: str = "lstm",
        hidden_size: int = 128,
        num_layers: int = 1,
        num_classes: int = 10,
        dropout: float = 0.0,
        init: str = "orthogonal",
    ) -> None:
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        check_positive("hidden_size", hidden_size)
        check_positive("num_layers", num_layers)
        check_positive("num_classes", num_classes)
        check_probability("dropout", dropout)
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of: {', '.join(CELLS)}")
        if dropout > 0 and num_layers == 1:
            raise ValueError("dropout acts between stacked layers: it needs num_layers > 1")
        if init not in ("orthogonal", "default"):
            raise ValueError(f"unknown init {init!r}; choose 'orthogonal' or 'default'")
        self.cell = cell
        channels, _, width = self.image_shape
        self.recurrent = CELLS[cell](channels * width, hidden_size, num_layers=num_layers, batch_first=True, dropout=dropout)
        self.fc = nn.Linear(hidden_size, num_classes)
        if init == "orthogonal":
            self._init_recurrent(hidden_size)

    def _init_recurrent(self, hidden_size: int) -> None:
        for name, param in self.recurrent.named_parameters():
            if name.startswith("weight_hh"):
                for block in param.data.split(hidden_size):  # one square block per gate
                    nn.init.orthogonal_(block)
            elif name.startswith("bias"):
                nn.init.zeros_(param)
                if self.cell == "lstm" and name.startswith("bias_ih"):
                    param.data[hidden_size : 2 * hidden_size] = 1.0  # gate order: input, forget, cell, output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class logits of a batch of images.

        Args:
            x: Images, :math:`(N, C, H, W)`.

        Returns:
            Logits, :math:`(N, K)`.
        """
        check_image_batch(f"RecurrentClassifier({self.cell!r})", x, self.image_shape)
        n, c, h, w = x.shape
        rows = x.permute(0, 2, 1, 3).reshape(n, h, c * w)  # (N, T=H, C*W): row t is step t
        return self.classify_sequence(rows)

    def classify_sequence(self, steps: torch.Tensor) -> torch.Tensor:
        """Return the class logits of a batch of sequences of any length.

        :meth:`~mlcheatsheet.models.rnn.RecurrentClassifier.forward` calls this with the image rows; call it directly to feed longer
        sequences, e.g. an image followed by blank rows.

        Args:
            steps: Sequences, :math:`(N, T, C W)`.

        Returns:
            Logits, :math:`(N, K)`, read from the state after the last step.
        """
        if steps.dim() != 3 or steps.shape[2] != self.recurrent.input_size:
            raise ValueError(
                f"RecurrentClassifier expects sequences of shape (N, T, {self.recurrent.input_size}), got {tuple(steps.shape)}"
            )
        states, _ = self.recurrent(steps)  # (N, T, hidden): the top layer's h_t at every step
        return self.fc(states[:, -1])  # h_T -> (N, K)


@register_model("rnn")
def rnn(*, image_shape: tuple[int, int, int] = (1, 28, 28), hidden_size: int = 128, num_classes: int = 10) -> RecurrentClassifier:
    """A vanilla (Elman, tanh) RNN row reader; see :class:`~mlcheatsheet.models.rnn.RecurrentClassifier`."""
    return RecurrentClassifier(image_shape=image_shape, cell="rnn", hidden_size=hidden_size, num_classes=num_classes)


@register_model("lstm")
def lstm(*, image_shape: tuple[int, int, int] = (1, 28, 28), hidden_size: int = 128, num_classes: int = 10) -> RecurrentClassifier:
    """An LSTM row reader; see :class:`~mlcheatsheet.models.rnn.RecurrentClassifier`."""
    return RecurrentClassifier(image_shape=image_shape, cell="lstm", hidden_size=hidden_size, num_classes=num_classes)


@register_model("gru")
def gru(*, image_shape: tuple[int, int, int] = (1, 28, 28), hidden_size: int = 128, num_classes: int = 10) -> RecurrentClassifier:
    """A GRU row reader; see :class:`~mlcheatsheet.models.rnn.RecurrentClassifier`."""
    return RecurrentClassifier(image_shape=image_shape, cell="gru", hidden_size=hidden_size, num_classes=num_classes)
