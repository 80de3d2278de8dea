#!/usr/bin/env bash
# Model v3's resolution pilot (model card: "Resolution pilot"): the same 1,600 training photos (16 per class of
# v3's split), one epoch from v2's Lite0 member at 128, 160 and 224 px, validated on 1,000 validation photos.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=${CACHE:-/work/cache}
.venv/bin/python - "$CACHE" <<'PY'
import sys
from pathlib import Path
from ml.training import data as ds
v3 = Path(sys.argv[1]) / "v3" / "split.json"
ds.write_split(v3.with_name("pilot.json"), ds.stratified_subset(ds.read_split(v3, "train"), 16, 0),
               ds.read_split(v3, "heldout"), "pilot: 16 train + 10 validation per class from v3's split (seed 0)",
               validation=ds.stratified_subset(ds.read_split(v3, "validation"), 10, 0))
PY
for side in 128 160 224; do
  nice -n 10 .venv/bin/ml train --data "$CACHE/mp90/train" --split "$CACHE/v3/pilot.json" \
    --output "$CACHE/v3/pilot-$side" --backbone efficientnet-lite0 --init ml/models/default.pt \
    --input-size "$side" --epochs 1 --restart-period 1 --lr 0.005 --lr-min 0.0001 --batch-size 32 \
    --augment-strength 1 --threads 2 --workers 1 --checkpoint-minutes 0
done
