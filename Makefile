.PHONY: run serve test lint bench
run:   ## install and start (uvicorn, 1 worker, DEBUG off) on SQLite with the shipped librechat.yaml; prints the first-admin link
	scripts/run
test:  ## install and run lint + the whole test suite (SQLite, then PostgreSQL + Redis)
	scripts/test
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy . && .venv/bin/lint-imports
serve: ## production: N uvicorn workers on PostgreSQL + Redis (see README)
	scripts/serve
bench: ## chat overhead vs the fake upstream (results appended to bench/RESULTS.md)
	.venv/bin/python bench/chat_overhead.py
