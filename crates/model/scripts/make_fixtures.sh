#!/usr/bin/env bash
# Prepares a git-ignored virtual environment at <repo>/.venv-model with the reference stack
# (torch 2.13.0, tensorflow-cpu, transformers, safetensors, llms-from-scratch, numpy) and runs
# make_fixtures.py. Usage:
#   crates/model/scripts/make_fixtures.sh           # small fixtures into crates/model/tests/fixtures/tiny
#   crates/model/scripts/make_fixtures.sh full      # GPT-2 124M shapes into models/parity-124m
# `cargo test` never needs this: the small fixtures are committed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
venv="${VENV:-$repo/.venv-model}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import torch, tensorflow, transformers, safetensors, llms_from_scratch, numpy" 2>/dev/null; then
    "$venv/bin/pip" install --quiet --upgrade pip
    # torch from the package index brings its CUDA libraries (~4.5 GB): it imports on CPU-only
    # machines too. llms-from-scratch is installed without its dependencies (jupyter, matplotlib
    # pins...); the modules used here need only torch, numpy, tensorflow and tiktoken.
    "$venv/bin/pip" install --quiet "torch==2.13.0" "tensorflow-cpu" "transformers" "safetensors" "numpy" "tiktoken" "tqdm" "matplotlib"
    "$venv/bin/pip" install --quiet --no-deps "llms-from-scratch==1.0.19"
fi
export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$venv/bin/python" "$here/make_fixtures.py" "$@"
