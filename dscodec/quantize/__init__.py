"""Quantizers: DS-Codec-VQ (vq.py), DS-Codec-PQ (pq.py).

All share one interface so the codec does not care which one it holds:
`forward(z [B, D, T]) -> QuantizerOutput`, `encode(z) -> codes`, `decode(codes) -> z_q`,
and `codebook_size` (number of distinct tokens).
"""
from dscodec.quantize.pq import ProductQuantizer, combine_indices, split_indices
from dscodec.quantize.vq import FactorizedVectorQuantizer, QuantizerOutput

__all__ = [
    "FactorizedVectorQuantizer",
    "ProductQuantizer",
    "QuantizerOutput",
    "combine_indices",
    "split_indices",
]
