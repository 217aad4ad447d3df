#!/usr/bin/env python3
"""PyTorch eager reference for THAU's `bench train-step`.

One full training step of a small Llama-style decoder, plain PyTorch eager, f32, CPU:
zero_grad -> forward -> cross-entropy loss -> backward -> clip_grad_norm_(1.0) -> AdamW step.

Config (must match THAU's `bench train-step`):
  d_model 256, 4 layers, 4 heads (head_dim 64), n_kv_heads 4 (--kv-heads), SwiGLU hidden 688,
  vocab 8192, RMSNorm eps 1e-5 (weight only), no biases anywhere, RoPE theta 10000
  (rotate-half / HF Llama layout), causal SDPA, tied input/output embeddings (--untied to untie),
  seq 256, batch 8, AdamW lr 3e-4 betas (0.9, 0.95) wd 0.1 (foreach default), grad clip 1.0.

Usage:
  python bench/torch_train_step.py --threads 2 [--warmup 3] [--steps 10] [--json]
"""

import argparse
import json
import math
import os
import statistics
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (interop is always 1)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before measuring")
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--kv-heads", type=int, default=4, help="number of KV heads (GQA when < 4)")
    p.add_argument("--untied", action="store_true", help="separate lm_head instead of tied embeddings")
    p.add_argument("--match-params", type=int, default=None, metavar="N",
                   help="pick tied or untied embeddings so that the parameter count equals N "
                        "(train_step.sh passes THAU's count); error if neither matches")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON line only")
    a = p.parse_args()
    if a.steps < 1 or a.warmup < 0 or a.threads < 1:
        p.error("need --steps >= 1, --warmup >= 0, --threads >= 1")
    return a


args = parse_args()

# Pin the OpenMP / MKL pools before torch is imported so that no pool is ever created with the
# default (all cores) size. torch.set_num_threads below is the authoritative setting.
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
torch.set_num_interop_threads(1)

# ---- model config -----------------------------------------------------------------------------
D_MODEL = 256
N_LAYERS = 4
N_HEADS = 4
HEAD_DIM = D_MODEL // N_HEADS  # 64
FFN_HIDDEN = 688
VOCAB = 8192
NORM_EPS = 1e-5
ROPE_THETA = 10000.0
SEQ = 256
BATCH = 8

LR = 3e-4
BETAS = (0.9, 0.95)
WEIGHT_DECAY = 0.1
CLIP = 1.0


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=NORM_EPS):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_cos_sin(seq, head_dim, theta=ROPE_THETA):
    """HF Llama layout: frequencies for the first half repeated for the second half."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    t = torch.arange(seq, dtype=torch.float32)
    freqs = torch.outer(t, inv_freq)  # (seq, head_dim/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (seq, head_dim)
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x, cos, sin):
    # x: (B, H, T, hd); cos/sin: (T, hd) broadcast over B, H
    return x * cos + rotate_half(x) * sin


class Attention(nn.Module):
    def __init__(self, n_kv_heads):
        super().__init__()
        assert N_HEADS % n_kv_heads == 0
        self.n_kv = n_kv_heads
        self.q_proj = nn.Linear(D_MODEL, N_HEADS * HEAD_DIM, bias=False)
        self.k_proj = nn.Linear(D_MODEL, n_kv_heads * HEAD_DIM, bias=False)
        self.v_proj = nn.Linear(D_MODEL, n_kv_heads * HEAD_DIM, bias=False)
        self.o_proj = nn.Linear(N_HEADS * HEAD_DIM, D_MODEL, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, N_HEADS, HEAD_DIM).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv, HEAD_DIM).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv, HEAD_DIM).transpose(1, 2)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        if self.n_kv != N_HEADS:  # GQA: repeat KV heads (HF repeat_kv semantics)
            rep = N_HEADS // self.n_kv
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).reshape(B, T, D_MODEL)
        return self.o_proj(y)


class SwiGLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate_proj = nn.Linear(D_MODEL, FFN_HIDDEN, bias=False)
        self.up_proj = nn.Linear(D_MODEL, FFN_HIDDEN, bias=False)
        self.down_proj = nn.Linear(FFN_HIDDEN, D_MODEL, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, n_kv_heads):
        super().__init__()
        self.attn_norm = RMSNorm(D_MODEL)
        self.attn = Attention(n_kv_heads)
        self.mlp_norm = RMSNorm(D_MODEL)
        self.mlp = SwiGLU()

    def forward(self, x, cos, sin):
        x = x + self.attn(self.attn_norm(x), cos, sin)
        x = x + self.mlp(self.mlp_norm(x))
        return x


class Llama(nn.Module):
    def __init__(self, n_kv_heads, tied):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D_MODEL)
        self.layers = nn.ModuleList([Block(n_kv_heads) for _ in range(N_LAYERS)])
        self.norm = RMSNorm(D_MODEL)
        self.lm_head = nn.Linear(D_MODEL, VOCAB, bias=False)
        self.tied = tied
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, mean=0.0, std=0.02)
        if tied:
            self.lm_head.weight = self.embed.weight
        cos, sin = rope_cos_sin(SEQ, HEAD_DIM)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, idx):
        T = idx.shape[1]
        cos, sin = self.cos[:T], self.sin[:T]
        x = self.embed(idx)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.norm(x))


def main():
    torch.manual_seed(args.seed)
    tied = not args.untied
    if args.match_params is not None:
        # unique parameters: embedding + layers + final norm (+ lm_head when untied)
        kv_dim = args.kv_heads * HEAD_DIM
        block = 2 * D_MODEL * D_MODEL + 2 * D_MODEL * kv_dim + 3 * D_MODEL * FFN_HIDDEN + 2 * D_MODEL
        n_tied = VOCAB * D_MODEL + N_LAYERS * block + D_MODEL
        if args.match_params == n_tied:
            tied = True
        elif args.match_params == n_tied + VOCAB * D_MODEL:
            tied = False
        else:
            print(f"--match-params {args.match_params}: no match (tied {n_tied}, "
                  f"untied {n_tied + VOCAB * D_MODEL} with kv_heads {args.kv_heads})", file=sys.stderr)
            sys.exit(2)
    model = Llama(args.kv_heads, tied)
    model.train()

    # model.parameters() deduplicates the tied weight, so this is the unique parameter count.
    n_params = sum(p.numel() for p in model.parameters())
    n_embed = model.embed.weight.numel()
    n_lm_head = VOCAB * D_MODEL  # counted once more when tied: the matmul happens either way
    n_nonembed = n_params - n_embed if tied else n_params - n_embed - n_lm_head

    # FLOPs per token (Kaplan / Chinchilla convention, forward + backward):
    #   flops_per_token = 6 * (N_nonembedding + N_lm_head) + 12 * n_layers * seq * d_model
    # The first term is 2 (fwd) + 4 (bwd) FLOPs per multiply-accumulate of every weight matmul
    # (all non-embedding weights plus the lm_head projection, which is a real matmul even when tied
    # to the embedding; the embedding lookup itself is a gather and costs ~nothing). The second is
    # the attention score/value matmuls (QK^T and AV: 2 * 2 * seq * d_model per layer forward,
    # x3 for fwd+bwd), counted over the full, not the causal half, of the seq x seq matrix.
    flops_per_token = 6 * (n_nonembed + n_lm_head) + 12 * N_LAYERS * SEQ * D_MODEL

    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY)

    # Random token data, fixed seed, generated up front (not timed). seq+1 tokens -> shifted targets.
    g = torch.Generator().manual_seed(args.seed + 1)
    n_batches = args.warmup + args.steps
    data = torch.randint(0, VOCAB, (n_batches, BATCH, SEQ + 1), generator=g)

    def step(i):
        batch = data[i]
        inputs, targets = batch[:, :-1], batch[:, 1:]
        opt.zero_grad(set_to_none=True)
        logits = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        return loss

    times = []
    losses = []
    for i in range(n_batches):
        t0 = time.perf_counter()
        loss = step(i)
        t1 = time.perf_counter()
        losses.append(loss.item())  # outside the timed region; CPU eager is synchronous anyway
        if i >= args.warmup:
            times.append(t1 - t0)

    if not all(math.isfinite(v) for v in losses):
        print(f"non-finite loss: {losses}", file=sys.stderr)
        sys.exit(1)

    median = statistics.median(times)
    tokens = BATCH * SEQ
    tok_per_s = tokens / median
    gflops = flops_per_token * tok_per_s / 1e9

    if args.json:
        print(json.dumps({
            "engine": "pytorch",
            "version": torch.__version__,
            "threads": args.threads,
            "tok_per_s": round(tok_per_s, 2),
            "step_ms_median": round(median * 1e3, 3),
            "params": n_params,
            "gflops": round(gflops, 3),
        }))
    else:
        print(f"torch {torch.__version__}  threads={torch.get_num_threads()} "
              f"interop={torch.get_num_interop_threads()}")
        print(f"config: d_model {D_MODEL}, layers {N_LAYERS}, heads {N_HEADS}, kv_heads {args.kv_heads}, "
              f"ffn {FFN_HIDDEN}, vocab {VOCAB}, seq {SEQ}, batch {BATCH}, "
              f"{'tied' if tied else 'untied'} embeddings, f32")
        print(f"params: {n_params:,} (non-embedding {n_nonembed:,}, lm_head {n_lm_head:,}"
              f"{', tied' if tied else ''})")
        print(f"flops/token: {flops_per_token / 1e6:.2f} MFLOP "
              f"(6*(N_nonembed+N_lm_head) + 12*L*seq*d)")
        print(f"loss: first {losses[0]:.4f}, last {losses[-1]:.4f}")
        print(f"step times (ms): {' '.join(f'{t * 1e3:.1f}' for t in times)}")
        print(f"median step: {median * 1e3:.2f} ms  min {min(times) * 1e3:.2f} ms  "
              f"max {max(times) * 1e3:.2f} ms")
        print(f"tokens/s: {tok_per_s:.1f}")
        print(f"achieved: {gflops:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
