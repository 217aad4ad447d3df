#!/usr/bin/env bash
# Growth vs scratch: does growing a small model into a bigger one reach a validation loss
# with fewer training FLOPs than training the bigger model from scratch?
#
#   (a) grown:   `demo` (0.99M params) for STEPS_SMALL steps, `thau grow` into `demo-2`
#                (2.18M, width ×1.5, 4 → 5 layers, function-preserving), then STEPS_GROWN steps;
#   (b) scratch: `demo-2` from random weights for STEPS_SCRATCH steps;
#
# on the same data (the embedded synthetic es/en corpus, one tokenizer and one validation
# split shared by both runs), batch BATCH × 128 tokens, AdamW lr 2e-3, warmup + cosine per age.
# `thau compare` then reports the training FLOPs (6·N + attention per token, forward and
# backward; ModelConfig::train_flops_per_token) and wall time each run needed to first reach
# the same validation loss (the higher of the two runs' best), and plots loss against FLOPs.
#
# Environment:
#   THAU=path          THAU binary (default target/release/thau; built unless SKIP_BUILD=1)
#   OUT=dir            where the runs, plot and report go (default bench/out/growth)
#   THREADS=2          compute threads
#   STEPS_SMALL=600 STEPS_GROWN=900 STEPS_SCRATCH=1500
#   BATCH=16           sequences of 128 tokens per step
#   METHOD=preserve    growth operator (`thau grow --method`: preserve, or stack for G_stack)
#   SMALL_MIN_LR=0.1   final LR of the small age as a fraction of 2e-3 (1.0 = constant LR:
#                      the small age is not annealed before growth)
#   GROWN_LR=2e-3 GROWN_WARMUP=30   peak LR and warmup steps of the grown age
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

THAU_BIN="${THAU:-target/release/thau}"
OUT="${OUT:-bench/out/growth}"
THREADS="${THREADS:-2}"
STEPS_SMALL="${STEPS_SMALL:-600}"
STEPS_GROWN="${STEPS_GROWN:-900}"
STEPS_SCRATCH="${STEPS_SCRATCH:-1500}"
BATCH="${BATCH:-16}"
METHOD="${METHOD:-preserve}"
SMALL_MIN_LR="${SMALL_MIN_LR:-0.1}"
GROWN_LR="${GROWN_LR:-2e-3}"
GROWN_WARMUP="${GROWN_WARMUP:-30}"

if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
    echo "building THAU: cargo build --release -p thau-cli" >&2
    cargo build --release -p thau-cli >&2
fi
rm -rf "$OUT"
mkdir -p "$OUT"
COMMON=(--quiet --threads "$THREADS" --batch-size "$BATCH" --seq-len 128
        --eval-every 25 --eval-batches 4 --log-every 25 --checkpoint-every 500)

echo "== (a) demo for $STEPS_SMALL steps, grow to demo-2, then $STEPS_GROWN steps" >&2
"$THAU_BIN" train --run "$OUT/grown" --preset demo --synthetic --vocab-size 2048 \
    --steps "$STEPS_SMALL" --lr 2e-3 --warmup 30 --min-lr-ratio "$SMALL_MIN_LR" "${COMMON[@]}" 2>&1 | tail -1
"$THAU_BIN" grow --run "$OUT/grown" --to-age 1 --preset demo-2 --method "$METHOD"
"$THAU_BIN" train --run "$OUT/grown" --age 1 --steps "$STEPS_GROWN" --lr "$GROWN_LR" --warmup "$GROWN_WARMUP" \
    "${COMMON[@]}" 2>&1 | tail -1

echo "== (b) demo-2 from scratch for $STEPS_SCRATCH steps, same tokenizer and data" >&2
mkdir -p "$OUT/scratch"
cp -r "$OUT/grown/tokenizer.json" "$OUT/grown/data" "$OUT/scratch/"
"$THAU_BIN" train --run "$OUT/scratch" --preset demo-2 \
    --steps "$STEPS_SCRATCH" --lr 2e-3 --warmup 30 "${COMMON[@]}" 2>&1 | tail -1

echo "== FLOPs and time to the same validation loss" >&2
"$THAU_BIN" compare --run "$OUT/grown" "$OUT/scratch" --label grown scratch --out "$OUT/growth.png" \
    | tee "$OUT/report.txt"
"$THAU_BIN" compare --run "$OUT/grown" "$OUT/scratch" --label grown scratch --json > "$OUT/report.json"
"$THAU_BIN" plot --run "$OUT/grown" --out "$OUT/grown-ages.png" >/dev/null
echo "wrote $OUT/report.txt, $OUT/report.json, $OUT/growth.png, $OUT/grown-ages.png" >&2
