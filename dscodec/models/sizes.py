"""Model size presets: `paper` (BigCodec dimensions), `small` (CPU default run), `tiny` (tests/CI).

Every field is commented with where its value comes from: [paper] stated in DS-Codec,
[BigCodec] from the public BigCodec recipe the paper builds on, [ours] a choice the paper
leaves open. All presets keep strides [2, 2, 2, 5, 5] -> hop 200 -> 80 tokens/s at 16 kHz,
so token rate and bitrate are the paper's at every size; only widths shrink.
Select a preset with `model.size` and change single fields with `model.overrides`.
Only the generator's architecture lives here (a checkpoint's codec_config). Training settings
do not: the VQ loss weights are `train.loss_weights.commitment` / `.codebook`
(dscodec.losses.VQLossWeights), dead-code re-seeding is `train.dead_code_reset`, and the
discriminators' widths are dscodec/models/discriminator_sizes.py (`train.discriminator_overrides`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping, TypeVar

from dscodec.errors import ConfigError

Preset = TypeVar("Preset")


@dataclass(frozen=True)
class ModelSize:
    name: str = "paper"
    sample_rate: int = 16000                       # [paper] 16 kHz speech
    strides: tuple[int, ...] = (2, 2, 2, 5, 5)     # [BigCodec] hop 200 -> 80 tokens/s [paper]
    channels: int = 48                             # [BigCodec] encoder stem width, doubled per block
    max_channels: int | None = None                # [ours] cap on the doubling (None = 48 * 2^5 = 1536)
    # [ours] the decoder's widths from its own stem width (doubled per block, same cap) instead of
    # mirroring the encoder's; None = the mirror, as the paper. For CPU sizes, where the 16 kHz
    # layers are narrow: widens the decoder's high-rate blocks without the encoder's cost. Measured at
    # `small` (16): 1.49x the step cost and behind at equal CPU up to 12 minutes, not adopted
    # (benchmarks/RESULTS.md, "A wider decoder at the high rates only").
    decoder_channels: int | None = None
    dilations: tuple[int, ...] = (1, 3, 9)         # [BigCodec] residual-unit dilations
    lstm_layers: int = 2                           # [paper] 2-layer unidirectional LSTM + residual
    latent_dim: int = 1024                         # [BigCodec] encoder output / quantizer input
    codebook_size: int = 8192                      # [paper] DS-Codec-VQ: one 8192-entry codebook
    codebook_dim: int = 8                          # [paper] low-dim projection for the lookup
    pq_groups: int = 4                             # [paper] DS-Codec-PQ: 4 groups
    pq_codebook_size: int = 16                     # [paper] each group a VQ of size 16
    pq_codebook_dim: int = 8                       # [ours] per-group projection dim (as the VQ)
    # [BigCodec] every SnakeBeta evaluated at twice the rate between Kaiser-sinc filters
    # (dscodec/nn/antialias.py), so BigCodec's released weights run unchanged in our model;
    # off at `small`/`tiny` [ours] for CPU cost (a `small` training step takes ~2x the CPU time
    # with it on, benchmarks/bench_antialias.py), and those sizes do not load BigCodec's weights.
    anti_aliased_activations: bool = True
    # [BigCodec] decoder up-sampling: "transposed" (ConvTranspose1d k=2s, as BigCodec) or
    # "resize" (nearest-neighbour repeat by s, then a conv of odd kernel ~s at the new rate [ours]).
    upsample: str = "transposed"
    # [paper] "waveform": the decoder above, up-sampling to 16 kHz. "istft" [ours], CPU sizes only:
    # after the LSTM, `istft_blocks` ConvNeXt blocks of width `istft_dim` at the frame rate and an
    # inverse-STFT head (n_fft = 4 x hop, Vocos/WavTokenizer; dscodec/nn/istft.py): no 16 kHz layers
    # in the decoder. Measured at `small` against the waveform decoder and not adopted: 1.2-1.7x the
    # steps per CPU-minute; with the GAN behind or level on every measure up to 20 CPU-minutes,
    # reconstruction-only ahead early but level from 20, and at a default job's length no gain and
    # one seed of two diverged (benchmarks/RESULTS.md, "An inverse-STFT decoder head",
    # "The magnitude as a learning-curve column", "The iSTFT head at the default's length").
    decoder_head: str = "waveform"
    istft_dim: int = 256
    istft_blocks: int = 6
    transformer_layers: int = 1                    # [paper] "a Transformer block"
    transformer_heads: int = 16                    # [ours] head dim 64
    transformer_ffn_dim: int = 2816                # [ours] LLaMA rule: 8/3 * 1024 rounded up to 256
    transformer_window: int = 40                   # [ours] +-40 frames (0.5 s): 1 s crops see it all

    @property
    def hop_length(self) -> int:
        return math.prod(self.strides)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def encoder_channels(self) -> list[int]:
        """Widths after the stem and after each down-sampling block (the decoder mirrors them)."""
        return self._widths(self.channels)

    @property
    def decoder_channels_list(self) -> list[int]:
        """The decoder's widths from its LSTM down to 16 kHz: the encoder's mirrored, or from `decoder_channels`."""
        return self._widths(self.decoder_channels or self.channels)[::-1]

    def _widths(self, stem: int) -> list[int]:
        widths = [stem * 2**i for i in range(len(self.strides) + 1)]
        return [min(w, self.max_channels) if self.max_channels else w for w in widths]

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelSize":
        # checkpoints written before the field existed all had plain activations (and a waveform decoder)
        data = {"anti_aliased_activations": False, **data}
        # checkpoints written before the VQ loss weights, dead-code re-seeding and the discriminator
        # widths moved to `train` carry them; they never shaped the generator
        data = {k: v for k, v in data.items() if k not in MOVED_TO_TRAIN}
        return _replace(cls(), data, source="codec_config")


# former ModelSize fields that are training settings now: old name -> where it lives
MOVED_TO_TRAIN: dict[str, str] = {
    "commitment_weight": "train.loss_weights.commitment",
    "codebook_weight": "train.loss_weights.codebook",
    "dead_code_reset": "train.dead_code_reset",
    "mpd_channels": "train.discriminator_overrides.mpd_channels",
    "mpd_periods": "train.discriminator_overrides.mpd_periods",
    "stft_channels": "train.discriminator_overrides.stft_channels",
    "stft_ffts": "train.discriminator_overrides.stft_ffts",
}

# Bump on any edit of a preset (here or in discriminator_sizes.py, defaults included): the
# trainings' hash (dscodec/jobkeys.py) and resume fingerprint then change, so Snakemake retrains
# and no checkpoint of the former architecture is resumed or reused. tests/test_jobkeys.py fails
# until it is bumped (it records the presets' digest per revision). Revision 1 is not hashed, so
# runs trained before the revision existed keep their hash.
PRESETS_REVISION = 1

PRESETS: dict[str, ModelSize] = {
    "paper": ModelSize(name="paper"),
    # CPU default run: ~1.6 M-parameter generator [ours]. Widths are cut (8 -> 128 capped)
    # because the high-rate layers dominate CPU time; hop, dilations, LSTM depth, the
    # 8-dim L2-normalised lookup and the PQ layout stay the paper's. The VQ codebook is 1024
    # rather than 8192 because a few thousand CPU steps cannot populate 8192 codes; the
    # quantizer is 8192-capable (set `model.overrides.codebook_size: 8192`).
    "small": ModelSize(
        name="small",
        channels=8,                                # [ours]
        max_channels=128,                          # [ours]
        latent_dim=128,                            # [ours]
        codebook_size=1024,                        # [ours] 10 bits -> 0.8 kbps; paper 8192
        transformer_heads=4,                       # [ours] head dim 32
        transformer_ffn_dim=384,                   # [ours] 8/3 * 128 rounded up to 128
        anti_aliased_activations=False,            # [ours] CPU cost
    ),
    # Tests and CI: seconds per step on CPU [ours].
    "tiny": ModelSize(
        name="tiny",
        channels=4,
        max_channels=16,
        lstm_layers=2,
        latent_dim=16,
        codebook_size=64,
        pq_codebook_size=16,
        pq_codebook_dim=4,
        codebook_dim=4,
        transformer_heads=2,
        transformer_ffn_dim=32,
        transformer_window=8,
        anti_aliased_activations=False,            # [ours] CPU cost
    ),
}


def get_size(name: str, overrides: Mapping[str, Any] | None = None) -> ModelSize:
    """Preset `name` with field overrides; unknown names or fields raise ConfigError."""
    if name not in PRESETS:
        raise ConfigError(f"`model.size`: unknown size {name!r}; choose one of {sorted(PRESETS)}")
    return _replace(PRESETS[name], overrides or {}, source="model.overrides")


def replace_fields(base: Preset, data: Mapping[str, Any], source: str, kind: str,
                   moved: Mapping[str, str] | None = None) -> Preset:
    """`base` (a frozen dataclass preset) with the fields in `data` replaced, YAML lists made tuples
    where the field is one. A field in `moved` or unknown raises ConfigError naming `source.key`.
    Shared by the model sizes here and the discriminator sizes (discriminator_sizes.py)."""
    fields = {f.name for f in dataclasses.fields(base)}
    clean: dict[str, Any] = {}
    for key, value in data.items():
        if moved and key in moved:
            raise ConfigError(f"`{source}.{key}` is a training setting now: set `{moved[key]}` instead")
        if key not in fields:
            raise ConfigError(f"`{source}.{key}`: unknown {kind} field; known: {sorted(fields)}")
        default = getattr(base, key)
        clean[key] = tuple(value) if isinstance(default, tuple) and value is not None else value
    return dataclasses.replace(base, **clean)


def _replace(base: ModelSize, data: Mapping[str, Any], source: str) -> ModelSize:
    size = replace_fields(base, data, source, "model-size", moved=MOVED_TO_TRAIN)
    if size.hop_length <= 0 or size.latent_dim % size.pq_groups:
        raise ConfigError(f"{source}: latent_dim {size.latent_dim} must divide into {size.pq_groups} PQ groups")
    if size.upsample not in ("transposed", "resize"):
        raise ConfigError(f"{source}.upsample: {size.upsample!r}; choose 'transposed' or 'resize'")
    if size.decoder_head not in ("waveform", "istft"):
        raise ConfigError(f"{source}.decoder_head: {size.decoder_head!r}; choose 'waveform' or 'istft'")
    if size.istft_dim < 1 or size.istft_blocks < 0:
        raise ConfigError(f"{source}: istft_dim must be >= 1 and istft_blocks >= 0")
    return size
