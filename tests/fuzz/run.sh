#!/usr/bin/env bash
# Runs every fuzz target of BUILD_DIR for SECONDS each (`make fuzz`), on a
# scratch copy of its corpus: fresh seeds from fuzz_seeds plus
# tests/fuzz/corpus/<target>/, so that a run never writes into the
# repository. A crash, leak, sanitizer report, timeout or out-of-memory fails
# the run; the input that caused it is kept under BUILD_DIR/fuzz-artifacts/.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
build=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
targets=(onnx_import_fuzz quote_fuzz sealed_blob_fuzz tensor_codec_fuzz session_request_fuzz
  yaml_fuzz)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
"$build/bin/fuzz_seeds" "$work/corpus"

export UBSAN_OPTIONS=print_stacktrace=1
failed=()
for target in "${targets[@]}"; do
  corpus="$work/corpus/$target"
  mkdir -p "$corpus"
  if [ -d "$here/corpus/$target" ]; then cp "$here/corpus/$target"/* "$corpus"/; fi
  options=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10
    -artifact_prefix="$artifacts/$target-" -print_final_stats=1)
  if [ -f "$here/$target.dict" ]; then options+=(-dict="$here/$target.dict"); fi
  log="$work/$target.log"
  if "$build/bin/$target" "${options[@]}" "$corpus" >"$log" 2>&1; then
    echo "fuzz: $target: ok, $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" |
      grep -o '[0-9]*$') runs in ${seconds}s"
  else
    echo "fuzz: $target: FAILED (input kept in $artifacts/)"
    tail -n 60 "$log"
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
