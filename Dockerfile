# Three images from one file (docker-compose.yml builds each with its `target`):
#   bot     scenetag-bot, and the Alembic migrations (`docker compose run --rm bot alembic upgrade head`);
#           `pip install .[bot]`: no torch, no CUDA, no model stack
#   web     scenetag-web, the dashboard: `pip install .[web]`, no torch and no Telegram library either
#   worker  scenetag-worker: torch + the serving extra (the last stage, so a plain `docker build .` builds it)
#
# torch: scripts/requirements-torch.txt pins the same torch/torchvision as `make setup`. On x86_64 the
# default index serves the CUDA build (several GB; the GPU needs only the host's NVIDIA driver and the
# NVIDIA Container Toolkit). For a CPU-only host, build from PyTorch's CPU wheel index instead, about
# 1 GB smaller: docker compose build --build-arg TORCH_INDEX_URL=<PyTorch's CPU wheel index URL>
# and drop the worker's `deploy:` GPU reservation (DEVICE=auto then picks the CPU).

# What both images run on: Python, the unprivileged user and its data folder.
FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data
RUN useradd --create-home --uid 10001 scenetag \
    && mkdir -p /data \
    && chown scenetag /data
WORKDIR /app

# The project's files, listed once for both images. Installed editable, so the code runs from /app next to
# alembic.ini and migrations/, which the bot's migrate-at-start (storage/migrate.py) finds relative to its
# own source; they are not package data.
FROM scratch AS source
COPY pyproject.toml README.md alembic.ini /app/
COPY config /app/config
COPY bot /app/bot
COPY worker /app/worker
COPY ml /app/ml
COPY moderation /app/moderation
COPY storage /app/storage
COPY web /app/web
COPY migrations /app/migrations

FROM runtime AS bot
# DejaVu Sans: the /stats chart's Latin and Cyrillic text (bot/charts.py).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
# Exactly the locked versions, each checked against its hash (requirements/*.lock, scripts/lock.sh), then the
# project itself with nothing more.
COPY requirements/bot.lock requirements/bot.lock
RUN pip install --require-hashes --no-deps -r requirements/bot.lock
COPY --from=source /app /app
RUN pip install --no-deps -e '.[bot]'
USER scenetag
CMD ["scenetag-bot"]

FROM runtime AS web
COPY requirements/web.lock requirements/web.lock
RUN pip install --require-hashes --no-deps -r requirements/web.lock
COPY --from=source /app /app
RUN pip install --no-deps -e '.[web]'
USER scenetag
CMD ["scenetag-web"]

FROM runtime AS worker
ARG TORCH_INDEX_URL=
# Its own layer, before the project: the largest and the least often changed.
COPY scripts/requirements-torch.txt /tmp/requirements-torch.txt
RUN pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} -r /tmp/requirements-torch.txt
# The rest of the serving stack from its lock (torch is not in it), then the project; pip's check of the
# extra then only adds efficientnet-lite-pytorch (a small wrapper of torch, left out of the lock with it).
COPY requirements/worker.lock requirements/worker.lock
RUN pip install --require-hashes --no-deps -r requirements/worker.lock
COPY --from=source /app /app
RUN pip install -e '.[worker]'
USER scenetag
CMD ["scenetag-worker"]
