"""Building blocks shared by the DS-Codec encoder, decoders and discriminators.

Small modules with one job each (cf. DAC's `dac/nn/layers.py`): the Snake activation,
weight-normalised convolutions, dilated residual units, the residual LSTM and the
LLaMA-style Transformer block of the non-mirrored decoder (paper §2.2).
"""
from dscodec.nn.activations import SnakeBeta
from dscodec.nn.conv import WNConv1d, WNConv2d, WNConvTranspose1d
from dscodec.nn.lstm import ResLSTM
from dscodec.nn.residual import ResidualUnit
from dscodec.nn.transformer import Transformer, TransformerBlock

__all__ = [
    "SnakeBeta",
    "WNConv1d",
    "WNConv2d",
    "WNConvTranspose1d",
    "ResLSTM",
    "ResidualUnit",
    "Transformer",
    "TransformerBlock",
]
