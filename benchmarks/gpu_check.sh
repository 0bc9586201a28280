#!/usr/bin/env bash
# The one prepared script to run when a GPU machine is lent (issue 12, "When a GPU is available"):
#   1. the CUDA-marked tests (tests/test_cuda.py): CUDA agrees with the tested CPU path, bf16 steps are finite;
#   2. training throughput at `paper` size on CUDA, bf16 (benchmarks/bench_train.py);
#   3. a 200-step stage 1 + stage 2 of configs/paper.yaml's recipe on the fixture corpus (paper size).
# Everything it prints goes to $OUT (or ./gpu-check) so the figures can be copied into RESULTS.md.
# Usage: bash benchmarks/gpu_check.sh            (about 10 minutes on one H200)
set -euo pipefail
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
export PYTHONPATH=${PYTHONPATH:-$PWD}
nvidia-smi | tee "$OUT/nvidia-smi.txt" || true
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" | tee "$OUT/torch.txt"

python -m pytest -q -m cuda tests/test_cuda.py 2>&1 | tee "$OUT/pytest_cuda.txt"

python benchmarks/bench_train.py --sizes paper --devices cuda --steps 20 2>&1 | tee "$OUT/bench_train.txt"

# 200 steps of each stage at paper size on the fixture corpus (tests' synthetic tree), bf16.
python - "$OUT" <<'PY' 2>&1 | tee "$OUT/paper_200_steps.txt"
import json, sys, time
from pathlib import Path
sys.path.insert(0, "tests")
from test_train_fixtures import write_corpus
from dscodec.config import REPO_ROOT, load_config
from dscodec.train.loop import FINAL, Trainer
from dscodec.train.stages import build_stage

out = Path(sys.argv[1]) / "paper-200"
manifest = write_corpus(out / "corpus", n=16, seconds=3.0)
cfg = load_config(REPO_ROOT / "configs" / "paper.yaml", overrides={
    "results_dir": str(out / "results"), "mlflow": {"tracking_uri": f"sqlite:///{out / 'mlflow.db'}"},
    "train": {"gpus": 1, "stage1": {"steps": 200, "checkpoint_every": 100, "log_every": 20, "val_every": 200, "val_utterances": 2},
              "stage2": {"steps": 200, "checkpoint_every": 100, "log_every": 20, "val_every": 200, "val_utterances": 2}}})
for stage, init in ((1, None), (2, out / "s1" / FINAL)):
    t = time.time()
    summary = Trainer(cfg, "ds_codec_vq", stage, build_stage(cfg, "ds_codec_vq", stage, init), out / f"s{stage}",
                      train_manifest=manifest).run()
    print(json.dumps({"stage": stage, "wall_s": round(time.time() - t, 1), **{k: summary[k] for k in
          ("steps", "steps_per_s", "batch_size", "bf16", "nonfinite_skipped", "final_metrics", "parameters")}}, default=str))
PY
echo "gpu_check: done; outputs in $OUT"
