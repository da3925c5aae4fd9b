#!/usr/bin/env bash
# The demo: generate a model from the zoo, show its layers, and run a frame
# through it. (The multi-enclave demo cluster comes with the worker and
# orchestrator.)
set -euo pipefail
build=${1:-build}
serdab="$build/bin/serdab"
model=${MODEL:-resnet18}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== serdab zoo --name $model"
"$serdab" zoo --name "$model" --out "$work/$model.onnx" --seed 1
echo
echo "== serdab layers (first 12 of them)"
"$serdab" layers --model "$work/$model.onnx" | head -n 13
echo
echo "== serdab infer, 10 timed runs on 2 threads"
/usr/bin/python3 - "$work/input.bin" <<'PY'
import sys, numpy as np
np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32).tofile(sys.argv[1])
PY
"$serdab" infer --model "$work/$model.onnx" --input "$work/input.bin" --output "$work/output.bin" \
  --threads 2 --repeat 10
/usr/bin/python3 - "$work/output.bin" <<'PY'
import sys, numpy as np
logits = np.fromfile(sys.argv[1], dtype=np.float32)
top = np.argsort(logits)[::-1][:5]
print("top-5 classes:", ", ".join(f"{i} ({logits[i]:.3f})" for i in top))
PY
