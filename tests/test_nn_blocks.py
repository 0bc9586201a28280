"""Building blocks: Snake, weight-normed convs, residual units, LSTM state carry, transformer."""
from __future__ import annotations

import torch
from torch.nn.utils import parametrize

from dscodec.nn import ResidualUnit, ResLSTM, SnakeBeta, Transformer, WNConv1d, WNConvTranspose1d
from dscodec.nn.activations import SnakeBetaFunction
from dscodec.nn.transformer import SelfAttention, apply_rotary, band_mask, rotary_cos_sin


def test_snake_is_identity_plus_periodic_term():
    snake = SnakeBeta(3)
    x = torch.linspace(-3, 3, 30).view(1, 3, 10)
    expected = x + torch.sin(x) ** 2  # alpha = beta = 1 at init
    assert torch.allclose(snake(x), expected, atol=1e-6)
    assert torch.allclose(snake(torch.full((1, 3, 4), torch.pi)), torch.full((1, 3, 4), torch.pi), atol=1e-6)


def _snake_by_autograd(x: torch.Tensor, log_alpha: torch.Tensor, log_beta: torch.Tensor) -> torch.Tensor:
    return x + torch.sin(log_alpha.exp() * x).pow(2) / log_beta.exp()


def test_snake_hand_written_backward_matches_autograd_of_the_formula():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 40, dtype=torch.double, requires_grad=True)
    log_alpha = (0.5 * torch.randn(1, 3, 1, dtype=torch.double)).requires_grad_()
    log_beta = (0.5 * torch.randn(1, 3, 1, dtype=torch.double)).requires_grad_()
    assert torch.autograd.gradcheck(SnakeBetaFunction.apply, (x, log_alpha, log_beta))
    grad_out = torch.randn(2, 3, 40, dtype=torch.double)
    fused = torch.autograd.grad(SnakeBetaFunction.apply(x, log_alpha, log_beta), (x, log_alpha, log_beta), grad_out)
    plain = torch.autograd.grad(_snake_by_autograd(x, log_alpha, log_beta), (x, log_alpha, log_beta), grad_out)
    for a, b in zip(fused, plain):
        assert torch.allclose(a, b, atol=1e-10)


def test_snake_forward_is_bit_identical_to_the_out_of_place_formula_and_leaves_its_input():
    """The in-place forward computes exactly what `addcmul(x, sin(a x)^2, 1/b)` did before it (so
    trained models and the committed reports stay the same), and never writes into its input."""
    torch.manual_seed(0)
    x = torch.randn(2, 5, 3000)
    log_alpha, log_beta = 0.3 * torch.randn(1, 5, 1), 0.3 * torch.randn(1, 5, 1)
    s = torch.sin(x * log_alpha.exp())
    before = torch.addcmul(x, s * s, (-log_beta).exp())
    kept = x.clone()
    with torch.inference_mode():
        assert torch.equal(SnakeBetaFunction.apply(x, log_alpha, log_beta), before)
    x.requires_grad_()
    assert torch.equal(SnakeBetaFunction.apply(x, log_alpha, log_beta).detach(), before)
    assert torch.equal(x.detach(), kept)


def test_snake_module_trains_its_alpha_and_beta():
    snake = SnakeBeta(2)
    with torch.no_grad():
        snake.log_alpha.fill_(0.3)
        snake.log_beta.fill_(-0.2)
    x = torch.randn(3, 2, 25)
    assert torch.allclose(snake(x), _snake_by_autograd(x, snake.log_alpha, snake.log_beta), atol=1e-6)
    snake(x).square().sum().backward()
    assert snake.log_alpha.grad is not None and snake.log_alpha.grad.abs().sum() > 0
    assert snake.log_beta.grad is not None and snake.log_beta.grad.abs().sum() > 0


def test_weight_norm_convs_are_parametrised_and_keep_length():
    conv = WNConv1d(2, 4, 7, padding=3)
    assert parametrize.is_parametrized(conv, "weight")
    assert conv(torch.randn(1, 2, 50)).shape == (1, 4, 50)
    for stride in (2, 5):
        up = WNConvTranspose1d(4, 2, 2 * stride, stride=stride, padding=stride // 2 + stride % 2,
                               output_padding=stride % 2)
        assert up(torch.randn(1, 4, 7)).shape == (1, 2, 7 * stride)


def test_residual_unit_keeps_shape_and_is_residual():
    unit = ResidualUnit(4, dilation=9)
    x = torch.randn(2, 4, 100)
    assert unit(x).shape == x.shape
    with torch.no_grad():
        unit.block[-1].parametrizations.weight.original0.zero_()  # g = 0 -> branch output = bias = 0
    assert torch.allclose(unit(x), x)


def test_res_lstm_state_carry_equals_one_pass():
    lstm = ResLSTM(6, num_layers=2)
    x = torch.randn(2, 6, 40)
    full = lstm(x)
    first, state = lstm.step(x[..., :17])
    second, _ = lstm.step(x[..., 17:], state)
    assert torch.allclose(torch.cat([first, second], -1), full, atol=1e-6)
    # the state matters: restarting from zero differs
    assert not torch.allclose(lstm(x[..., 17:]), full[..., 17:], atol=1e-4)


def test_transformer_starts_as_identity_and_learns():
    tr = Transformer(dim=8, layers=2, heads=2, ffn_dim=16, window=4)
    x = torch.randn(2, 8, 20)
    assert torch.equal(tr(x), x)
    tr(x).pow(2).sum().backward()
    out_grads = [b.attn.out.weight.grad.abs().sum() + b.ffn.down.weight.grad.abs().sum() for b in tr.blocks]
    assert all(g > 0 for g in out_grads)  # zero-initialised projections still receive gradient


def test_rope_attention_depends_on_relative_position_only():
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 12, 8), torch.randn(1, 1, 12, 8)
    cos, sin = rotary_cos_sin(20, 8, 10000.0, "cpu", torch.float32)
    scores = apply_rotary(q, cos[:12], sin[:12]) @ apply_rotary(k, cos[:12], sin[:12]).transpose(-1, -2)
    shifted = apply_rotary(q, cos[5:17], sin[5:17]) @ apply_rotary(k, cos[5:17], sin[5:17]).transpose(-1, -2)
    assert torch.allclose(scores, shifted, atol=1e-4)


def test_attention_window_limits_context():
    mask = band_mask(10, 2, "cpu")
    assert mask[5].nonzero().flatten().tolist() == [3, 4, 5, 6, 7]
    assert band_mask(3, 2, "cpu") is None  # window covers the whole sequence
    attn = SelfAttention(8, 2, window=2)
    torch.nn.init.normal_(attn.out.weight)
    x = torch.randn(1, 10, 8)
    y = attn(x)
    x2 = x.clone()
    x2[:, 9] += 10.0  # frame 9 is outside the window of frame 5
    assert torch.allclose(attn(x2)[:, 5], y[:, 5], atol=1e-5)
    assert not torch.allclose(attn(x2)[:, 8], y[:, 8], atol=1e-3)


def test_weight_norm_convs_keep_pytorch_default_filter_scale():
    """DAC/BigCodec's std-0.02 init is a no-op under hook-style weight norm; applying it for real
    shrank the signal ~10x per encoder block and collapsed the VQ at initialisation."""
    from torch import nn

    from dscodec.nn.conv import WNConv1d

    torch.manual_seed(0)
    wn = WNConv1d(64, 64, 7)
    plain = nn.Conv1d(64, 64, 7)
    ratio = float(wn.weight.detach().std() / plain.weight.detach().std())
    assert 0.8 < ratio < 1.25
    assert torch.count_nonzero(wn.bias) == 0


def test_small_encoder_passes_the_signal_at_initialisation():
    from dscodec.models.codec import CodecModel
    from dscodec.models.sizes import get_size

    torch.manual_seed(0)
    model = CodecModel(get_size("small"), "vq", "mirror")
    t = torch.arange(16000) / 16000
    wav = (0.3 * torch.sin(2 * torch.pi * (120 + 200 * t) * t) * (t * 7 % 1 > 0.3)).view(1, 1, -1)
    with torch.no_grad():
        hidden = model.encoder.pre(wav)
    # time variation of the deepest conv features relative to the input (was ~6e-5 before the fix)
    assert float(hidden.std(dim=2).mean() / wav.std()) > 1e-2


def test_anti_aliased_snake_matches_bigcodec_port():
    """Same filters and same output as BigCodec's Activation1d (our port of its alias-free code),
    at the edges too (replicate padding), for odd and tiny lengths."""
    from dscodec.evaluate.baselines.ports.bigcodec_model import Activation1d
    from dscodec.nn.antialias import AntiAliasedSnakeBeta

    torch.manual_seed(0)
    ours, port = AntiAliasedSnakeBeta(5).double(), Activation1d(5).double()
    with torch.no_grad():
        ours.log_alpha.normal_()
        ours.log_beta.normal_()
        port.act.alpha.copy_(ours.log_alpha.view(-1))
        port.act.beta.copy_(ours.log_beta.view(-1))
    assert torch.equal(ours.up_taps.float(), port.upsample.filter.view(-1).float())
    assert torch.equal(ours.down_taps.float(), port.downsample.lowpass.filter.view(-1).float())
    for length in (1, 2, 17, 200):
        x = torch.randn(2, 5, length, dtype=torch.float64)
        y = ours(x)
        assert y.shape == x.shape
        # the port adds 1e-9 to beta before dividing; nothing else differs
        assert torch.allclose(y, port(x), rtol=0, atol=1e-7)
        if length > 1:  # one sample is a constant after replication, which the filters pass unchanged
            assert not torch.allclose(y, SnakeBeta.forward(ours, x), atol=1e-3)  # the filters do act


def test_anti_aliased_snake_receptive_field_within_its_bound():
    """The chunked encoder/decoder rely on HALF_RECEPTIVE_FIELD bounding how far an input reaches."""
    from dscodec.nn.antialias import AntiAliasedSnakeBeta

    torch.manual_seed(0)
    act = AntiAliasedSnakeBeta(3).double()
    x = torch.randn(1, 3, 100, dtype=torch.float64)
    reach = 0
    for pos in (40, 50, 61):
        bumped = x.clone()
        bumped[..., pos] += 1.0
        changed = torch.nonzero((act(bumped) - act(x)).abs().sum(1)[0] > 0).flatten()
        reach = max(reach, pos - int(changed.min()), int(changed.max()) - pos)
    assert 0 < reach <= AntiAliasedSnakeBeta.HALF_RECEPTIVE_FIELD


def test_anti_aliased_snake_uses_the_hand_written_backward():
    from dscodec.nn.antialias import AntiAliasedSnakeBeta

    act = AntiAliasedSnakeBeta(4)
    y = act(torch.randn(2, 4, 30, requires_grad=True))
    names = []
    fn = y.grad_fn
    while fn is not None and len(names) < 10:
        names.append(type(fn).__name__)
        fn = fn.next_functions[0][0] if fn.next_functions else None
    assert any("SnakeBetaFunction" in n for n in names), names
    y.sum().backward()
    assert act.log_alpha.grad is not None and act.log_alpha.grad.abs().sum() > 0
