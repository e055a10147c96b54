#!/usr/bin/env bash
# Build dist/neuronetz-gateway.pyz: one file holding the gateway and every dependency.
#
# Dependencies come only from packaging/requirements.lock, checked against its sha256 hashes, so a
# tampered or swapped package fails the build instead of landing in the zipapp. The pyz contains
# compiled extensions (uvloop, httptools, asyncpg, argon2, blacksheep): it runs on the Python
# minor version and platform it was built on (e.g. CPython 3.11 on Linux x86_64), nowhere else.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap                       # .venv with shiv (hash-checked) if missing
rm -rf build/site && mkdir -p build/site dist
pip=(.venv/bin/python -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install --require-hashes --no-deps --target build/site -r packaging/requirements.lock
rm -rf build/site/bin
"${pip[@]}" install --no-deps --no-build-isolation --target build/site .
# The wheel-built copy must not carry build leftovers into the zipapp.
rm -rf build/site/bin
.venv/bin/shiv --site-packages build/site --reproducible --compressed \
    --python "/usr/bin/env python3" \
    --entry-point neuronetz_gateway.cli.main:main \
    --output-file dist/neuronetz-gateway.pyz
python_tag=$(.venv/bin/python -c 'import sys, platform; print(f"cp{sys.version_info[0]}{sys.version_info[1]}-{platform.system().lower()}-{platform.machine()}")')
echo "built dist/neuronetz-gateway.pyz ($(du -h dist/neuronetz-gateway.pyz | cut -f1), for $python_tag only)"
