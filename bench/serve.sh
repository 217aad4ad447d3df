#!/usr/bin/env bash
# Serving throughput: single-stream vs concurrent streams through `thau serve`'s HTTP API, with
# the engine decoding one request at a time (--max-batch 1, "before") and with batched decoding
# (--max-batch 16, "after"), in one run, side by side.
#
# The model is a random-weight GGUF of the m20 shape (`thau bench make-gguf --shape m20`,
# 20.5M params, vocab 8192, context 512). For each engine setting the server is started on a
# loopback port, then bench/serve_load.py runs 1 stream and then STREAMS concurrent streams,
# each sending REQUESTS greedy /v1/completions of MAX_TOKENS tokens; aggregate tok/s counts the
# completion tokens of every response over the wall time.
#
# Environment:
#   THAU=path           THAU binary (default target/release/thau)
#   SKIP_BUILD=1        don't run `cargo build --release -p thau-cli` first
#   DTYPE=q8_0          weight type of the GGUF (f32, f16, q8_0)
#   STREAMS=16          concurrent clients of the concurrent case
#   REQUESTS=2          requests per client
#   MAX_TOKENS=64       tokens per request
#   THREADS=2           engine threads (thau --threads)
#   PORT=11500          first port used
#   OUT=dir             where the GGUF goes (default /tmp/thau-bench-serve)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."   # repo root

THAU_BIN="${THAU:-target/release/thau}"
DTYPE="${DTYPE:-q8_0}"
STREAMS="${STREAMS:-16}"
REQUESTS="${REQUESTS:-2}"
MAX_TOKENS="${MAX_TOKENS:-64}"
THREADS="${THREADS:-2}"
PORT="${PORT:-11500}"
OUT="${OUT:-/tmp/thau-bench-serve}"
PY="${PYTHON:-python3}"

[[ "${SKIP_BUILD:-}" == 1 ]] || cargo build --release -p thau-cli >&2
mkdir -p "$OUT"
f="$OUT/m20-$DTYPE.gguf"
[[ -f "$f" ]] || "$THAU_BIN" bench make-gguf --shape m20 --dtype "$DTYPE" --out "$f" >&2

field() { "$PY" -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

printf '%-22s %7s | %14s %14s %12s\n' engine streams "aggregate tok/s" "per-stream tok/s" "median lat s"
declare -A agg
for batch in 1 16; do
    port=$((PORT + batch))
    "$THAU_BIN" --threads "$THREADS" serve --model "$f" --port "$port" --max-batch "$batch" \
        --memory "$OUT/memory.sqlite" 2>"$OUT/serve-$batch.log" &
    pid=$!
    trap 'kill $pid 2>/dev/null || true' EXIT
    for _ in $(seq 600); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
        sleep 0.1
    done
    # Warm-up (first-touch of the weights, thread pool start).
    "$PY" bench/serve_load.py "http://127.0.0.1:$port" 1 1 8 >/dev/null
    for streams in 1 "$STREAMS"; do
        line=$("$PY" bench/serve_load.py "http://127.0.0.1:$port" "$streams" "$REQUESTS" "$MAX_TOKENS")
        name="max-batch $batch"
        [[ $batch == 1 ]] && name="$name (one at a time)" || name="$name (batched)"
        a=$(field "$line" aggregate_tok_s)
        agg[$batch-$streams]=$a
        printf '%-22s %7s | %14s %14s %12s\n' "$name" "$streams" "$a" "$(field "$line" per_stream_tok_s)" \
            "$(field "$line" latency_median_s)"
    done
    kill -TERM "$pid"
    wait "$pid" || true
    trap - EXIT
done
echo
echo "batched / one-at-a-time, $STREAMS streams: $(echo "${agg[16-$STREAMS]} / ${agg[1-$STREAMS]}" | bc -l | xargs printf '%.2f')x"
echo "batched, $STREAMS streams / 1 stream:      $(echo "${agg[16-$STREAMS]} / ${agg[16-1]}" | bc -l | xargs printf '%.2f')x"
