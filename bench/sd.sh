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

echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
printf '| size | dtype | threads | THAU s/UNet step | THAU VAE decode s | THAU 20-step image s | diffusers s/step | diffusers VAE s | diffusers 20-step s | ratio (THAU/diffusers, 20-step) | baseline |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
for size in $SIZES; do
    for dtype in $DTYPES; do
        line=$(RAYON_NUM_THREADS="$THREADS" "$THAU_BIN" --threads "$THREADS" bench sd --size "$size" --steps "$STEPS" --dtype "$dtype" --json)
        read -r unet vae total < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["unet_step_s"], d["vae_decode_s"], d["per_image_20_steps_s"])' "$line")
        if [[ -n "${BASELINE_VENV:-}" ]]; then
            b=$("$BASELINE_VENV/bin/python" bench/diffusers_sd.py --size "$size" --dtype "$dtype" --steps "$STEPS" --threads "$THREADS" --json)
            read -r bu bv bt < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["unet_step_s"], d["vae_decode_s"], d["per_image_20_steps_s"])' "$b")
            src="diffusers, same machine"
        else
            read -r bu bv bt < <(anchor "$size" "$dtype")
            src="ANCHORS.md (other machine)"
        fi
        ratio=$(python3 -c 'import sys; a,b=sys.argv[1:]; print(f"{float(a)/float(b):.2f}" if b != "-" else "-")' "$total" "$bt")
        printf '| %s | %s | %s | %.2f | %.2f | %.0f | %s | %s | %s | %s | %s |\n' \
            "$size" "$dtype" "$THREADS" "$unet" "$vae" "$total" "$bu" "$bv" "$bt" "$ratio" "$src"
    done
done
