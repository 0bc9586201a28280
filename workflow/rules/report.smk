# Reports (logic: dscodec/report/, CLI: `dscodec report`). What each target needs comes from
# dscodec.report.plan, the same function the report builder uses, so a target pulls in only the
# training and evaluation jobs its tables and figures show:
#   snakemake --cores all ablation_vq_vs_pq      # trains + evaluates only the VQ and PQ systems
# Names and helpers (REPORTS, REPORT_TARGETS, report_outputs): common.smk.


for _target in REPORT_TARGETS:

    rule:
        name:
            f"report_{_target}"
        input:
            evals=report_plan.eval_inputs(config, _target),
            models=report_plan.train_inputs(config, _target),
        output:
            report_plan.target_outputs(config, _target),
        params:
            target=_target,
            h=config_hash({k: config.get(k) for k in ("report", "evaluation", "systems", "reports_dir")}),
        log:
            f"{R}/logs/report/{_target}.log",
        threads: 1
        resources:
            mem_mb=2000,
        shell:
            "{DSCODEC} report --config {RESOLVED_CONFIG} --target {params.target} > {log} 2>&1"


rule table1:
    """Paper Table 1: LibriSpeech test-clean, every system and baseline, paper values beside ours."""
    input:
        report_outputs("table1"),


rule table2:
    """Paper Table 2: LJSpeech generalisation."""
    input:
        report_outputs("table2"),


rule table3:
    """Paper Table 3: training-strategy ablation (joint non-mirror vs mirror, stage 1 vs 2, 2-t)."""
    input:
        report_outputs("table3"),


rule figure2:
    """Paper Figure 2: VQ loss and quantizer in/out MSE over stage-1 training, mirrored vs non-mirrored."""
    input:
        report_outputs("figure2"),


rule ablation_single_vs_dual_stage:
    """Single-stage (joint non-mirror) vs dual-stage (mirror -> non-mirror) training: Table 3's rows."""
    input:
        report_outputs("table3"),


rule ablation_vq_vs_pq:
    """VQ vs PQ single codebook: quality on every test set + codebook usage during training."""
    input:
        report_outputs("ablation_vq_vs_pq"),


rule ablation_mirror_vs_nonmirror:
    """Mirror vs non-mirror VQ loss: Figure 2 (training histories only, no evaluation needed)."""
    input:
        report_outputs("figure2"),


rule listening_page:
    """reports/listen/index.html: reference and every system side by side."""
    input:
        report_outputs("listen"),


rule report_index:
    """<reports_dir>/README.md linking every table and figure, with the config and commit."""
    input:
        [path for target in REPORT_TARGETS for path in report_outputs(target)],
    output:
        f"{REPORTS}/README.md",
        f"{REPORTS}/config.yaml",
        f"{REPORTS}/provenance.json",
    log:
        f"{R}/logs/report/index.log",
    shell:
        "{DSCODEC} report --config {RESOLVED_CONFIG} --index > {log} 2>&1"
