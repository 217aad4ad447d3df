#!/usr/bin/env bash
# Cost of grammar-constrained tool calls per token, against the decode step it rides on.
#
# For each vocabulary size it trains a byte-level BPE tokenizer on CORPUS (`thau tokenizer
# train`), then `thau bench tool-mask` feeds three typical built-in calls through the
# constraint token by token and times, per token, a fresh walk of the token trie (what the mask
# costs without the cache of long strings) and the constraint's mask over a full row of logits,
# each without and with a 96-token budget. In the same run, `thau bench infer` times greedy
# decode on the m20 GGUF (20.5M parameters, random weights, vocab 8192: the size of an age-0
# model), so the table can say what share of a decoded token the mask adds.
#
# Environment:
#   THAU=path              THAU binary (default target/release/thau)
#   SKIP_BUILD=1           don't run `cargo build --release -p thau-cli` first
#   CORPUS=dir             text to train the tokenizers on (default data/corpus/train, as
#                          `thau data fetch --out data/corpus` writes it)
#   VOCABS="4096 16384 32768"
#   THREADS=2              threads for the decode timing
#   OUT=dir                tokenizers and GGUF (default /tmp/thau-bench-mask)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."   # repo root

THAU_BIN="${THAU:-target/release/thau}"
CORPUS="${CORPUS:-data/corpus/train}"
VOCABS="${VOCABS:-4096 16384 32768}"
THREADS="${THREADS:-2}"
OUT="${OUT:-/tmp/thau-bench-mask}"

if [[ ! -d "$CORPUS" ]]; then
    echo "error: no corpus at $CORPUS; run \`thau data fetch --out data/corpus\` or set CORPUS=dir" >&2
    exit 1
fi
[[ "${SKIP_BUILD:-}" == 1 ]] || cargo build --release -p thau-cli >&2
mkdir -p "$OUT"

"$THAU_BIN" bench make-gguf --shape m20 --dtype f32 --out "$OUT/m20-f32.gguf" >&2
decode=$("$THAU_BIN" --threads "$THREADS" bench infer --model "$OUT/m20-f32.gguf" --json)
tok_s=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["decode_tok_s"])' "$decode")
echo "m20 f32 decode: $tok_s tok/s ($THREADS threads)"
printf '%-7s %8s %8s %10s %10s %10s %10s %10s\n' vocab trie_ms allowed walk_us walk_b_us mask_us mask_b_us "mask/token"
for v in $VOCABS; do
    tok="$OUT/tok-$v.json"
    [[ -f "$tok" ]] || "$THAU_BIN" tokenizer train --corpus "$CORPUS" --vocab-size "$v" --out "$tok" >&2
    line=$("$THAU_BIN" bench tool-mask --tokenizer "$tok" --json)
    python3 - "$line" "$tok_s" "$v" <<'PY'
import json, sys
m, tok_s, v = json.loads(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
token_us = 1e6 / tok_s
print(f"{v:<7} {m['trie_ms']:8.1f} {m['mean_allowed']:8.0f} {m['walk_us']:10.1f} {m['walk_budgeted_us']:10.1f} "
      f"{m['mask_us']:10.1f} {m['mask_budgeted_us']:10.1f} {m['mask_budgeted_us'] / token_us * 100:9.1f}%")
PY
done
