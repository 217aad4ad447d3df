#!/usr/bin/env bash
# Side-by-side training-step benchmark: THAU vs PyTorch eager (CPU, f32).
#
# For threads 1 and 2 it runs THAU's `bench train-step` and then bench/torch_train_step.py,
# alternating in the same run so that both see the same machine noise, and prints
#   threads | THAU tok/s | PyTorch tok/s | ratio (THAU/PyTorch)
#
# Environment:
#   THAU=path            THAU binary (default target/release/thau)
#   SKIP_BUILD=1         don't run `cargo build --release -p thau-cli` first
#   THAU_BENCH_VENV=dir  venv with torch + numpy (default /opt/thau-bench-venv)
#   THREADS="1 2"        thread counts to run
#   ROUNDS=1             rounds of (THAU, PyTorch) per thread count; the table shows the median
#   STEPS=10 WARMUP=3    timed and warm-up steps for both engines
#   THAU_BF16=1          also time THAU with bf16 matmuls (--matmul bf16, f32 master weights)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."   # repo root

THAU_BIN="${THAU:-target/release/thau}"
VENV="${THAU_BENCH_VENV:-/opt/thau-bench-venv}"
THREADS="${THREADS:-1 2}"
ROUNDS="${ROUNDS:-1}"
STEPS="${STEPS:-10}"
WARMUP="${WARMUP:-3}"
PY="$VENV/bin/python"

if [[ ! -x "$PY" ]] || ! "$PY" -c 'import torch' 2>/dev/null; then
    cat >&2 <<EOF
error: no PyTorch venv at $VENV. Create it with:
    python3 -m venv $VENV
    $VENV/bin/pip install torch numpy
(or point THAU_BENCH_VENV at an existing venv that has torch)
EOF
    exit 1
fi

if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
    echo "building THAU: cargo build --release -p thau-cli" >&2
    cargo build --release -p thau-cli >&2
fi
if [[ ! -x "$THAU_BIN" ]]; then
    echo "error: THAU binary not found at $THAU_BIN (build it, or set THAU=path)" >&2
    exit 1
fi

# json_field FIELD: read one JSON object on stdin and print FIELD.
if command -v jq >/dev/null 2>&1; then
    json_field() { jq -r ".$1"; }
else
    json_field() { "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$1"; }
fi

# last_json: the last line of stdin that looks like a JSON object (tolerates log lines).
last_json() { { grep -E '^[[:space:]]*\{' || true; } | tail -n 1; }

# median of the numbers given as arguments
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

declare -A THAU_TPS TORCH_TPS BF16_TPS
THAU_VER="" TORCH_VER=""
for n in $THREADS; do
    thau_runs=() torch_runs=() bf16_runs=()
    for ((r = 1; r <= ROUNDS; r++)); do
        out=$("$THAU_BIN" bench train-step --threads "$n" --steps "$STEPS" --warmup "$WARMUP" --json | last_json)
        [[ -n "$out" ]] || { echo "error: THAU printed no JSON line (threads $n)" >&2; exit 1; }
        echo "$out" >&2
        thau_runs+=("$(json_field tok_per_s <<<"$out")")
        THAU_VER=$(json_field version <<<"$out")
        thau_params=$(json_field params <<<"$out")
        if [[ "${THAU_BF16:-0}" == "1" ]]; then
            out=$("$THAU_BIN" bench train-step --matmul bf16 --threads "$n" --steps "$STEPS" --warmup "$WARMUP" --json | last_json)
            echo "bf16: $out" >&2
            bf16_runs+=("$(json_field tok_per_s <<<"$out")")
        fi

        # --match-params: same tied/untied embeddings as THAU's bench model (PyTorch's default is tied)
        out=$("$PY" bench/torch_train_step.py --threads "$n" --steps "$STEPS" --warmup "$WARMUP" \
            --match-params "$thau_params" --json | last_json)
        [[ -n "$out" ]] || { echo "error: PyTorch printed no JSON line (threads $n)" >&2; exit 1; }
        echo "$out" >&2
        torch_runs+=("$(json_field tok_per_s <<<"$out")")
        TORCH_VER=$(json_field version <<<"$out")
        torch_params=$(json_field params <<<"$out")
        if [[ "$thau_params" != "$torch_params" ]]; then
            echo "warning: parameter counts differ (THAU $thau_params, PyTorch $torch_params): configs may not match" >&2
        fi
    done
    THAU_TPS[$n]=$(median "${thau_runs[@]}")
    TORCH_TPS[$n]=$(median "${torch_runs[@]}")
    if [[ "${THAU_BF16:-0}" == "1" ]]; then BF16_TPS[$n]=$(median "${bf16_runs[@]}"); fi
done

echo
echo "Training step, Llama-style d256 L4 H4 ffn688 vocab8192 seq256 batch8 f32 AdamW"
echo "THAU $THAU_VER vs PyTorch $TORCH_VER eager; median of $ROUNDS round(s), $STEPS timed steps after $WARMUP warm-up"
printf '%-8s | %-11s | %-14s | %s\n' "threads" "THAU tok/s" "PyTorch tok/s" "ratio (THAU/PyTorch)"
printf '%-8s-|-%-11s-|-%-14s-|-%s\n' "--------" "-----------" "--------------" "--------------------"
for n in $THREADS; do
    awk -v n="$n" -v a="${THAU_TPS[$n]}" -v b="${TORCH_TPS[$n]}" \
        'BEGIN { printf "%-8s | %11.1f | %14.1f | %.3f\n", n, a, b, (b > 0 ? a / b : 0) }'
done
if [[ "${THAU_BF16:-0}" == "1" ]]; then
    echo
    echo "THAU with bf16 matmuls (AVX512_BF16, f32 accumulation and master weights) vs the same PyTorch f32 runs"
    printf '%-8s | %-15s | %s\n' "threads" "THAU bf16 tok/s" "ratio (THAU bf16/PyTorch f32)"
    for n in $THREADS; do
        awk -v n="$n" -v a="${BF16_TPS[$n]}" -v b="${TORCH_TPS[$n]}" \
            'BEGIN { printf "%-8s | %15.1f | %.3f\n", n, a, (b > 0 ? a / b : 0) }'
    done
fi
