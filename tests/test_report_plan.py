"""The report plan: which evaluations and training runs each table/figure/ablation needs."""
from __future__ import annotations

from dscodec.config import load_config
from dscodec.report import plan
from dscodec.report.paper_values import PAPER_ROWS, TABLE3


def test_table3_rows_follow_the_paper_order() -> None:
    cfg = load_config()
    rows = [e.dirname for e in plan.tables(cfg)["table3"].entities]
    assert rows == ["apcodec_plus_pq-stage1", "apcodec_plus_pq-stage2", "ds_codec_pq-stage1",
                    "ds_codec_pq_2t-stage2", "ds_codec_pq-stage2"]
    # every row of the ablation has the paper's value beside it
    assert [PAPER_ROWS["table3"][r] for r in rows] == list(TABLE3)


def test_table1_has_ground_truth_every_baseline_and_every_system() -> None:
    cfg = load_config()
    rows = {e.dirname for e in plan.tables(cfg)["table1"].entities}
    assert "ground-truth" in rows
    assert {f"baseline-{b}" for b in cfg["evaluation"]["baselines"]} <= rows
    assert {f"{s}-stage2" for s in cfg["systems"]} <= rows


def test_ablation_vq_vs_pq_needs_only_vq_and_pq_systems() -> None:
    cfg = load_config()
    evals = plan.eval_inputs(cfg, "ablation_vq_vs_pq")
    assert evals and all("/ds_codec_vq-stage2/" in p or "/ds_codec_pq-stage2/" in p for p in evals)
    models = plan.train_inputs(cfg, "ablation_vq_vs_pq")
    assert models == sorted(f"results/models/{s}/stage1/ckpt.pt" for s in ("ds_codec_pq", "ds_codec_vq"))


def test_figure2_needs_training_runs_only() -> None:
    cfg = load_config()
    assert plan.eval_inputs(cfg, "figure2") == []
    assert {p.split("/")[2] for p in plan.train_inputs(cfg, "figure2")} == {"ds_codec_vq", "ds_codec_pq",
                                                                            "apcodec_plus_pq"}


def test_without_ljspeech_there_is_no_table2(tmp_path) -> None:
    cfg = load_config(overrides={"evaluation": {"testsets": ["librispeech_test"]}})
    assert "table2" not in plan.available_targets(cfg)
    assert "table1" in plan.available_targets(cfg)


def test_outputs_go_under_reports_dir_or_results(tmp_path) -> None:
    cfg = load_config(overrides={"reports_dir": None, "results_dir": str(tmp_path)})
    outs = plan.target_outputs(cfg, "table1")
    assert outs and all(o.startswith(f"{tmp_path}/reports/tables/table1.") for o in outs)
