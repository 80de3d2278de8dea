#!/usr/bin/env bash
# A v3 candidate from the run's best model.pt: the new Lite0 with v2's Lite2, calibrated on the validation
# photos (ml calibrate: temperature, tag balance, the answer rule), then paired against the serving model on
# the held-out photos (ml compare). Ship it only when the comparison says so (model card).
#   RUN_NAME=run-l0-gentle scripts/model-v3/candidate.sh     # default run-l0
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=${CACHE:-/work/cache}
R=$CACHE/v3
RUN=$R/${RUN_NAME:-run-l0}
D=$CACHE/mp90/train
.venv/bin/ml ensemble "$RUN/model.pt" ml/models/default.pt@efficientnet-lite2 --output "$RUN/ens.pt" \
  --float16 --mixed-data
.venv/bin/ml calibrate --model "$RUN/ens.pt" --data "$D" --split "$R/split.json" --output "$RUN/v3.pt" \
  --threads 2 --tta-check 1 | tee "$RUN/calibrate.log"
.venv/bin/ml compare ml/models/default.pt "$RUN/v3.pt" --data "$D" --split "$R/split.json" --part heldout \
  --tta 1 --threads 2 --json "$RUN/compare-held.json" | tee "$RUN/compare-held.log"
