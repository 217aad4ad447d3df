"""diffusers' side of bench/sd.sh: the SD 1.5 UNet, VAE and CLIP text encoder built from their
published configurations with random weights, timed as `thau bench sd` times THAU's.

Needs torch, diffusers and transformers (a separate venv: torch from PyPI is large; not CI).
Prints one JSON line with --json: size, dtype, threads, unet_step_s (median after the first of
--steps guided steps, batch 2), vae_decode_s, text_encode_s, per_image_20_steps_s.
"""

import argparse
import json
import statistics
import time

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

UNET = dict(
    act_fn="silu", attention_head_dim=8, block_out_channels=[320, 640, 1280, 1280],
    center_input_sample=False, cross_attention_dim=768,
    down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"], downsample_padding=1,
    flip_sin_to_cos=True, freq_shift=0, in_channels=4, layers_per_block=2, mid_block_scale_factor=1,
    norm_eps=1e-5, norm_num_groups=32, out_channels=4, sample_size=64,
    up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
)
VAE = dict(
    act_fn="silu", block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
    in_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32, out_channels=3,
    sample_size=512, up_block_types=["UpDecoderBlock2D"] * 4,
)
CLIP = dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
            max_position_embeddings=77, vocab_size=49408, hidden_act="quick_gelu", projection_dim=768)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**UNET).to(dtype).eval()
    vae = AutoencoderKL(**VAE).to(dtype).eval()
    clip = CLIPTextModel(CLIPTextConfig(**CLIP)).to(dtype).eval()
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
                          clip_sample=False, set_alpha_to_one=False)
    sched.set_timesteps(a.steps)
    with torch.inference_mode():
        ids = torch.full((2, 77), 49407, dtype=torch.long)
        ids[:, 0] = 49406
        t = time.perf_counter()
        emb = clip(ids)[0]
        text_s = time.perf_counter() - t
        lat = torch.randn(1, 4, a.size // 8, a.size // 8)
        step_s = []
        for ts in sched.timesteps:
            t = time.perf_counter()
            x = torch.cat([lat, lat]).to(dtype)
            out = unet(x, ts, encoder_hidden_states=emb).sample.float()
            u, c = out.chunk(2)
            lat = sched.step(u + 7.5 * (c - u), ts, lat).prev_sample
            step_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        vae.decode((lat / 0.18215).to(dtype))
        vae_s = time.perf_counter() - t
    rest = step_s[1:] or step_s
    unet_s = statistics.median(rest)
    d = dict(engine="diffusers", torch=torch.__version__, size=a.size, dtype=a.dtype, threads=a.threads,
             unet_step_s=unet_s, unet_steps_s=step_s, vae_decode_s=vae_s, text_encode_s=text_s,
             per_image_20_steps_s=text_s + 20 * unet_s + vae_s)
    print(json.dumps(d) if a.json else d)


if __name__ == "__main__":
    main()
