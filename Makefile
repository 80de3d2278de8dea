# scenetag developer commands. Each target is a thin wrapper over a script in scripts/ (usable without make).
#   make run    install into .venv and run the service locally (Redis, migrations, worker, bot or a demo)
#   make test   THE test command: lint + the whole pytest suite, starting what the tests need (CI runs it)

.DEFAULT_GOAL := help
.PHONY: help setup run test lint fmt compose-config

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

setup: ## create .venv (Python >= 3.11) and install scenetag with its dev tools
	bash scripts/setup.sh

run: ## set up, then run Redis + migrations + worker + bot (a demo instead of the bot without BOT_TOKEN)
	bash scripts/run-local.sh

test: ## ruff + the whole test suite; extra pytest arguments: make test ARGS="-k settings -x"
	bash scripts/test.sh $(ARGS)

lint: setup ## ruff check
	.venv/bin/ruff check .

fmt: setup ## ruff format and autofix
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

compose-config: ## validate docker-compose.yml with .env (or .env.example and placeholders); no engine needed
	@if docker compose version >/dev/null 2>&1; then compose="docker compose"; else compose=docker-compose; fi; \
	if [ -f .env ]; then $$compose config --quiet; \
	else BOT_TOKEN=0:placeholder POSTGRES_PASSWORD=placeholder REDIS_PASSWORD=placeholder \
		RQ_DASHBOARD_REDIS_PASSWORD=placeholder WEB_SESSION_SECRET=placeholder-of-at-least-32-characters \
		$$compose --env-file .env.example config --quiet; fi \
	&& echo "docker-compose.yml is valid"
