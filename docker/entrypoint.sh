#!/bin/sh
# Container entrypoint: `serve` (the default) migrates first, then serves; any other arguments
# run that CLI command (`docker compose exec gateway neuronetz-gateway …` bypasses this script).
set -eu
if [ "${1:-serve}" = "serve" ]; then
    [ "$#" -gt 0 ] && shift
    neuronetz-gateway migrate
    exec neuronetz-gateway serve --no-migrate "$@"
fi
exec neuronetz-gateway "$@"
