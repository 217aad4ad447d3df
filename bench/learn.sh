#!/usr/bin/env bash
# Self-learning benchmark: does one learning cycle teach a small pretrained THAU model
# invented facts it could not know, without making it forget?
#
#  1. trains a small model on the generated bilingual corpus (`thau train --preset demo --synthetic`),
#  2. writes the invented facts (`thau learn facts`: people of the fictional Velmora valley, their
#     village, birth year and trade, in Spanish and English) and adds them as documents,
#  3. scores closed-book accuracy, exact match, F1 and answer log-likelihood on HELD-OUT
#     paraphrased questions (worded unlike anything the question generator writes),
#  4. runs one learning cycle (`thau learn run`: questions → gaps → dataset → sweep → fine-tune
#     with replay → gate),
#  5. scores the held-out paraphrases again; the general held-out loss before/after comes from the
#     gate (the run's validation shard), and `thau eval` on the same val text is printed too.
#
# Environment:
#   THAU=path          THAU binary (default target/release/thau)
#   SKIP_BUILD=1       don't run `cargo build --release -p thau-cli` first
#   RUN=dir            run folder (default /tmp/thau-learn-bench; deleted first unless KEEP_RUN=1)
#   MINUTES=4          pretraining minutes (ignored with KEEP_RUN=1 and an existing run)
#   PEOPLE=60          invented people (3 facts each, both languages: 6×PEOPLE facts)
#   QUESTIONS=2000     questions the cycle generates (all sources)
#   LEARN_ARGS=""      extra `thau learn run` arguments (e.g. "--method lora", "--lr 1e-3 --steps 1500
#                      --batch-size 16", "--no-augment" for the generator's wordings only)
#   PRESET=demo        model preset of the pretraining (demo-2: about 2.2× the parameters)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."   # repo root

THAU_BIN="${THAU:-target/release/thau}"
RUN="${RUN:-/tmp/thau-learn-bench}"
MINUTES="${MINUTES:-4}"
PRESET="${PRESET:-demo}"
PEOPLE="${PEOPLE:-60}"
QUESTIONS="${QUESTIONS:-2000}"
LEARN_ARGS="${LEARN_ARGS:-}"

if [[ -z "${SKIP_BUILD:-}" ]]; then
    cargo build --release -p thau-cli
fi
if [[ -z "${KEEP_RUN:-}" || ! -d "$RUN" ]]; then
    rm -rf "$RUN"
    "$THAU_BIN" train --run "$RUN" --preset "$PRESET" --synthetic --minutes "$MINUTES" --batch-size 8 --seq-len 128 \
        --lr 2e-3 --warmup 50 --eval-every 200 --quiet
fi
"$THAU_BIN" learn facts --out "$RUN/facts" --people "$PEOPLE"
"$THAU_BIN" learn add --run "$RUN" "$RUN/facts/velmora_es.md" "$RUN/facts/velmora_en.md"

"$THAU_BIN" learn eval --run "$RUN" --questions "$RUN/facts/heldout.jsonl" --json > "$RUN/eval_before.json"
t0=$(date +%s)
# shellcheck disable=SC2086
"$THAU_BIN" learn run --run "$RUN" -n "$QUESTIONS" --json $LEARN_ARGS > "$RUN/learn_run.json"
t1=$(date +%s)
"$THAU_BIN" learn eval --run "$RUN" --questions "$RUN/facts/heldout.jsonl" --json > "$RUN/eval_after.json"

python3 - "$RUN/learn_run.json" "$RUN/eval_before.json" "$RUN/eval_after.json" "$((t1 - t0))" <<'PY'
import json, sys
rec = json.load(open(sys.argv[1]))
eb, ea = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
b, a = eb["summary"], ea["summary"]
g = rec["gate"]
print(f"learning run {rec['id']}: {rec['outcome']} ({rec['method']}, lr {rec['lr']:g}, {rec['steps']} steps, "
      f"{rec['data']['examples']} examples, replay {rec['data']['replay_windows_per_step']} windows/step, {sys.argv[4]} s)")
for r in g["reasons"]:
    print("  -", r)
print()
print("| measure | before | after | change |")
print("|---|---|---|---|")
def row(name, x, y, pct=False):
    if pct:
        print(f"| {name} | {x*100:.1f}% | {y*100:.1f}% | {(y-x)*100:+.1f} points |")
    else:
        print(f"| {name} | {x:.4f} | {y:.4f} | {y-x:+.4f} |")
print(f"| held-out paraphrases (n={b['questions']}) | | | |")
row("closed-book accuracy", b["accuracy"], a["accuracy"], True)
row("exact match", b["exact_match"], a["exact_match"], True)
row("token F1", b["f1"], a["f1"])
row("answer log-likelihood (nats/token)", b["answer_logprob"], a["answer_logprob"])
print(f"| gap questions (training wordings, n={g['before']['questions']}) | | | |")
row("closed-book accuracy", g["before"]["accuracy"], g["after"]["accuracy"], True)
row("answer log-likelihood", g["before"]["answer_logprob"], g["after"]["answer_logprob"])
gb, ga = g["general_loss_before"], g["general_loss_after"]
print(f"| general held-out loss (val shard) | {gb:.4f} | {ga:.4f} | {100*(ga-gb)/gb:+.2f}% |")
# Held-out accuracy per wording (the facts file writes six questions per person, in this order).
if "scored" in ea:
    names = ["¿De qué pueblo es X?", "¿Cuándo vino al mundo X?", "¿Cuál es el oficio de X?",
             "Which village is X from?", "In what year was X born?", "What is the job of X?"]
    print()
    print("| held-out wording | accuracy before | accuracy after |")
    print("|---|---|---|")
    for k, name in enumerate(names):
        sb = [s["correct"] for i, s in enumerate(eb["scored"]) if i % 6 == k]
        sa = [s["correct"] for i, s in enumerate(ea["scored"]) if i % 6 == k]
        print(f"| {name} | {100*sum(sb)/len(sb):.1f}% | {100*sum(sa)/len(sa):.1f}% |")
PY
