"""The numbers the paper publishes (Tables 1-3), printed beside ours in every report.

Transcribed from the paper (see shared/paper.md); `None` where the paper has "-". These are
reference values for comparison only: no number in our tables is ever taken from here.
"""
from __future__ import annotations

from typing import Optional

Row = dict[str, Optional[float]]

# Table 1 — LibriSpeech test-clean. kbps / nq / tokens_per_s describe the codec operating point.
TABLE1: dict[str, Row] = {
    "Ground truth": {"kbps": None, "nq": None, "tokens_per_s": None, "utmos": 4.086, "pesq_wb": None, "stoi": None, "vuv_f1": None},
    "DAC 4.0 kbps": {"kbps": 4.0, "nq": 8, "tokens_per_s": 400, "utmos": 3.325, "pesq_wb": 2.722, "stoi": 0.938, "vuv_f1": 0.946},
    "EnCodec 6.0 kbps": {"kbps": 6.0, "nq": 8, "tokens_per_s": 600, "utmos": 3.074, "pesq_wb": 2.756, "stoi": 0.938, "vuv_f1": 0.945},
    "TiCodec 3.0 kbps": {"kbps": 3.0, "nq": 4, "tokens_per_s": 300, "utmos": 3.501, "pesq_wb": 2.373, "stoi": 0.919, "vuv_f1": 0.936},
    "EnCodec 1.5 kbps": {"kbps": 1.5, "nq": 2, "tokens_per_s": 150, "utmos": 1.582, "pesq_wb": 1.560, "stoi": 0.845, "vuv_f1": 0.836},
    "TiCodec 1.5 kbps": {"kbps": 1.5, "nq": 2, "tokens_per_s": 150, "utmos": 3.347, "pesq_wb": 1.921, "stoi": 0.880, "vuv_f1": 0.917},
    "DAC 1.0 kbps": {"kbps": 1.0, "nq": 1, "tokens_per_s": 100, "utmos": 1.246, "pesq_wb": 1.056, "stoi": 0.617, "vuv_f1": 0.552},
    "TiCodec 0.75 kbps": {"kbps": 0.75, "nq": 1, "tokens_per_s": 75, "utmos": 3.052, "pesq_wb": 1.553, "stoi": 0.832, "vuv_f1": 0.895},
    "WavTokenizer": {"kbps": 0.9, "nq": 1, "tokens_per_s": 75, "utmos": 3.784, "pesq_wb": 2.114, "stoi": 0.897, "vuv_f1": 0.911},
    "BigCodec": {"kbps": 1.04, "nq": 1, "tokens_per_s": 80, "utmos": 4.108, "pesq_wb": 2.681, "stoi": 0.935, "vuv_f1": 0.942},
    "DS-Codec-PQ": {"kbps": 1.28, "nq": 1, "tokens_per_s": 80, "utmos": 4.214, "pesq_wb": 2.882, "stoi": 0.941, "vuv_f1": 0.943},
    "DS-Codec-VQ": {"kbps": 1.04, "nq": 1, "tokens_per_s": 80, "utmos": 4.218, "pesq_wb": 2.862, "stoi": 0.941, "vuv_f1": 0.944},
}

# Table 2 — LJSpeech, 2,000 random utterances (never trained on).
TABLE2: dict[str, Row] = {
    "Ground truth": {"utmos": 4.378, "pesq_wb": None, "stoi": None, "vuv_f1": None},
    "WavTokenizer": {"utmos": 3.870, "pesq_wb": 1.948, "stoi": 0.900, "vuv_f1": 0.909},
    "BigCodec": {"utmos": 4.385, "pesq_wb": 2.822, "stoi": 0.951, "vuv_f1": 0.943},
    "DS-Codec-PQ": {"utmos": 4.428, "pesq_wb": 2.886, "stoi": 0.950, "vuv_f1": 0.942},
    "DS-Codec-VQ": {"utmos": 4.451, "pesq_wb": 2.962, "stoi": 0.955, "vuv_f1": 0.946},
}

# Table 3 — training-strategy ablation on DS-Codec-PQ, LibriSpeech test-clean.
TABLE3: dict[str, Row] = {
    "APCodec+ (joint non-mirror), stage 1": {"utmos": 4.113, "pesq_wb": 2.632, "stoi": 0.931, "vuv_f1": 0.939},
    "APCodec+, stage 2": {"utmos": 4.186, "pesq_wb": 2.754, "stoi": 0.937, "vuv_f1": 0.940},
    "Proposed (mirror), stage 1": {"utmos": 4.123, "pesq_wb": 2.768, "stoi": 0.936, "vuv_f1": 0.941},
    "Proposed, stage 2 without Transformer": {"utmos": 4.195, "pesq_wb": 2.863, "stoi": 0.941, "vuv_f1": 0.942},
    "Proposed, stage 2": {"utmos": 4.214, "pesq_wb": 2.882, "stoi": 0.941, "vuv_f1": 0.943},
}

PAPER_TABLES: dict[str, dict[str, Row]] = {"table1": TABLE1, "table2": TABLE2, "table3": TABLE3}

# Our default entity folders (plan.Entity.dirname) -> the paper's row, per table. Only entities
# named here get a paper value beside them; a renamed or new system simply has none.
PAPER_ROWS: dict[str, dict[str, str]] = {
    "table1": {
        "ground-truth": "Ground truth",
        "baseline-dac_8cb": "DAC 4.0 kbps",
        "baseline-encodec_6kbps": "EnCodec 6.0 kbps",
        "baseline-encodec_1.5kbps": "EnCodec 1.5 kbps",
        "baseline-dac_1cb": "DAC 1.0 kbps",
        "baseline-wavtokenizer": "WavTokenizer",
        "baseline-bigcodec": "BigCodec",
        "ds_codec_pq-stage2": "DS-Codec-PQ",
        "ds_codec_vq-stage2": "DS-Codec-VQ",
    },
    "table2": {
        "ground-truth": "Ground truth",
        "baseline-wavtokenizer": "WavTokenizer",
        "baseline-bigcodec": "BigCodec",
        "ds_codec_pq-stage2": "DS-Codec-PQ",
        "ds_codec_vq-stage2": "DS-Codec-VQ",
    },
    "table3": {
        "apcodec_plus_pq-stage1": "APCodec+ (joint non-mirror), stage 1",
        "apcodec_plus_pq-stage2": "APCodec+, stage 2",
        "ds_codec_pq-stage1": "Proposed (mirror), stage 1",
        "ds_codec_pq_2t-stage2": "Proposed, stage 2 without Transformer",
        "ds_codec_pq-stage2": "Proposed, stage 2",
    },
}


def paper_value(table: str | None, dirname: str, key: str) -> Optional[float]:
    """The published value for (table, our entity, metric key), or None."""
    if table is None:
        return None
    row = PAPER_ROWS.get(table, {}).get(dirname)
    if row is None:
        return None
    return PAPER_TABLES[table].get(row, {}).get(key)
