# One image for scenetag-worker and scenetag-bot (docker-compose.yml picks the command).
#
# torch: scripts/requirements-torch.txt pins the same torch/torchvision as `make setup`. On x86_64 the
# default index serves the CUDA build (several GB; the GPU needs only the host's NVIDIA driver and the
# NVIDIA Container Toolkit). For a CPU-only host, build from PyTorch's CPU wheel index instead, about
# 1 GB smaller: docker compose build --build-arg TORCH_INDEX_URL=<PyTorch's CPU wheel index URL>
# and drop the worker's `deploy:` GPU reservation (DEVICE=auto then picks the CPU).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

ARG TORCH_INDEX_URL=
# Its own layer, first: the largest and the least often changed.
COPY scripts/requirements-torch.txt /tmp/requirements-torch.txt
RUN pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} -r /tmp/requirements-torch.txt

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY bot bot
COPY worker worker
COPY ml ml
COPY moderation moderation
COPY migrations migrations
# Editable, so the code runs from /app next to alembic.ini and migrations/, which the bot's
# migrate-at-start (bot/db/migrate.py) finds relative to its own source; they are not package data.
RUN pip install -e . \
    && useradd --create-home --uid 10001 scenetag \
    && mkdir -p /data \
    && chown scenetag /data

USER scenetag
ENV DATA_DIR=/data
CMD ["scenetag-worker"]
