"""LLaMA-style Transformer block of the non-mirrored decoder (paper §2.2).

The paper inserts "a Transformer block, modelled on the LLaMA decoder layer" between the
quantizer and the (otherwise mirrored) decoder:

    h = x + Attention(RMSNorm(x))        # multi-head self-attention, rotary positions
    y = h + SwiGLU(RMSNorm(h))

Choices the paper leaves open [ours]:
- Rotary position embeddings (RoPE) applied along *time* (the frame axis), so attention
  depends on relative frame distance only.
- Attention is bidirectional and restricted to a window of `window` frames on either
  side. With 1 s training crops (80 frames) and a window of 40 the model sees at
  inference exactly the span it was trained on, and long files can be decoded chunk by
  chunk with a finite context (dscodec.models.streaming) in bounded memory.
- The output projections of attention and SwiGLU are zero-initialised, so a freshly
  built block is the identity. Inserting it into a stage-1 model therefore leaves the
  stage-1 output unchanged (stage 2 starts exactly where stage 1 ended), and gradients
  still reach the output projections at once (cf. "zero-init residual" / ReZero).
- No final RMSNorm after the stack: it would rescale the decoder input and break the
  identity at initialisation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def rotary_cos_sin(length: int, head_dim: int, base: float, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables [T, head_dim/2] for RoPE (Su et al., RoFormer)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * inv_freq[None, :]
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs of x [B, H, T, D] by the position angle ("half" layout, as in LLaMA/HF)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def band_mask(length: int, window: int, device) -> torch.Tensor | None:
    """Boolean [T, T] mask allowing |i - j| <= window; None when the window covers everything."""
    if window <= 0 or length <= window + 1:
        return None
    idx = torch.arange(length, device=device)
    return (idx[None, :] - idx[:, None]).abs() <= window


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, rope_base: float = 10000.0) -> None:
        super().__init__()
        if dim % heads or (dim // heads) % 2:
            raise ValueError(f"transformer dim {dim} must split into {heads} heads of even size")
        self.heads, self.window, self.rope_base = heads, window, rope_base
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        nn.init.zeros_(self.out.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        cos, sin = rotary_cos_sin(t, d // self.heads, self.rope_base, x.device, x.dtype)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=band_mask(t, self.window, x.device))
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class SwiGLU(nn.Module):
    """LLaMA feed-forward: down(silu(gate(x)) * up(x))."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)
        nn.init.zeros_(self.down.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class TransformerBlock(nn.Module):
    """One LLaMA decoder layer (pre-norm, residual) on [B, T, C]."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, window: int) -> None:
        super().__init__()
        self.attn_norm = nn.RMSNorm(dim, eps=1e-6)
        self.attn = SelfAttention(dim, heads, window)
        self.ffn_norm = nn.RMSNorm(dim, eps=1e-6)
        self.ffn = SwiGLU(dim, ffn_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x))
        return x + self.ffn(self.ffn_norm(x))


class Transformer(nn.Module):
    """A stack of `layers` blocks on [B, C, T] (channels-first, like the convs around it)."""

    def __init__(self, dim: int, layers: int, heads: int, ffn_dim: int, window: int) -> None:
        super().__init__()
        self.window = window
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, ffn_dim, window) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.transpose(1, 2)
        for block in self.blocks:
            h = block(h)
        return h.transpose(1, 2)

    @property
    def context_frames(self) -> int:
        """Frames each output sees on either side (window per layer, stacked)."""
        return self.window * len(self.blocks) if self.window > 0 else -1
