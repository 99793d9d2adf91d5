#!/usr/bin/env bash
# Creates the Python environment of the torch engine and of the transformers conformance tests:
# a venv (default .venv in the project root, or $CIR_VENV) with torch, transformers, safetensors,
# tokenizers and onnx from trainer/engines/torch/requirements.txt. Idempotent: an environment that
# already imports them is left alone. Uses pip's configured index; --retries 0 keeps an unreachable
# extra index from stalling every package.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${CIR_VENV:-$root/.venv}"
base="${CIR_BASE_PYTHON:-python3}"
[ -x /usr/bin/python3 ] && [ -z "${CIR_BASE_PYTHON:-}" ] && base=/usr/bin/python3
probe='import torch, transformers, safetensors, tokenizers, onnx'
requirements="$root/trainer/engines/torch/requirements.txt"
# A finished install leaves the hash of the requirements it installed: checking it costs nothing, where
# importing torch to probe takes seconds (and every test file asks).
marker="$venv/.cir-requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ "$(cat "$marker" 2>/dev/null)" = "$wanted" ]; then
  echo "python environment ready: $venv"
  exit 0
fi
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$probe" 2>/dev/null; then
  echo "$wanted" > "$marker"
  echo "python environment ready: $venv"
  exit 0
fi
if ! "$base" -m venv --help >/dev/null 2>&1; then
  echo "cannot create a venv with $base: install python3 and python3-venv (Debian: apt-get install python3-venv)" >&2
  exit 1
fi
echo "creating $venv (torch, transformers; ~1 GB, about a minute)" >&2
"$base" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --retries 0 --timeout 20 -r "$requirements"
"$venv/bin/python" -c "$probe; print('python environment ready:', '$venv', 'torch', torch.__version__, 'transformers', transformers.__version__)"
echo "$wanted" > "$marker"
