#!/usr/bin/env bash
# Model v3's recipe on the GPU machine, in one `run` call after the parts are there (see the model card's
# "A GPU run"): unpack the parts carried so far, train Lite0's whole network on CUDA from v2's Lite0, calibrate
# on the validation photos, and leave the model file and the logs in $OUT.
#
#   run (carry gpu-data/part-000.tar) ... one call a part: `bash scripts/gpu/receive.sh`
#   run: `EPOCHS=8 bash scripts/gpu/train.sh`
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/gpu-out}
DATA=${DATA:-gpu-data}
EPOCHS=${EPOCHS:-8}
mkdir -p "$OUT" "$DATA/photos"
[ -x .venv/bin/ml ] || bash scripts/setup.sh >"$OUT/setup.log" 2>&1
for part in "$DATA"/part-*.tar; do
    tar -xf "$part" -C "$DATA/photos" && rm -f "$part"
done
# The split, less the photos whose parts did not come (fewer transfers when the GPU time is short).
.venv/bin/python - "$DATA" <<'PY'
import sys
from pathlib import Path
from ml.training import data as ds
data = Path(sys.argv[1])
parts = {p: [s for s in ds.read_split(data / "split.json", p) if (data / "photos" / s.path).exists()]
         for p in ds.SPLIT_PARTS}
ds.write_split(data / "split-present.json", parts["train"], parts["heldout"], "photos present",
               validation=parts["validation"])
print({p: len(v) for p, v in parts.items()})
PY
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
# Batch 256 and lr scaled from the CPU run's 32 / 0.005; 16 loader processes keep the GPU fed with 128 px JPEGs.
.venv/bin/ml train --data "$DATA/photos" --split "$DATA/split-present.json" --output "$OUT/run-l0" \
    --backbone efficientnet-lite0 --init ml/models/default.pt --input-size 224 --epochs "$EPOCHS" \
    --restart-period "$EPOCHS" --lr 0.04 --lr-min 0.0001 --batch-size 256 --augment-strength 1 \
    --label-smoothing 0.1 --device cuda --workers 14 --threads 2 --checkpoint-minutes 2 2>&1 | tee "$OUT/train.log"
.venv/bin/ml calibrate --model "$OUT/run-l0/model.pt" --data "$DATA/photos" --split "$DATA/split-present.json" \
    --output "$OUT/lite0-v3-gpu.pt" --device cuda --tta-check 1 2>&1 | tee "$OUT/calibrate.log"
