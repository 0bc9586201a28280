"""DS-Codec models: size presets, encoder, decoders, the codec and the discriminators."""
from dscodec.models.codec import CodecModel, CodecOutput
from dscodec.models.sizes import PRESETS, ModelSize, get_size

__all__ = ["CodecModel", "CodecOutput", "ModelSize", "PRESETS", "get_size"]
