"""Residual LSTM block (paper §2.1: "a 2-layer LSTM with a residual connection"; BigCodec `ResLSTM`).

Unidirectional, so it can carry its state across chunks: the codec API streams long files
through it with the state handed from one chunk to the next (see dscodec.models.streaming).
"""
from __future__ import annotations

import torch
from torch import nn

LSTMState = tuple[torch.Tensor, torch.Tensor]


class ResLSTM(nn.Module):
    """[B, C, T] -> [B, C, T]: y = LSTM(x) + x."""

    def __init__(self, channels: int, num_layers: int = 2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(channels, channels, num_layers=num_layers, batch_first=True)

    def forward(self, x: torch.Tensor, state: LSTMState | None = None) -> torch.Tensor:
        return self.step(x, state)[0]

    def step(self, x: torch.Tensor, state: LSTMState | None = None) -> tuple[torch.Tensor, LSTMState]:
        """Like forward, but takes and returns the (h, c) state so chunks can be chained."""
        seq = x.transpose(1, 2)
        y, state = self.lstm(seq, state)
        return (y + seq).transpose(1, 2), state
