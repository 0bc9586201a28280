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

The inputs are read through `Reader`s (a region [a, b) in, a tensor out), so they need not be
in memory either: `dscodec.audio.AudioFileReader` reads an audio file region by region, and
`DSCodec.decode_stream` looks tokens up chunk by chunk. A tensor is wrapped by `tensor_reader`.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from dscodec.nn import ResLSTM

PreFn = Callable[[int, int], torch.Tensor]
# region [a, b) along the last axis -> tensor [..., b - a]; zeros past the end of the signal
Reader = Callable[[int, int], torch.Tensor]


def tensor_reader(x: torch.Tensor) -> Reader:
    """A `Reader` over a tensor in memory: slices (views), zero-padded past its end.

    Why: the encoder needs its input padded to a multiple of the hop; padding only the last
    region costs nothing, where padding the whole input copies it."""
    length = x.shape[-1]

    def read(a: int, b: int) -> torch.Tensor:
        piece = x[..., a : min(b, length)]
        return F.pad(piece, (0, b - a - piece.shape[-1])) if b > length else piece

    return read


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


def as_reader(source: torch.Tensor | Reader, length: int | None) -> tuple[Reader, int]:
    """(reader, length along the last axis) of a tensor, or of a `Reader` whose length is given."""
    if isinstance(source, torch.Tensor):
        return tensor_reader(source), source.shape[-1]
    if length is None:
        raise ValueError("a Reader needs its length (num_samples / n_frames)")
    return source, length


def encode_latents(
    encoder, wav: torch.Tensor | Reader, chunk_frames: int, num_samples: int | None = None
) -> Iterator[torch.Tensor]:
    """Encoder latents [B, D, ceil(T / hop)] chunk by chunk.

    `wav`: a tensor [B, 1, T], or a `Reader` of samples with `num_samples` = T. The input is
    zero-padded to a multiple of the hop, as a single pass on the padded signal sees it."""
    hop, ctx = encoder.hop_length, encoder.pre_context_frames
    read, num_samples = as_reader(wav, num_samples)
    n_frames = math.ceil(num_samples / hop)

    def pre_fn(s: int, e: int) -> torch.Tensor:
        a, b = max(0, s - ctx), min(n_frames, e + ctx)
        return encoder.pre(read(a * hop, b * hop))[..., s - a : e - a]

    return run_chunked(pre_fn, encoder.lstm, encoder.post, encoder.post_context_frames, n_frames, chunk_frames, 1)


def decode_latents(
    decoder, z: torch.Tensor | Reader, chunk_frames: int, n_frames: int | None = None
) -> Iterator[torch.Tensor]:
    """Waveform chunks [B, 1, n * hop] for a quantised latent z [B, D, frames]
    (a tensor, or a `Reader` of latent frames with `n_frames`)."""
    ctx = decoder.pre_context_frames
    read, n_frames = as_reader(z, n_frames)
    if ctx < 0:  # full (unwindowed) attention: no finite context, run in one chunk
        chunk_frames, ctx = max(n_frames, 1), n_frames

    def pre_fn(s: int, e: int) -> torch.Tensor:
        a, b = max(0, s - ctx), min(n_frames, e + ctx)
        return decoder.pre(read(a, b))[..., s - a : e - a]

    return run_chunked(
        pre_fn, decoder.lstm, decoder.post, decoder.post_context_frames, n_frames, chunk_frames, decoder.hop_length
    )
