#!/usr/bin/env bash
# The demo: the gateway on the embedded defaults (SQLite, in-process limits) with a demo tenant
# and key, printed with ready-to-paste examples. Needs only python3 >= 3.11. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/bootstrap
export GATEWAY_STATE_DIR="${GATEWAY_STATE_DIR:-$PWD/demo-state}"
export GATEWAY_BIND_PORT="${GATEWAY_BIND_PORT:-8080}"
gw=(.venv/bin/neuronetz-gateway)
"${gw[@]}" migrate >/dev/null
"${gw[@]}" list-tenants --json | grep -q '"name": "demo"' || "${gw[@]}" create-tenant --name demo >/dev/null
key=$("${gw[@]}" create-key --tenant demo --name "demo-$(date +%s)" --expires 1d --json \
      | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["key"])')
base="http://127.0.0.1:${GATEWAY_BIND_PORT}"
cat <<MSG

  neuronetz-gateway demo on ${base} (state in ${GATEWAY_STATE_DIR})
  demo key (shown once, valid 1 day):  ${key}

    curl ${base}/healthz
    curl ${base}/readyz

MSG
exec "${gw[@]}" serve
