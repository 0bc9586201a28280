"""Chunked encoding/decoding of long signals, identical to one pass, in bounded memory.

Design choice [ours]: *exact* chunking rather than overlap-add crossfades. Encoder and
decoder are each `pre` (convs / windowed attention: finite receptive field, non-causal)
-> `lstm` (unidirectional: causal, with a state) -> `post` (convs: finite receptive field).

- `pre` of frames [s, e) is computed from the input [s - M, e + M) (M = its receptive
  field in frames); the extra frames are dropped. Strides divide the hop, so chunk
  boundaries on frame multiples keep every conv aligned.
- the LSTM runs over [s, e) only, starting from the state the previous chunk left.
- `post` needs R frames of LSTM output on either side, so it lags R frames behind: the
  last 2R LSTM frames are kept and re-run with the next chunk.

At the true start and end of the signal, chunks see the same zero padding as a single
pass, so the output equals the single pass up to float rounding, with no seams; memory
is O(chunk + context), independent of the signal length.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch

from dscodec.nn import ResLSTM

PreFn = Callable[[int, int], torch.Tensor]


def run_chunked(
    pre_fn: PreFn,
    lstm: ResLSTM,
    post: Callable[[torch.Tensor], torch.Tensor],
    post_context: int,
    n_frames: int,
    chunk_frames: int,
    out_per_frame: int,
) -> Iterator[torch.Tensor]:
    """Yield `post(lstm(pre))` outputs in order; `out_per_frame` output steps per frame."""
    if chunk_frames < 1:
        raise ValueError("chunk_frames must be >= 1")
    state = None
    tail: torch.Tensor | None = None
    emitted = 0
    for s in range(0, n_frames, chunk_frames):
        e = min(s + chunk_frames, n_frames)
        h, state = lstm.step(pre_fn(s, e), state)
        buf = h if tail is None else torch.cat([tail, h], dim=-1)
        buf_start = e - buf.shape[-1]
        hi = n_frames if e == n_frames else max(emitted, e - post_context)
        if hi > emitted:
            out = post(buf)
            yield out[..., (emitted - buf_start) * out_per_frame : (hi - buf_start) * out_per_frame]
            emitted = hi
        tail = buf[..., max(0, buf.shape[-1] - (e - emitted) - post_context) :]


def encode_latents(encoder, wav: torch.Tensor, chunk_frames: int) -> Iterator[torch.Tensor]:
    """Encoder latents [B, D, frames] chunk by chunk for wav [B, 1, T], T a multiple of the hop."""
    hop, ctx = encoder.hop_length, encoder.pre_context_frames
    n_frames = wav.shape[-1] // hop

    def pre_fn(s: int, e: int) -> torch.Tensor:
        a, b = max(0, s - ctx), min(n_frames, e + ctx)
        return encoder.pre(wav[..., a * hop : b * hop])[..., s - a : e - a]

    return run_chunked(pre_fn, encoder.lstm, encoder.post, encoder.post_context_frames, n_frames, chunk_frames, 1)


def decode_latents(decoder, z: torch.Tensor, chunk_frames: int) -> Iterator[torch.Tensor]:
    """Waveform chunks [B, 1, n * hop] for a quantised latent z [B, D, frames]."""
    ctx = decoder.pre_context_frames
    n_frames = z.shape[-1]
    if ctx < 0:  # full (unwindowed) attention: no finite context, run in one chunk
        chunk_frames, ctx = max(n_frames, 1), n_frames

    def pre_fn(s: int, e: int) -> torch.Tensor:
        a, b = max(0, s - ctx), min(n_frames, e + ctx)
        return decoder.pre(z[..., a:b])[..., s - a : e - a]

    return run_chunked(
        pre_fn, decoder.lstm, decoder.post, decoder.post_context_frames, n_frames, chunk_frames, decoder.hop_length
    )
