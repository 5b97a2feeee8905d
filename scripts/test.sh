#!/usr/bin/env bash
# Set up and run the whole gate: translations, ruff, mypy, migrations,
# deploy checks and the pytest suite on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
WANT_BROWSER=1 bash scripts/setup.sh
PY=.venv/bin/python
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export REDIS_URL_FOR_TESTS=${REDIS_URL_FOR_TESTS:-redis://127.0.0.1:6379/15}

step() { echo; echo "==> $*"; }

step "translations compile and are committed"
(cd core && ../$PY ../manage.py compilemessages -v0 --settings=redcard.settings.test)
for app in members merchants curation redemptions; do
  if [ -d "$app/locale" ]; then (cd "$app" && ../$PY ../manage.py compilemessages -v0 --settings=redcard.settings.test); fi
done
if git rev-parse --git-dir >/dev/null 2>&1; then
  git diff --exit-code --stat -- '*.mo' || { echo "compiled catalogues (.mo) are out of date: commit them"; exit 1; }
fi

step "ruff check";            $PY -m ruff check .
step "ruff format --check";   $PY -m ruff format --check .
step "mypy";                  $PY -m mypy .
step "makemigrations --check"
DJANGO_SETTINGS_MODULE=redcard.settings.test $PY manage.py makemigrations --check --dry-run
step "migrations safe on live tables (core/migration_lint.py)"
DJANGO_SETTINGS_MODULE=redcard.settings.test $PY manage.py lint_migrations
step "check --deploy (production settings)"
DJANGO_SETTINGS_MODULE=redcard.settings.production SECRET_KEY="ci-$(head -c 48 /dev/urandom | base64 | tr -d '/+=')" \
  REDCARD_CODE_KEYS="{\"ci\": \"$(head -c 32 /dev/urandom | base64)\"}" REDCARD_CODE_KEY_ID=ci \
  REDCARD_DATA_KEYS="{\"ci\": \"$(head -c 32 /dev/urandom | base64)\"}" \
  REDIS_URL=redis://127.0.0.1:6379/0 MEDIA_S3_BUCKET=redcard-media ALLOWED_HOSTS=redcard.example $PY manage.py check --deploy --fail-level WARNING

step "restore drill: pg_dump -Fc, pg_restore, row counts, sealed values open (scripts/restore_drill.sh)"
DRILL_TIMEOUT=${DRILL_TIMEOUT:-300} timeout 900 bash scripts/restore_drill.sh

step "pytest (PostgreSQL)"
$PY -m pytest --create-db "$@"
