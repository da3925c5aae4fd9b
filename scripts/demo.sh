#!/usr/bin/env bash
# The demo: generate a model from the zoo, show its layers and run a frame
# through it; then start a local cluster (an orchestrator and three workers
# with SGX1-sized enclaves), apply a deployment to it, and stream a video
# made with FFmpeg through its enclaves.
set -euo pipefail
build=${1:-build}
serdab="$build/bin/serdab"
model=${MODEL:-resnet50}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT  # replaced by the cluster's cleanup below

echo "== serdab zoo --name $model"
"$serdab" zoo --name "$model" --out "$work/$model.onnx" --seed 1
echo
echo "== serdab layers (first 12 of them)"
# (Through a file: piped into head, the CLI could die of SIGPIPE under pipefail.)
"$serdab" layers --model "$work/$model.onnx" >"$work/layers.txt"
head -n 13 "$work/layers.txt"
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

# A local cluster: a deployment root, an orchestrator and three worker
# daemons on loopback ports, all speaking mutual TLS, and a plan applied to
# them. The daemons run until the demo ends, and are stopped then by pid.
echo
echo "== a local cluster: one orchestrator, three workers (mutual TLS on 127.0.0.1)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

wait_for_file() {  # FILE WHAT: the daemons write their port once serving
  for _ in $(seq 1 100); do
    [ -s "$1" ] && return 0
    sleep 0.1
  done
  echo "demo: $2 did not start; its log:" >&2
  cat "$work/$2.log" >&2
  exit 1
}

"$serdab" ca init --out "$work/root" >/dev/null
"$serdab" ca issue-platform --ca "$work/root" --out "$work/orch-platform" --id orch >/dev/null
"$serdab" ca issue-node --ca "$work/root" --name orch --role orchestrator --host 127.0.0.1 \
  --platform "$work/orch-platform" --out "$work/orch" >/dev/null
"$serdab" ca issue-user --ca "$work/root" --name demo --role admin --out "$work/admin" >/dev/null
"$build/bin/serdab-orchestrator" --state-dir "$work/orch-state" --tls-dir "$work/orch" \
  --root "$work/root/root.pub" --platform-dir "$work/orch-platform" \
  --listen 127.0.0.1:0 --port-file "$work/orch.port" \
  --heartbeat-interval-ms 500 --heartbeat-timeout-ms 3000 >"$work/orchestrator.log" 2>&1 &
pids+=($!)
wait_for_file "$work/orch.port" orchestrator
orchestrator="127.0.0.1:$(cat "$work/orch.port")"
for spec in edge-1:edge edge-2:edge cloud-1:cloud; do
  name=${spec%%:*}
  tier=${spec##*:}
  "$serdab" ca issue-platform --ca "$work/root" --out "$work/$name-platform" --id "$name" >/dev/null
  "$serdab" ca issue-node --ca "$work/root" --name "$name" --role worker --host 127.0.0.1 \
    --platform "$work/$name-platform" --out "$work/$name-tls" >/dev/null
  "$build/bin/serdab-worker" --platform "$work/$name-platform" --tls-dir "$work/$name-tls" \
    --state-dir "$work/$name-state" --listen 127.0.0.1:0 --port-file "$work/$name.port" \
    --orchestrator "$orchestrator" --label "tier=$tier" --label site=home >"$work/$name.log" 2>&1 &
  pids+=($!)
  wait_for_file "$work/$name.port" "$name"
done
cat >"$work/config.yaml" <<YAML
orchestrator: $orchestrator
credentials: admin
YAML
export SERDAB_CONFIG="$work/config.yaml"
for _ in $(seq 1 50); do
  [ "$("$serdab" get workers -o json | grep -c '"Ready"')" -eq 3 ] && break
  sleep 0.2
done
echo "\$ serdab get workers -o wide"
"$serdab" get workers -o wide

measurement=$("$serdab" enclave measure --epc-mib 93.5 | awk '/^mrenclave/ {print $2}')
cat >"$work/lobby.yaml" <<YAML
apiVersion: serdab/v1
kind: Deployment
metadata: {name: lobby}
# The model takes the camera's RGB bytes and normalises them itself (torchvision's
# ImageNet mean and std), in the first stage's enclave: frames travel as bytes.
model: {zoo: $model, seed: 1, input: {type: uint8}}
preprocess: {resize: [224, 224]}
workers: {selector: {site: home}, order: [edge, cloud]}
placement: {objective: throughput, max_stages: 3}
attestation:
  allow_simulation: true   # these are sim enclaves: they protect nothing from their host
  allow_debug: true        # unsigned enclaves are debug enclaves
  measurements: ["$measurement"]
YAML
echo
echo "\$ serdab apply -f lobby.yaml --dry-run"
"$serdab" apply -f "$work/lobby.yaml" --dry-run
echo
echo "\$ serdab apply -f lobby.yaml --wait"
"$serdab" apply -f "$work/lobby.yaml" --wait
echo
echo "\$ serdab describe deployment lobby"
"$serdab" describe deployment lobby
echo
echo "== a short video (4 s, 5 fps), made with FFmpeg, streamed through the deployment"
ffmpeg -nostdin -loglevel error -f lavfi -i testsrc=size=640x480:rate=5 -t 4 -pix_fmt yuv420p \
  "$work/lobby.mp4"
echo "\$ serdab stream -f lobby.yaml --source lobby.mp4 --output results.jsonl"
"$serdab" stream -f "$work/lobby.yaml" --source "$work/lobby.mp4" --output "$work/results.jsonl"
echo "(The three workers share this machine's $(nproc) cores, each stage on as many threads,"
echo "while the planner predicts each stage on cores of its own: the measured stage times"
echo "are about three times the predicted ones. bench/RESULTS.md has the CPU-bound ceiling.)"
echo
echo "first result:"
head -n 1 "$work/results.jsonl"
echo
echo "Every frame was sealed here to the first stage's enclave, crossed the workers"
echo "only as ciphertext between attested enclaves, and its result was sealed by the"
echo "last enclave for this client."
