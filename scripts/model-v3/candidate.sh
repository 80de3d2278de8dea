#!/usr/bin/env bash
# A v3 candidate from the run's best model.pt: the new Lite0 with v2's Lite2, calibrated on the validation
# photos (ml calibrate: temperature, tag balance, the answer rule), then paired against the serving model on
# the held-out photos (ml compare). Ship it only when the comparison says so (model card).
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=${CACHE:-/work/cache}
R=$CACHE/v3
D=$CACHE/mp90/train
.venv/bin/ml ensemble "$R/run-l0/model.pt" ml/models/default.pt@efficientnet-lite2 --output "$R/ens.pt" \
  --float16 --mixed-data
.venv/bin/ml calibrate --model "$R/ens.pt" --data "$D" --split "$R/split.json" --output "$R/v3.pt" \
  --threads 2 --tta-check 1 | tee "$R/calibrate.log"
.venv/bin/ml compare ml/models/default.pt "$R/v3.pt" --data "$D" --split "$R/split.json" --part heldout \
  --tta 1 --threads 2 --json "$R/compare-held.json" | tee "$R/compare-held.log"
