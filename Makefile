.PHONY: run test lint
run:   ## install and start on SQLite with the shipped librechat.yaml
	scripts/run
test:  ## install and run lint + the whole test suite (SQLite, then PostgreSQL + Redis)
	scripts/test
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy .
