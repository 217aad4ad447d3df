#!/usr/bin/env python3
"""Run a GGUF in llama.cpp (via ../shared/verify/check_gguf.py's loader) and dump what THAU's
tests compare: prompt ids (with BOS as the file asks), every prompt position's logits, the
greedy continuation and its logits, and which tokens llama.cpp treats as end of generation.

usage: llama_logits.py VERIFY_DIR MODEL.gguf PROMPT N_NEW OUT.json
"""
import json, sys

verify_dir, gguf, prompt, n_new, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
sys.path.insert(0, verify_dir)
from check_gguf import LCpp, gguf_meta  # noqa: E402
import llama_cpp  # noqa: E402

kv, _ = gguf_meta(gguf)
add_bos = bool(kv.get("tokenizer.ggml.add_bos_token", True))
m = LCpp(gguf)
ids = m.tokenize(prompt, add_bos)
pl, gen, gl = m.run(ids, n_new)
vocab = llama_cpp.llama_model_get_vocab(m.llm._model.model)
n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
json.dump({
    "prompt_ids": ids,
    "gen_ids": gen,
    "prompt_logits": pl.tolist(),
    "gen_logits": gl.tolist(),
    "n_vocab": n_vocab,
    "bos": llama_cpp.llama_vocab_bos(vocab),
    "eos": llama_cpp.llama_vocab_eos(vocab),
    "eog": [t for t in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t)],
}, open(out, "w"))
