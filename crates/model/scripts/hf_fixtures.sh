#!/usr/bin/env bash
# Prepares a git-ignored virtual environment at <repo>/.venv-hf (torch 2.13.0 + transformers)
# and runs hf_fixtures.py, the transformers side of the export tests. Usage:
#   crates/model/scripts/hf_fixtures.sh model                  # tiny GPT2ForSequenceClassification + logits
#   crates/model/scripts/hf_fixtures.sh tokenizer EXPORT_DIR   # ids of an exported tokenizer on the SMS collection
#   crates/model/scripts/hf_fixtures.sh check EXPORT_DIR [--cli BIN] [--n 300]
#                                        # transformers' probabilities vs `spam-cli classify`
# `cargo test` never needs this: the fixtures are committed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
venv="${VENV:-$repo/.venv-hf}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import torch, transformers, safetensors, numpy" 2>/dev/null; then
    "$venv/bin/pip" install --quiet --upgrade pip
    # torch from the package index brings its CUDA libraries; it runs on CPU-only machines too.
    "$venv/bin/pip" install --quiet "torch==2.13.0" "transformers" "safetensors" "numpy"
fi
export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$venv/bin/python" "$here/hf_fixtures.py" "$@"
