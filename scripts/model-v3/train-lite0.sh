#!/usr/bin/env bash
# Model v3's Lite0 member (model card: "The long run"): the whole network from v2's Lite0, 224 px, bf16
# autocast, 19,000-photo epochs (SGDR: a cosine cycle each). Resumable: run it again after any stop.
#   scripts/model-v3/train-lite0.sh                                  # run 1: lr 0.005, augmentation 1
#   RUN_NAME=run-l0-gentle LR=0.002 AUGMENT=0.5 scripts/model-v3/train-lite0.sh   # run 2 (the card's next lever)
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=${CACHE:-/work/cache}
RUN=$CACHE/v3/${RUN_NAME:-run-l0}
if [ -f "$RUN/checkpoint.pt" ]; then
  exec nice -n "${NICE:-5}" .venv/bin/ml train --resume "$RUN"
fi
exec nice -n "${NICE:-5}" .venv/bin/ml train --data "$CACHE/mp90/train" --split "$CACHE/v3/split.json" --output "$RUN" \
  --backbone efficientnet-lite0 --init ml/models/default.pt --input-size 224 \
  --epochs 20 --epoch-photos 19000 --restart-period 1 --lr "${LR:-0.005}" --lr-min 0.0001 --batch-size 32 \
  --augment-strength "${AUGMENT:-1}" --label-smoothing 0.1 --threads 2 --workers 1 --checkpoint-minutes 5
