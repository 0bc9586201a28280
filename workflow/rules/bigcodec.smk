# Stage 1 from BigCodec's released checkpoint (logic: dscodec/models/bigcodec_import.py, CLI:
# `dscodec import-bigcodec`). A mirrored VQ system with `init_from_bigcodec: <bigcodec.pt>` gets
#   R/models/<system>/stage1-bigcodec/ckpt.pt   converted from that file (seconds, no training)
# and its stage 2 starts from it (layout.stage2_start); its stage-1 training job is not run.
# The converted file has its own folder so a stage-1 checkpoint trained earlier is never overwritten.
# A local rule: the file is on the submitting machine, and the job is a cheap renaming.


rule import_bigcodec_stage1:
    """Convert BigCodec's checkpoint into a system's stage-1 checkpoint (strict: any mismatch is an error)."""
    input:
        bigcodec=lambda wc: SYSTEMS[wc.system]["init_from_bigcodec"],
    output:
        ckpt=layout.bigcodec_checkpoint(config, "{system}"),
    wildcard_constraints:
        system="|".join(BIGCODEC_SYSTEMS) or "^$",
    params:
        h=lambda wc: config_hash({"model": jobkeys.hashed_model_and_train(config)[0], "system": SYSTEMS[wc.system]}),
    log:
        f"{R}/logs/train/{{system}}-stage1-bigcodec.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=4000,
    shell:
        "{DSCODEC} import-bigcodec --config {RESOLVED_CONFIG} --system {wildcards.system} "
        "--checkpoint {input.bigcodec} --out {output.ckpt} > {log} 2>&1"
