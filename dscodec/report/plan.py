"""What each report target needs: evaluations (entity x test set) and training runs.

One pure function of the config, used twice: by `workflow/rules/report.smk` to declare each
report job's inputs (so `snakemake ablation_vq_vs_pq` runs only that ablation's training and
evaluation jobs), and by `dscodec report` to know which rows to build. Keeping it in the
package means the DAG and the tables can never disagree about what a table contains.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from dscodec import layout

LIBRISPEECH = "librispeech_test"
LJSPEECH = "ljspeech_eval"


@dataclass(frozen=True)
class Entity:
    """Something that produced reconstructions: a DS-Codec (system, stage), a baseline, or the references."""

    kind: str                # "system" | "baseline" | "ground_truth"
    name: str                # system or baseline name; "ground-truth" for the references
    stage: int | None = None

    @property
    def dirname(self) -> str:
        """Folder under R/eval/ (dscodec/layout.py, the same names the workflow's jobs write)."""
        if self.kind == "system":
            return layout.system_entity(self.name, str(self.stage))
        if self.kind == "baseline":
            return layout.baseline_entity(self.name)
        return layout.GROUND_TRUTH


GROUND_TRUTH = Entity("ground_truth", layout.GROUND_TRUTH)


@dataclass(frozen=True)
class TableSpec:
    name: str                          # file stem, e.g. "table1"
    title: str
    testset: str
    entities: tuple[Entity, ...]
    paper_table: str | None            # key into paper_values.PAPER_TABLES


@dataclass(frozen=True)
class RunRef:
    """A training run the figures read from MLflow."""

    system: str
    stage: int


def own_stage1(systems: Mapping[str, Any]) -> list[str]:
    """Systems that train their own stage 1 (the others reuse `stage1_from` or convert
    BigCodec's checkpoint, `init_from_bigcodec`: no stage-1 training run to show)."""
    return layout.own_stage1_systems({"systems": systems})


def _main_rows(cfg: Mapping[str, Any]) -> tuple[Entity, ...]:
    systems = [Entity("system", name, 2) for name in cfg["systems"]]
    baselines = [Entity("baseline", name) for name in cfg["evaluation"].get("baselines", {})]
    return (GROUND_TRUTH, *baselines, *systems)


def table3_entities(cfg: Mapping[str, Any]) -> tuple[Entity, ...]:
    """Training-strategy ablation (paper Table 3) on the PQ systems: joint non-mirror first, then mirror."""
    systems = cfg["systems"]
    pq = [name for name, spec in systems.items() if spec["quantizer"] == "pq"]
    shares = {n for n in pq if layout.stage1_source(cfg, n) != n}  # reuses another system's stage 1
    nonmirror = [n for n in pq if systems[n]["stage1"] == "nonmirror" and n not in shares]
    mirror_own = [n for n in pq if systems[n]["stage1"] == "mirror" and n not in shares]
    plain = [n for n in pq if systems[n].get("stage2") == "plain"]
    rows: list[Entity] = []
    for name in nonmirror:
        rows += [Entity("system", name, 1), Entity("system", name, 2)]
    for name in mirror_own:
        rows.append(Entity("system", name, 1))
    rows += [Entity("system", name, 2) for name in plain if name not in nonmirror]
    rows += [Entity("system", name, 2) for name in mirror_own if systems[name].get("stage2") != "plain"]
    return tuple(rows)


def tables(cfg: Mapping[str, Any]) -> dict[str, TableSpec]:
    """Tables 1-3 and the VQ-vs-PQ ablation table, restricted to the configured test sets."""
    testsets = cfg["evaluation"]["testsets"]
    out: dict[str, TableSpec] = {}
    if LIBRISPEECH in testsets:
        out["table1"] = TableSpec("table1", "Table 1: reconstruction quality, LibriSpeech test-clean",
                                  LIBRISPEECH, _main_rows(cfg), "table1")
        out["table3"] = TableSpec("table3", "Table 3: training-strategy ablation (PQ), LibriSpeech test-clean",
                                  LIBRISPEECH, table3_entities(cfg), "table3")
    if LJSPEECH in testsets:
        out["table2"] = TableSpec("table2", "Table 2: generalisation to unseen speakers, LJSpeech",
                                  LJSPEECH, _main_rows(cfg), "table2")
    vq_pq = tuple(Entity("system", name, 2) for name, spec in cfg["systems"].items()
                  if spec["stage1"] == "mirror" and spec.get("stage2") != "plain")
    for testset in testsets:
        out[f"vq_vs_pq_{testset}"] = TableSpec(
            f"vq_vs_pq_{testset}", f"Ablation: VQ vs PQ single codebook ({testset})", testset, vq_pq, None)
    return out


def figure2_runs(cfg: Mapping[str, Any]) -> list[RunRef]:
    """Stage-1 runs compared in Figure 2: every own stage 1, mirrored and joint non-mirrored."""
    return [RunRef(name, 1) for name in own_stage1(cfg["systems"])]


def codebook_runs(cfg: Mapping[str, Any]) -> list[RunRef]:
    """Stage-1 runs of mirrored systems (VQ vs PQ codebook usage)."""
    systems = cfg["systems"]
    return [RunRef(n, 1) for n in own_stage1(systems) if systems[n]["stage1"] == "mirror"]


def all_runs(cfg: Mapping[str, Any]) -> list[RunRef]:
    return [RunRef(n, 1) for n in own_stage1(cfg["systems"])] + [RunRef(n, 2) for n in cfg["systems"]]


# Report targets -> what they need. "tables" lists table names; "runs" the training runs read from MLflow.
TARGETS = ("table1", "table2", "table3", "ablation_vq_vs_pq", "figure2", "bitrate_quality",
           "training_curves", "listen")


def target_tables(cfg: Mapping[str, Any], target: str) -> list[TableSpec]:
    specs = tables(cfg)
    if target == "ablation_vq_vs_pq":
        return [spec for name, spec in specs.items() if name.startswith("vq_vs_pq_")]
    if target in ("table1", "table2", "table3"):
        return [specs[target]] if target in specs else []
    if target in ("bitrate_quality", "listen"):
        return [specs["table1"]] if "table1" in specs else [specs[f"vq_vs_pq_{cfg['evaluation']['testsets'][0]}"]]
    return []


def target_runs(cfg: Mapping[str, Any], target: str) -> list[RunRef]:
    if target == "figure2":
        return figure2_runs(cfg)
    if target == "ablation_vq_vs_pq":
        return codebook_runs(cfg)
    if target == "training_curves":
        return all_runs(cfg)
    return []


def available_targets(cfg: Mapping[str, Any]) -> list[str]:
    """Targets that have something to show under this config (e.g. no table2 without LJSpeech)."""
    return [t for t in TARGETS if target_tables(cfg, t) or target_runs(cfg, t)]


def eval_inputs(cfg: Mapping[str, Any], target: str) -> list[str]:
    """summary.json paths a target reads (dscodec/layout.py)."""
    paths = {layout.eval_summary(cfg, e.dirname, spec.testset)
             for spec in target_tables(cfg, target) for e in spec.entities}
    return sorted(paths)


def train_inputs(cfg: Mapping[str, Any], target: str) -> list[str]:
    """Checkpoints whose training runs a target reads from MLflow (their presence means the run finished)."""
    return sorted({layout.model_checkpoint(cfg, r.system, r.stage) for r in target_runs(cfg, target)})


def target_outputs(cfg: Mapping[str, Any], target: str) -> list[str]:
    """Files a report target writes (declared as the Snakemake rule's outputs)."""
    from dscodec.config import reports_path

    root = reports_path(cfg)
    table_files = [f"{root}/{folder}/{spec.name}.{ext}" for spec in target_tables(cfg, target)
                   for folder in [("ablations" if spec.name.startswith("vq_vs_pq") else "tables")]
                   for ext in ("md", "tex", "csv")] if target not in ("bitrate_quality", "listen") else []
    figures = {
        "figure2": ["figure2"],
        "ablation_vq_vs_pq": ["codebook_usage_vq_vs_pq"],
        "bitrate_quality": ["bitrate_vs_quality"],
        "training_curves": ["training_curves_stage1", "training_curves_stage2"],
    }.get(target, [])
    figure_files = [f"{root}/figures/{stem}.{ext}" for stem in figures for ext in ("png", "pdf")]
    if target == "figure2":
        figure_files.append(f"{root}/figures/figure2.csv")
    listen = [f"{root}/listen/index.html"] if target == "listen" else []
    return table_files + figure_files + listen
