#!/usr/bin/env bash
# Set up, migrate, seed demo data, print the demo logins and serve on
# http://127.0.0.1:8000 on the embedded default (SQLite, inline tasks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-redcard.settings.dev}
# Links in e-mails, printed stands and QR codes point at the address this server binds.
export SITE_URL=${SITE_URL:-http://${BIND:-127.0.0.1:8000}}
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py seed_demo
echo
echo "RedCard is starting on http://${BIND:-127.0.0.1:8000}  (admin: /admin/, API docs: /api/v1/docs/)"
exec .venv/bin/python manage.py runserver "${BIND:-127.0.0.1:8000}"
