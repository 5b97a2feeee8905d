#!/usr/bin/env bash
# Refresh and compile translation catalogues (English source, zh_Hans catalogue).
#   bash scripts/messages.sh            every catalogue
#   bash scripts/messages.sh members    only members/locale (other apps are left untouched)
# Strings land in the catalogue of the nearest locale/ folder: <app>/locale for
# an app's code and <app>/templates, ./locale for templates/ and redcard/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
areas=(core members merchants curation redemptions)
ignore=(--ignore=.venv --ignore=static --ignore=staticfiles --ignore=node_modules --ignore=tests --ignore=bench --ignore=var)
if [ $# -gt 0 ]; then
  # The site catalogue (./locale: templates/ and redcard/) is always refreshed with it: an ignore pattern
  # "templates" would also skip <app>/templates.
  for area in "${areas[@]}"; do
    keep=0; for want in "$@"; do [ "$want" = "$area" ] && keep=1; done
    [ $keep = 1 ] || ignore+=(--ignore="$area")
  done
fi
$PY manage.py makemessages -l zh_Hans --no-obsolete --add-location file "${ignore[@]}" -v0
$PY manage.py compilemessages -l zh_Hans -v0 --ignore=.venv
