#!/usr/bin/env bash
# One transfer call on the GPU machine: the part just carried stays under gpu-data/ (ignored files survive
# between calls on a warm machine); say what has arrived so far.
set -euo pipefail
cd "$(dirname "$0")/../.."
ls -l gpu-data/ && du -sh gpu-data
