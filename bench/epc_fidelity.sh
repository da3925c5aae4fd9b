#!/bin/bash
# EPC fidelity (issue 13, acceptance 1): one model in one sgx1 sim enclave,
# one engine thread pinned to CPU 0, measured alone and then with a CPU-bound
# competitor (`yes`) pinned to CPU 1, TRIALS times. Appends one table row per
# run to OUT, prefixed with the run kind, trial and 1-minute load average.
#
#   bench/epc_fidelity.sh MODEL FRAMES OUT      (from the repository root;
#                                                BIN defaults to build/bin)
set -euo pipefail
model=$1 frames=$2 out=$3
bin=${BIN:-build/bin}
for trial in ${TRIALS:-1 2}; do
  for mode in quiet competitor; do
    pid=""
    if [ "$mode" = competitor ]; then
      timeout 900 taskset -c 1 yes > /dev/null &
      pid=$!
    fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    taskset -c 0 "$bin/enclave_overhead" --models "$model" --profiles sgx1 --frames "$frames" \
      --threads 1 2>/dev/null | grep "^| $model " | sed "s/^/$mode trial$trial load$load /" >> "$out"
    if [ -n "$pid" ]; then
      kill "$pid"
      wait "$pid" 2>/dev/null || true
    fi
  done
done
