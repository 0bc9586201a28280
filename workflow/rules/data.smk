# Data preparation: the built-in sample corpus, downloads, and manifests (logic: dscodec/data/).
#   R/corpus/sample/{LibriSpeech,LJSpeech-1.1}/...       synthetic corpus (only when a source is `sample`)
#   R/data/<corpus>/download.json                         archives fetched and verified (only when `download`)
#   R/data/librispeech/{train,dev,test}.tsv, R/data/ljspeech/{all,eval}.tsv, R/data/<corpus>/report.json
#   R/logs/data/prepare_<corpus>.report.json   the same report as a log, kept when the job fails (bad files)
# Names and helpers (SAMPLE_CORPUS, DATA_SOURCES, MANIFESTS, corpus_input): common.smk.


if "sample" in DATA_SOURCES.values():

    rule synth_sample_corpus:
        """Synthesise the built-in multi-speaker corpus in the LibriSpeech and LJSpeech layouts."""
        output:
            f"{SAMPLE_CORPUS}/synthesis.json",
        params:
            h=cfg_hash("data", "sample_corpus"),
        log:
            f"{R}/logs/data/synth_sample_corpus.log",
        benchmark:
            f"{R}/benchmarks/data/synth_sample_corpus.tsv"
        threads: 1
        resources:
            mem_mb=1000,
        shell:
            "{DSCODEC} synth-corpus --config {RESOLVED_CONFIG} --out {SAMPLE_CORPUS} > {log} 2>&1"


for _corpus in ("librispeech", "ljspeech"):
    if DATA_SOURCES[_corpus] == "download":

        rule:
            name:
                f"download_{_corpus}"
            output:
                f"{R}/data/{_corpus}/download.json",
            params:
                corpus=_corpus,
                h=cfg_hash("data", _corpus),
            log:
                f"{R}/logs/data/download_{_corpus}.log",
            threads: 1
            resources:
                mem_mb=1000,
                downloads=1,
            retries: 2
            # on the submitting machine, never as a cluster job: compute nodes often have no internet
            localrule: True
            shell:
                "{DSCODEC} prepare --config {RESOLVED_CONFIG} --corpus {params.corpus} --download-only "
                "--out {R}/data/{params.corpus} > {log} 2>&1"


rule prepare_librispeech:
    """Check every LibriSpeech file; manifests for train (union of train_subsets), dev and test."""
    input:
        corpus_input("librispeech"),
    output:
        MANIFESTS["librispeech"],
        report=f"{R}/data/librispeech/report.json",
    params:
        h=cfg_hash("data", "librispeech"),
        bad=cfg_hash("data", "max_bad_fraction"),
    log:
        main=f"{R}/logs/data/prepare_librispeech.log",
        # report.json again, as a log: Snakemake deletes a failed job's outputs but keeps its logs
        report=f"{R}/logs/data/prepare_librispeech.report.json",
    benchmark:
        f"{R}/benchmarks/data/prepare_librispeech.tsv"
    threads: 8  # file checks decode every file; Snakemake lowers this to --cores
    resources:
        mem_mb=2000,
    shell:
        "{DSCODEC} prepare --config {RESOLVED_CONFIG} --corpus librispeech --out {R}/data/librispeech "
        "--workers {threads} --report-copy {log.report} 2>&1 | tee {log.main}"


rule prepare_ljspeech:
    """Check every LJSpeech file; manifest of all utterances and the seeded evaluation subset."""
    input:
        corpus_input("ljspeech"),
    output:
        MANIFESTS["ljspeech"],
        report=f"{R}/data/ljspeech/report.json",
    params:
        h=cfg_hash("data", "ljspeech"),
        bad=cfg_hash("data", "max_bad_fraction"),
    log:
        main=f"{R}/logs/data/prepare_ljspeech.log",
        # report.json again, as a log: Snakemake deletes a failed job's outputs but keeps its logs
        report=f"{R}/logs/data/prepare_ljspeech.report.json",
    benchmark:
        f"{R}/benchmarks/data/prepare_ljspeech.tsv"
    threads: 4
    resources:
        mem_mb=2000,
    shell:
        "{DSCODEC} prepare --config {RESOLVED_CONFIG} --corpus ljspeech --out {R}/data/ljspeech "
        "--workers {threads} --report-copy {log.report} 2>&1 | tee {log.main}"


rule prepare_data:
    """All manifests (and data reports) of the configured corpora."""
    input:
        MANIFESTS["librispeech"],
        MANIFESTS["ljspeech"],
        f"{R}/data/librispeech/report.json",
        f"{R}/data/ljspeech/report.json",
