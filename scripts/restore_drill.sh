#!/usr/bin/env bash
# Restore drill (docs/operations.md, "Backups"): a backup is only as good as its restore.
#
#   1. creates a small database, migrates it and seeds the demo data, with a fresh key ring
#      (REDCARD_DATA_KEYS), plus an NFC tag whose SUN keys are sealed under it;
#   2. dumps it as production does (pg_dump -Fc);
#   3. restores the dump into a fresh database (pg_restore --no-owner --exit-on-error);
#   4. checks that every table holds the same number of rows, that `migrate --check` finds nothing to do and
#      that every sealed value opens with the key ring (manage.py check_sealed), and that it does not with
#      another key (the check can fail).
#
# Own database names (redcard_drill_*_<pid>), each step bounded in time (DRILL_TIMEOUT, 300 s; the gate bounds
# the whole drill too), dropped on exit.
#   bash scripts/restore_drill.sh        (DATABASE_URL names the server: postgres://user@host:port/any)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SERVER=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
SERVER=${SERVER%/*}
SOURCE=redcard_drill_source_$$
TARGET=redcard_drill_restored_$$
WORK=$(mktemp -d)
LIMIT=${DRILL_TIMEOUT:-300}

cleanup() {
  for db in "$SOURCE" "$TARGET"; do
    psql "$SERVER/postgres" -q -v ON_ERROR_STOP=0 -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT  # a timeout still drops the databases

key() { head -c 32 /dev/urandom | base64; }
export DJANGO_SETTINGS_MODULE=redcard.settings.base CELERY_TASK_ALWAYS_EAGER=1 LOG_LEVEL=WARNING
export REDCARD_DATA_KEYS="{\"drill-old\": \"$(key)\", \"drill\": \"$(key)\"}" REDCARD_DATA_KEY_ID=drill
unset REDIS_URL
run() { timeout "$LIMIT" "$@"; }
counts() {
  psql "$SERVER/$1" -At -v ON_ERROR_STOP=1 -c "
    SELECT table_name || ' ' || (xpath('/row/n/text()',
           query_to_xml(format('SELECT count(*) AS n FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text
    FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
}

echo "== 1. source database $SOURCE: migrate, demo data, a sealed NFC tag"
psql "$SERVER/postgres" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$SOURCE\""
export DATABASE_URL="$SERVER/$SOURCE"
run "$PY" manage.py migrate -v0
run "$PY" manage.py seed_demo --quiet
run "$PY" manage.py shell --no-imports -c "
from merchants.models import MerchantStaff
from redemptions.counter.services import tag_register
staff = MerchantStaff.objects.select_related('merchant', 'user').order_by('pk').first()
tag_register(merchant=staff.merchant, actor=staff.user, label='drill', kind='sun',
             meta_read_key='00112233445566778899aabbccddeeff', file_read_key='ffeeddccbbaa99887766554433221100')
"
run "$PY" manage.py check_sealed | tail -1

echo "== 2. pg_dump -Fc"
run pg_dump -Fc --no-owner -f "$WORK/redcard.dump" "$SERVER/$SOURCE"
ls -l "$WORK/redcard.dump" | awk '{print "dump: " $5 " bytes"}'

echo "== 3. pg_restore into $TARGET"
psql "$SERVER/postgres" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$TARGET\""
run pg_restore --no-owner --exit-on-error -d "$SERVER/$TARGET" "$WORK/redcard.dump"

echo "== 4. checks"
counts "$SOURCE" > "$WORK/source.txt"
counts "$TARGET" > "$WORK/target.txt"
if ! diff -u "$WORK/source.txt" "$WORK/target.txt"; then
  echo "restore drill: row counts differ"; exit 1
fi
tables=$(wc -l < "$WORK/source.txt")
rows=$(awk '{s += $2} END {print s}' "$WORK/source.txt")
echo "row counts equal: $tables tables, $rows rows"
export DATABASE_URL="$SERVER/$TARGET"
run "$PY" manage.py migrate --check -v0
sealed=$(run "$PY" manage.py check_sealed | tail -1)
echo "$sealed"
case "$sealed" in
  "sealed values: 0 open"*) echo "restore drill: no sealed value to check"; exit 1 ;;
  *", 0 do not") ;;
  *) echo "restore drill: sealed values do not open"; exit 1 ;;
esac
if REDCARD_DATA_KEYS="{\"drill\": \"$(key)\"}" run "$PY" manage.py check_sealed >/dev/null 2>&1; then
  echo "restore drill: sealed values opened with a wrong key ring"; exit 1
fi
echo "restore drill: OK (a wrong key ring opens nothing)"
