#!/usr/bin/env bash
# The demo: the mock Ollama, the gateway on the embedded defaults (SQLite, in-process limits) in
# front of it, a demo tenant and key, and ready-to-paste examples. Needs only python3 >= 3.11.
# Ctrl-C stops everything. Ports: GATEWAY_BIND_PORT (8080) and DEMO_OLLAMA_PORT (11435).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/bootstrap
export GATEWAY_STATE_DIR="${GATEWAY_STATE_DIR:-$PWD/demo-state}"
export GATEWAY_BIND_PORT="${GATEWAY_BIND_PORT:-8080}"
mock_port="${DEMO_OLLAMA_PORT:-11435}"
export OLLAMA_BASE_URL="http://127.0.0.1:${mock_port}"
export OLLAMA_BACKENDS=""
export GATEWAY_PLAYGROUND=true
gw=(.venv/bin/neuronetz-gateway)

"${gw[@]}" mock-ollama --port "$mock_port" --token-delay 0.05 &
mock_pid=$!
trap 'kill "$mock_pid" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 50); do
    .venv/bin/python -c "import urllib.request; urllib.request.urlopen('$OLLAMA_BASE_URL')" 2>/dev/null && break
    sleep 0.1
done

"${gw[@]}" migrate >/dev/null
"${gw[@]}" list-tenants --json | grep -q '"name": "demo"' || "${gw[@]}" create-tenant --name demo >/dev/null
key=$("${gw[@]}" create-key --tenant demo --name "demo-$(date +%s)" --expires 1d --json \
      | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["key"])')
base="http://127.0.0.1:${GATEWAY_BIND_PORT}"
cat <<MSG

  neuronetz-gateway demo: gateway ${base} -> mock Ollama ${OLLAMA_BASE_URL}
  state: ${GATEWAY_STATE_DIR}
  demo key (shown once, valid 1 day):

    ${key}

  Playground (chat in the browser, streaming):
    ${base}/playground#key=${key}

  Native Ollama API (streams by default):
    curl ${base}/api/chat -H "Authorization: Bearer ${key}" \\
      -d '{"model": "llama3.2", "messages": [{"role": "user", "content": "hello"}]}'

  OpenAI-compatible API:
    curl ${base}/v1/chat/completions -H "Authorization: Bearer ${key}" \\
      -H "Content-Type: application/json" \\
      -d '{"model": "llama3.2", "messages": [{"role": "user", "content": "hello"}], "stream": true}'

  Python (pip install openai ollama):
    from openai import OpenAI
    client = OpenAI(base_url="${base}/v1", api_key="${key}")
    print(client.chat.completions.create(model="llama3.2", messages=[{"role": "user", "content": "hi"}]))

    import ollama
    client = ollama.Client(host="${base}", headers={"Authorization": "Bearer ${key}"})
    print(client.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}]))

  Refused, as it should be:
    curl -i ${base}/api/pull -d '{"model": "llama3.2"}'          # 403, always
    curl -i ${base}/api/tags                                     # 401 without a key

MSG
"${gw[@]}" serve
