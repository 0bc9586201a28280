"""BigCodec's checkpoint as DS-Codec-VQ's stage 1: strict conversion onto our model (issue 12 item 10).

Checkpoints are built in the official layout ({"CodecEnc": ..., "generator": ...}) from our
port of BigCodec (dscodec/evaluate/baselines/ports/bigcodec_model.py) with random weights. The
numerical test runs at BigCodec's architecture with narrower widths (stem 4 channels ->
128, latent 16, 64 codes of dim 4: both sides accept these dims), since paper size would
take minutes on a CPU; the key/shape mapping is checked at the exact paper dimensions on
the meta device (no memory, no compute).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from workflow_copy import REPO, workflow_copy

from dscodec.evaluate.baselines.ports import bigcodec_model as bm
from dscodec.models import CodecModel, get_size
from dscodec.models.bigcodec_import import BigCodecImportError, convert_state, import_bigcodec, tensor_links
from dscodec.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("checkout_untouched")  # two tests dry-run Snakemake (in a copy)
NARROW = {"channels": 4, "latent_dim": 16, "codebook_size": 64, "codebook_dim": 4}


def _narrow_port(seed: int = 0) -> tuple[bm.CodecEncoder, bm.CodecDecoder]:
    """BigCodec's networks at NARROW widths with random weights that give a varied, unsaturated output."""
    torch.manual_seed(seed)
    enc = bm.CodecEncoder(ngf=4, out_channels=16)
    dec = bm.CodecDecoder(in_channels=16, upsample_initial_channel=128, vq_dim=16, codebook_size=64, codebook_dim=4)
    with torch.no_grad():
        for module in (enc, dec):
            for name, p in module.named_parameters():
                if name.endswith(("alpha", "beta")):
                    p.normal_(0, 0.3)
                elif name.endswith("weight_g"):
                    p.uniform_(0.4, 0.8)  # filter norms: keeps the signal from growing layer by layer
                elif name.endswith("bias"):
                    p.normal_(0, 0.01)
                else:
                    p.normal_(0, 0.3)
    return enc.eval(), dec.eval()


def _blob(enc: torch.nn.Module, dec: torch.nn.Module) -> dict[str, dict[str, torch.Tensor]]:
    return {"CodecEnc": dict(enc.state_dict()), "generator": dict(dec.state_dict())}


@pytest.fixture(scope="module")
def port():
    return _narrow_port()


def test_converted_model_encodes_and_decodes_as_bigcodec(port):
    enc, dec = port
    model = convert_state(_blob(enc, dec), get_size("paper", NARROW)).double().eval()
    enc, dec = enc.double(), dec.double()
    torch.manual_seed(1)
    wav = torch.randn(1, 1, 200 * 40, dtype=torch.float64) * 0.1
    with torch.no_grad():
        quantized, codes = dec.quantize(enc(wav))
        reference = dec(quantized)
        ours_codes = model.encode(wav)
        ours = model.decode(ours_codes)
    assert len(codes.unique()) > 3 and reference.abs().max() < 0.99  # varied codes, no tanh saturation
    assert torch.equal(ours_codes, codes[0])
    # the port adds 1e-9 to SnakeBeta's beta before dividing; everything else is the same computation
    assert (ours - reference).norm() <= 1e-6 * reference.norm()
    assert torch.equal(model.quantizer.usage, torch.full((64,), 1 / 64, dtype=torch.float64))


def test_the_same_weights_with_plain_activations_compute_another_function(port):
    """What the anti-aliased activations buy: without them the decode is far off (the test above can fail)."""
    enc, dec = port
    model = convert_state(_blob(enc, dec), get_size("paper", NARROW)).double().eval()
    plain = CodecModel(get_size("paper", {**NARROW, "anti_aliased_activations": False}), "vq", "mirror").double()
    plain.load_state_dict(model.state_dict())
    codes = torch.randint(0, 64, (1, 40))
    with torch.no_grad():
        reference = dec.double()(dec.quantizer.layers[0].out_proj(dec.quantizer.layers[0]._codebook(codes))
                                 .transpose(1, 2))
        assert (model.decode(codes) - reference).norm() <= 1e-6 * reference.norm()
        assert (plain.decode(codes) - reference).norm() > 1e-2 * reference.norm()


def test_every_tensor_maps_at_paper_size():
    """At BigCodec's released dimensions: each of its tensors used once, each of ours filled, shapes equal."""
    with torch.device("meta"):
        enc, dec = bm.CodecEncoder(**bm.ENCODER_KWARGS), bm.CodecDecoder(**bm.DECODER_KWARGS)
        model = CodecModel(get_size("paper"), "vq", "mirror")
    theirs = _blob(enc, dec)
    links, filters = tensor_links(model)
    ours = model.state_dict()
    assert {link.ours for link in links} == set(ours) - {"quantizer.usage"}
    for link in links:
        assert link.to_ours(theirs[link.state][link.theirs]).shape == ours[link.ours].shape, link
    used = [(link.state, link.theirs) for link in links]
    used += [(state, f"{prefix}.{key}") for _, state, prefix in filters
             for key in ("upsample.filter", "downsample.lowpass.filter")]
    assert len(filters) == 72 and len(used) == len(set(used))
    assert set(used) == {(state, key) for state, values in theirs.items() for key in values}


def _fails(blob, match: str, **overrides) -> None:
    with pytest.raises(BigCodecImportError, match=match):
        convert_state(blob, get_size("paper", {**NARROW, **overrides}))


def test_mismatches_name_the_first_offending_tensor(port):
    enc, dec = port
    blob = _blob(enc, dec)
    missing = _blob(enc, dec)
    del missing["CodecEnc"]["block.1.block.0.block.1.weight_v"]
    _fails(missing, r"CodecEnc\['block.1.block.0.block.1.weight_v'\] missing")
    extra = _blob(enc, dec)
    extra["generator"]["quantizer.layers.1._codebook.weight"] = torch.zeros(64, 4)
    _fails(extra, r"generator\['quantizer.layers.1._codebook.weight'\].*no counterpart")
    wrong_filter = _blob(enc, dec)
    wrong_filter["generator"]["model.7.upsample.filter"] = torch.full((1, 1, 12), 1 / 12)
    _fails(wrong_filter, r"generator\['model.7.upsample.filter'\]: filter .* differs")
    _fails(blob, r"generator\['quantizer.layers.0._codebook.weight'\] has shape \(64, 4\)", codebook_size=128)
    _fails(blob, "plain activations", anti_aliased_activations=False)
    _fails({"generator": {}}, "expected keys 'CodecEnc' and 'generator'")


def test_import_writes_a_stage1_checkpoint_only_on_success(port, tmp_path: Path):
    enc, dec = port
    source = tmp_path / "bigcodec.pt"
    torch.save(_blob(enc, dec), source)
    out = import_bigcodec(source, get_size("paper", NARROW), tmp_path / "stage1" / "ckpt.pt")
    ckpt = load_checkpoint(out)  # what stage 2 reads
    assert ckpt["stage"] == 1 and ckpt["codec_config"]["quantizer"] == "vq"
    assert ckpt["codec_config"]["decoder"] == "mirror" and ckpt["init_from"]["bigcodec"] == str(source.resolve())
    assert len(ckpt["init_from"]["sha256"]) == 64
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(source.read_bytes()[:1000])
    with pytest.raises(BigCodecImportError, match="not a readable BigCodec checkpoint"):
        import_bigcodec(bad, get_size("paper", NARROW), tmp_path / "never" / "ckpt.pt")
    assert not (tmp_path / "never").exists()


def _config_with_bigcodec(tmp_path: Path, source: Path) -> Path:
    """configs/ci.yaml with DS-Codec-VQ initialised from `source` at NARROW widths."""
    narrow = "".join(f"    {key}: {value}\n" for key, value in NARROW.items())
    overlay = tmp_path / "bigcodec.yaml"
    overlay.write_text(
        f"results_dir: {tmp_path / 'r'}\nreports_dir: {tmp_path / 'rep'}\n"
        f"model:\n  size: paper\n  overrides:\n{narrow}    anti_aliased_activations: true\n"
        "    transformer_heads: 2\n    transformer_ffn_dim: 32\n"  # stage 2's Transformer at latent 16
        f"systems:\n  ds_codec_vq: {{quantizer: vq, stage1: mirror, stage2: transformer, label: DS-Codec-VQ, "
        f"init_from_bigcodec: {source}}}\n")
    return overlay


def test_workflow_converts_instead_of_training_stage1(port, tmp_path: Path):
    """Dry run: DS-Codec-VQ's stage 2 starts from the converted file and its stage-1 training job is gone;
    then the conversion rule's command, run as Snakemake would, writes a checkpoint stage 2 accepts."""
    from dscodec.config import load_config, write_if_changed
    from dscodec.train.stages import build_stage2

    enc, dec = port
    source = tmp_path / "bigcodec.pt"
    torch.save(_blob(enc, dec), source)
    overlay = _config_with_bigcodec(tmp_path, source)
    snakemake = Path(sys.executable).with_name("snakemake")
    workdir = workflow_copy(tmp_path / "wf")  # Snakemake never runs in the checkout
    proc = subprocess.run(
        [str(snakemake), "--snakefile", str(workdir / "Snakefile"), "--cores", "1", "-n", "ablation_vq_vs_pq",
         "--configfile", str(workdir / "configs/ci.yaml"), str(overlay)],
        cwd=workdir, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "import_bigcodec_stage1" in out and "ds_codec_vq/stage1-bigcodec/ckpt.pt" in out
    assert "models/ds_codec_vq/stage1/ckpt.pt" not in out  # no stage-1 training of DS-Codec-VQ
    assert "models/ds_codec_pq/stage1/ckpt.pt" in out  # PQ still trains its own

    config = load_config(REPO / "configs/ci.yaml", overlay)
    resolved = write_if_changed(config, tmp_path / "r" / "config.yaml")
    ckpt = tmp_path / "r" / "models" / "ds_codec_vq" / "stage1-bigcodec" / "ckpt.pt"
    cli = Path(sys.executable).with_name("dscodec")
    run = subprocess.run([str(cli), "import-bigcodec", "--config", str(resolved), "--system", "ds_codec_vq",
                          "--checkpoint", str(source), "--out", str(ckpt)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    setup = build_stage2(config, "ds_codec_vq", ckpt)  # what `dscodec train --stage 2` builds from it
    assert setup.codec.decoder_kind == "transformer" and setup.codec.size.anti_aliased_activations
    refused = subprocess.run([str(cli), "import-bigcodec", "--config", str(resolved), "--system", "ds_codec_pq",
                              "--checkpoint", str(source), "--out", str(tmp_path / "x.pt")],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "mirrored VQ stage 1 only" in refused.stderr


def test_config_refuses_bigcodec_init_where_it_cannot_apply(tmp_path: Path):
    from dscodec.config import load_config
    from dscodec.errors import ConfigError

    source = str(tmp_path / "bigcodec.pt")
    vq = {"quantizer": "vq", "stage1": "mirror", "stage2": "transformer", "init_from_bigcodec": source}
    with pytest.raises(ConfigError, match="anti_aliased_activations"):  # the default `small` size: plain activations
        load_config(overrides={"systems": {"ds_codec_vq": vq}})
    paper = {"model": {"size": "paper"}}
    with pytest.raises(ConfigError, match=r"systems.ds_codec_pq.init_from_bigcodec.*quantizer: vq"):
        load_config(overrides={**paper, "systems": {"ds_codec_pq": {**vq, "quantizer": "pq"}}})
    config = load_config(overrides={**paper, "systems": {"ds_codec_vq": vq}})
    assert config["systems"]["ds_codec_vq"]["init_from_bigcodec"] == source
    from dscodec.train.stages import build_stage1

    with pytest.raises(ConfigError, match="import-bigcodec"):  # stage 1 is converted, never trained
        build_stage1(config, "ds_codec_vq")


def test_paper_yaml_commented_option_dry_runs(tmp_path: Path):
    """configs/paper.yaml with its commented `init_from_bigcodec` lines uncommented, as the README says."""
    text = (REPO / "configs/paper.yaml").read_text()
    source = tmp_path / "bigcodec.pt"
    source.touch()  # a dry run only checks that the input exists
    enabled = text.replace("# systems:\n#   ds_codec_vq: {init_from_bigcodec: /path/to/bigcodec.pt}",
                           f"systems:\n  ds_codec_vq: {{init_from_bigcodec: {source}}}")
    assert enabled != text, "the commented option in configs/paper.yaml changed; update this test and the README"
    config = tmp_path / "paper.yaml"
    enabled = enabled.replace("results_dir: results-paper", f"results_dir: {tmp_path / 'r'}")
    config.write_text(enabled.replace("reports_dir: null", f"reports_dir: {tmp_path / 'rep'}"))
    workdir = workflow_copy(tmp_path / "wf")  # Snakemake never runs in the checkout
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("snakemake")), "--snakefile", str(workdir / "Snakefile"), "--cores", "1",
         "-n", "reproduce_tables", "--configfile", str(config)],
        cwd=workdir, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "import_bigcodec_stage1" in out and "models/ds_codec_vq/stage1/" not in out
    assert "models/ds_codec_vq/stage2/ckpt.pt" in out
