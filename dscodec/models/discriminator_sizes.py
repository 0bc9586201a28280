"""Widths of the training-only discriminators (dscodec/models/discriminators.py), one preset per
model size.

They are training settings, not the generator's architecture, so they live outside ModelSize
(dscodec/models/sizes.py) and outside a checkpoint's codec_config: the preset is chosen by
`model.size` and single fields change with `train.discriminator_overrides`. Provenance tags as in
sizes.py: [paper] stated in DS-Codec, [BigCodec] its public recipe, [EnCodec] Défossez et al.,
[ours] a choice the paper leaves open. No torch here: the config check at load builds these.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from dscodec.errors import ConfigError
from dscodec.models.sizes import replace_fields

SOURCE = "train.discriminator_overrides"


@dataclass(frozen=True)
class DiscriminatorSize:
    """Widths of the training-only discriminators; one preset per model size."""

    # [BigCodec] MPD widths: Aria-K-Alethia/BigCodec config/model/default.yaml `mpd` (channels 16,
    # x4 per layer, max 512) through module/mpd.py's 5 downsampling convs = 16, 64, 256, 512, 512
    # (HiFi-GAN's own are 32, 128, 512, 1024, 1024, which this preset used before). Our last
    # conv has kernel 3 where module/mpd.py has 2 (kernel_sizes[1] - 1): kept [ours], odd + padded.
    mpd_channels: tuple[int, ...] = (16, 64, 256, 512, 512)
    mpd_periods: tuple[int, ...] = (2, 3, 5, 7, 11)             # [paper]
    # [EnCodec] MS-STFT filters (Défossez et al., 2022: 32). Not BigCodec's: its spectrogram
    # discriminator (module/mstft.py, `mstft` in config/model/default.yaml: channels 32 growing
    # to 512, downsample 2, 2, 2) is a different architecture; the paper names MS-STFT.
    stft_channels: int = 32
    stft_ffts: tuple[int, ...] = (2048, 1024, 512, 256, 128)    # [paper] FFT sizes 128..2048


# keyed by `model.size` (dscodec.models.sizes.PRESETS)
DISCRIMINATOR_PRESETS: dict[str, DiscriminatorSize] = {
    "paper": DiscriminatorSize(),
    "small": DiscriminatorSize(
        mpd_channels=(8, 16, 32, 64, 64),          # [ours]
        stft_channels=8,                           # [ours]
    ),
    # tests and CI [ours]
    "tiny": DiscriminatorSize(
        mpd_channels=(4, 8, 8, 8, 8),
        stft_channels=4,
    ),
}


def get_discriminator_size(name: str, overrides: Mapping[str, Any] | None = None) -> DiscriminatorSize:
    """Preset of model size `name` with field overrides; unknown names or fields raise ConfigError."""
    if name not in DISCRIMINATOR_PRESETS:
        raise ConfigError(f"`model.size`: unknown size {name!r}; choose one of {sorted(DISCRIMINATOR_PRESETS)}")
    return replace_fields(DISCRIMINATOR_PRESETS[name], overrides or {}, SOURCE, "discriminator")


def discriminator_size(config: Mapping[str, Any]) -> DiscriminatorSize:
    """The discriminator widths a training config asks for (`model.size` + `train.discriminator_overrides`)."""
    return get_discriminator_size(config["model"]["size"], config["train"].get("discriminator_overrides"))
