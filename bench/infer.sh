#!/usr/bin/env bash
# Side-by-side inference benchmark: THAU's engine vs llama.cpp on the very same GGUF files.
#
# For each shape (m20 = 20.5M params, m100 = 97.5M; random weights, vocab 8192, context 512, as
# in ../shared/verify/README.md) and weight type, it writes one GGUF with `thau bench make-gguf`,
# then alternates `thau bench infer` and llama.cpp (../shared/verify/bench.py, via the
# llama-cpp-python wheel) ROUNDS times. Both measure the same thing: a 128-token prompt (prefill),
# then 128 greedy tokens one by one (decode), best of two repetitions. Prints a table of medians
# and the THAU/llama.cpp ratios.
#
# Environment:
#   THAU=path             THAU binary (default target/release/thau)
#   SKIP_BUILD=1          don't run `cargo build --release -p thau-cli` first
#   VERIFY_VENV=dir       venv with llama-cpp-python (default .venv-verify, made by .ci/run)
#   SHAPES="m20 m100"     model shapes
#   DTYPES="f32 f16 q8_0" weight types
#   THREADS=2             threads for both engines
#   ROUNDS=5              alternating rounds per file; the table shows the medians (a 128-token
#                         m20 prefill takes ~40 ms and single rounds swing by ±15%)
#   OUT=dir               where the GGUF files go (default /tmp/thau-bench-infer)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."   # repo root

THAU_BIN="${THAU:-target/release/thau}"
VENV="${VERIFY_VENV:-.venv-verify}"
SHAPES="${SHAPES:-m20 m100}"
DTYPES="${DTYPES:-f32 f16 q8_0}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-5}"
OUT="${OUT:-/tmp/thau-bench-infer}"
BENCH_PY="../shared/verify/bench.py"

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import llama_cpp' 2>/dev/null; then
    echo "error: no llama-cpp-python in $VENV; run .ci/run once (it builds the venv) or see ../shared/verify/README.md" >&2
    exit 1
fi
[[ "${SKIP_BUILD:-}" == 1 ]] || cargo build --release -p thau-cli >&2
mkdir -p "$OUT"

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

printf '%-6s %-5s | %12s %12s %6s | %12s %12s %6s\n' shape dtype "thau prefill" "llama prefill" ratio "thau decode" "llama decode" ratio
for shape in $SHAPES; do
    for dtype in $DTYPES; do
        f="$OUT/$shape-$dtype.gguf"
        [[ -f "$f" ]] || "$THAU_BIN" bench make-gguf --shape "$shape" --dtype "$dtype" --out "$f" >/dev/null 2>&1
        tp=(); td=(); lp=(); ld=()
        for _ in $(seq "$ROUNDS"); do
            line=$("$THAU_BIN" --threads "$THREADS" bench infer --model "$f")
            tp+=("$(sed -E 's/.*prefill ([0-9.]+).*/\1/' <<<"$line")"); td+=("$(sed -E 's/.*decode ([0-9.]+).*/\1/' <<<"$line")")
            line=$(THREADS="$THREADS" "$VENV/bin/python" "$BENCH_PY" gguf "$f")
            lp+=("$(sed -E 's/.*prefill ([0-9.]+).*/\1/' <<<"$line")"); ld+=("$(sed -E 's/.*decode ([0-9.]+).*/\1/' <<<"$line")")
        done
        TP=$(printf '%s\n' "${tp[@]}" | median); TD=$(printf '%s\n' "${td[@]}" | median)
        LP=$(printf '%s\n' "${lp[@]}" | median); LD=$(printf '%s\n' "${ld[@]}" | median)
        printf '%-6s %-5s | %12.0f %12.0f %5.2fx | %12.1f %12.1f %5.2fx\n' "$shape" "$dtype" "$TP" "$LP" \
            "$(echo "$TP / $LP" | bc -l)" "$TD" "$LD" "$(echo "$TD / $LD" | bc -l)"
    done
done
