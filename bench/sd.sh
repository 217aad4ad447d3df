#!/usr/bin/env bash
# Stable Diffusion 1.5 speed: the real SD 1.5 networks (CLIP ViT-L/14 text encoder, 860M UNet,
# VAE) with random weights, which cost exactly what the real weights cost. For each size and
# dtype, `thau bench sd` times STEPS guided UNet steps (batch 2: negative + positive prompt; the
# median after the first is reported), one VAE decode and the text encoding, and derives the
# time of a 20-step image (text + 20 × step + decode).
#
# The side-by-side figure is diffusers (PyTorch) on the same machine and threads when a venv with
# torch + diffusers is given (BASELINE_VENV, running bench/diffusers_sd.py); otherwise the
# table compares with the diffusers figures in ../shared/ANCHORS.md, measured elsewhere — say so
# when quoting it.
#
# Environment:
#   THAU=path           THAU binary (default target/release/thau)
#   SKIP_BUILD=1        don't run `cargo build --release -p thau-cli` first
#   THREADS=2           compute threads
#   SIZES="512 256"     image sides
#   DTYPES="f32 f16"     (bf16 has no CPU matmul in candle 0.11)
#   STEPS=3             UNet steps timed per run
#   BASELINE_VENV=dir   venv with torch and diffusers for the side-by-side run (optional)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

THAU_BIN="${THAU:-${CARGO_TARGET_DIR:-target}/release/thau}"
THREADS="${THREADS:-2}"
SIZES="${SIZES:-512 256}"
DTYPES="${DTYPES:-f32 f16}"
STEPS="${STEPS:-3}"
[[ "${SKIP_BUILD:-}" == 1 ]] || cargo build --release -p thau-cli >&2

# diffusers anchors (../shared/ANCHORS.md, 2 threads): size dtype → "s/UNet-step VAE-s total-20-s"
anchor() {
    case "$1 $2" in
        "512 f32") echo "10.1 16.4 219" ;;
        "512 bf16") echo "5.9 8.4 128" ;;
        "256 f32") echo "2.9 3.8 61" ;;
        *) echo "- - -" ;;
    esac
}

# diffusers runs fp32 beside THAU's f32, and bf16 (PyTorch's fast reduced precision on CPU:
# AVX512-BF16 kernels; its CPU fp16 convolutions are slow) beside THAU's f16.
baseline_dtypes() { case "$1" in f32) echo f32 ;; *) echo bf16 ;; esac; }

echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%F)" >&2
field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(" ".join(str(d[k]) for k in sys.argv[2:]))' "$@"; }
printf '| size | engine | dtype | threads | s per UNet step | VAE decode s | text s | 20-step image s |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for size in $SIZES; do
    best_thau="" best_base=""
    for dtype in $DTYPES; do
        line=$(RAYON_NUM_THREADS="$THREADS" "$THAU_BIN" --threads "$THREADS" bench sd --size "$size" --steps "$STEPS" --dtype "$dtype" --json)
        read -r unet vae text total < <(field "$line" unet_step_s vae_decode_s text_encode_s per_image_20_steps_s)
        printf '| %s | THAU | %s | %s | %.2f | %.2f | %.2f | %.0f |\n' "$size" "$dtype" "$THREADS" "$unet" "$vae" "$text" "$total"
        best_thau=$(python3 -c 'import sys; a,b=sys.argv[1:]; print(min(float(a), float(b)) if b else a)' "$total" "$best_thau")
        if [[ -n "${BASELINE_VENV:-}" ]]; then
            for bdtype in $(baseline_dtypes "$dtype"); do
                [[ " ${done_base:-} " == *" $size/$bdtype "* ]] && continue
                done_base="${done_base:-} $size/$bdtype"
                b=$("$BASELINE_VENV/bin/python" bench/diffusers_sd.py --size "$size" --dtype "$bdtype" --steps "$STEPS" --threads "$THREADS" --json)
                read -r bu bv bx bt < <(field "$b" unet_step_s vae_decode_s text_encode_s per_image_20_steps_s)
                printf '| %s | diffusers | %s | %s | %.2f | %.2f | %.2f | %.0f |\n' "$size" "$bdtype" "$THREADS" "$bu" "$bv" "$bx" "$bt"
                best_base=$(python3 -c 'import sys; a,b=sys.argv[1:]; print(min(float(a), float(b)) if b else a)' "$bt" "$best_base")
            done
        fi
    done
    if [[ -z "$best_base" ]]; then
        read -r bu bv bt < <(anchor "$size" f32)
        [[ "$bt" == "-" ]] || best_base="$bt"
        src="ANCHORS.md diffusers fp32 (not side by side)"
    else
        src="diffusers, same run"
    fi
    if [[ -n "$best_base" ]]; then
        python3 -c 'import sys; t,b,s,src=sys.argv[1:]; print(f"{s}x{s}: THAU best {float(t):.0f} s vs {src} best {float(b):.0f} s per 20-step image: ratio {float(t)/float(b):.2f} (goal <= 0.5)")' \
            "$best_thau" "$best_base" "$size" "$src" >&2
    fi
done
