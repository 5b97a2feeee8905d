.PHONY: run test setup lint format messages bench

run:  ## set up, seed demo data and serve on http://127.0.0.1:8000
	bash scripts/run.sh

test:  ## set up and run the whole gate (lint, types, migrations, pytest on PostgreSQL)
	bash scripts/test.sh

setup:
	bash scripts/setup.sh

lint:
	.venv/bin/python -m ruff check . && .venv/bin/python -m ruff format --check . && .venv/bin/python -m mypy .

format:
	.venv/bin/python -m ruff format . && .venv/bin/python -m ruff check --fix .

messages:  ## refresh and compile every app's catalogue (zh_Hans; English is the source)
	for app in core members merchants curation redemptions; do \
	  (cd $$app && ../.venv/bin/python ../manage.py makemessages -l zh_Hans -v0 && ../.venv/bin/python ../manage.py compilemessages -v0); \
	done
