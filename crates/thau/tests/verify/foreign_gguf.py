#!/usr/bin/env python3
"""Write a tiny random Llama GGUF the way other tools do (not THAU's writer): the `gguf`
package, a vocabulary of a standard kind, then run it in llama.cpp and dump what THAU's tests
compare: llama.cpp's tokenization of each string, its greedy continuation of a prompt, and its
chat rendering with the file's template.

Kinds:
  spm          tokenizer.ggml.model = llama: SentencePiece pieces with scores, <unk> <s> </s>,
               256 <0xXX> byte tokens, add_space_prefix; a Llama-2 style [INST] template.
  bpe-llama3   tokenizer.ggml.model = gpt2, pre = llama-bpe (Llama 3 regex), specials
               <|begin_of_text|> <|end_of_text|> <|start_header_id|> <|end_header_id|> <|eot_id|>,
               the Llama 3 chat template.
  bpe-default  gpt2 with no tokenizer.ggml.pre (llama.cpp's default split), ChatML specials and
               template, no BOS added.

usage: foreign_gguf.py VERIFY_DIR KIND OUT.gguf STRINGS_JSON PROMPT N_NEW MESSAGES_JSON OUT.json
"""
import json, sys

import numpy as np

verify_dir, kind, out_gguf, strings, prompt, n_new, messages, out_json = sys.argv[1:9]
strings, n_new, messages = json.loads(strings), int(n_new), json.loads(messages)
sys.path.insert(0, verify_dir)

TEXT = """El niño come manzanas en la casa de su abuela. ¿Dónde está la estación? ¡Allí, junto al río!
La canción del pingüino suena en Aragón y en España. Los números 1234 y 2024 aparecen a menudo.
The quick brown fox jumps over the lazy dog. The children walk to the school every morning.
Hello world, this is a small language model that speaks English and Spanish. It's what they'll say.
"""

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA2_TEMPLATE = ("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
                   "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}"
                   "{% endif %}{% endfor %}")
LLAMA3_TEMPLATE = ("{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
                   "'<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}{% endfor %}"
                   "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
CHATML_TEMPLATE = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
                   "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

NORMAL, UNKNOWN, CONTROL, BYTE = 1, 2, 3, 6


def spm_vocab():
    """SentencePiece-style pieces from a BPE trained over '▁'-marked text (score = -rank)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tk.train_from_iterator([TEXT] * 10, trainers.BpeTrainer(vocab_size=300, show_progress=False))
    learned = sorted(tk.get_vocab().items(), key=lambda kv: kv[1])
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [UNKNOWN, CONTROL, CONTROL] + [BYTE] * 256
    scores = [0.0] * len(tokens)
    for piece, rank in learned:
        tokens.append(piece); types.append(NORMAL); scores.append(-float(rank))
    return dict(model="llama", tokens=tokens, types=types, scores=scores, bos=1, eos=2, add_bos=True,
                template=LLAMA2_TEMPLATE)


def bpe_vocab(specials, regex):
    from tokenizers import Tokenizer, Regex, models, pre_tokenizers, trainers
    tk = Tokenizer(models.BPE())
    if regex:
        tk.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(regex), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tk.train_from_iterator([TEXT] * 10, trainers.BpeTrainer(
        vocab_size=600, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    state = json.loads(tk.to_str())
    vocab = sorted(state["model"]["vocab"].items(), key=lambda kv: kv[1])
    merges = [m if isinstance(m, str) else " ".join(m) for m in state["model"]["merges"]]
    tokens = [t for t, _ in vocab] + specials
    types = [NORMAL] * len(vocab) + [CONTROL] * len(specials)
    return tokens, types, merges


def main():
    import gguf
    if kind == "spm":
        v = spm_vocab()
    elif kind == "bpe-llama3":
        sp = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
        tokens, types, merges = bpe_vocab(sp, LLAMA3_REGEX)
        v = dict(model="gpt2", pre="llama-bpe", tokens=tokens, types=types, merges=merges,
                 bos=tokens.index(sp[0]), eos=tokens.index(sp[1]), add_bos=True, template=LLAMA3_TEMPLATE)
    elif kind == "bpe-default":
        sp = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        tokens, types, merges = bpe_vocab(sp, None)
        v = dict(model="gpt2", pre=None, tokens=tokens, types=types, merges=merges,
                 bos=tokens.index(sp[0]), eos=tokens.index(sp[0]), add_bos=False, template=CHATML_TEMPLATE)
    else:
        raise SystemExit(f"unknown kind {kind}")

    n_vocab, d, layers, heads, kv_heads, ffn, ctx = len(v["tokens"]), 64, 2, 4, 2, 128, 256
    hd = d // heads
    rng = np.random.default_rng(7)
    w = gguf.GGUFWriter(out_gguf, "llama")
    w.add_name(f"foreign-{kind}")
    w.add_context_length(ctx)
    w.add_embedding_length(d)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_file_type(0)
    w.add_tokenizer_model(v["model"])
    if v.get("pre"):
        w.add_tokenizer_pre(v["pre"])
    w.add_token_list(v["tokens"])
    w.add_token_types(v["types"])
    if "scores" in v:
        w.add_token_scores(v["scores"])
    if "merges" in v:
        w.add_token_merges(v["merges"])
    w.add_bos_token_id(v["bos"])
    w.add_eos_token_id(v["eos"])
    w.add_add_bos_token(v["add_bos"])
    w.add_chat_template(v["template"])

    def mat(rows, cols, std=0.5):
        return (rng.standard_normal((rows, cols)) * std / np.sqrt(cols)).astype(np.float32)

    def norm(n):
        return (1.0 + 0.2 * rng.standard_normal(n)).astype(np.float32)

    w.add_tensor("token_embd.weight", (rng.standard_normal((n_vocab, d)) * 0.5).astype(np.float32))
    for i in range(layers):
        w.add_tensor(f"blk.{i}.attn_norm.weight", norm(d))
        w.add_tensor(f"blk.{i}.attn_q.weight", mat(d, d, 2.0))
        w.add_tensor(f"blk.{i}.attn_k.weight", mat(kv_heads * hd, d, 2.0))
        w.add_tensor(f"blk.{i}.attn_v.weight", mat(kv_heads * hd, d))
        w.add_tensor(f"blk.{i}.attn_output.weight", mat(d, d))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", norm(d))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", mat(ffn, d))
        w.add_tensor(f"blk.{i}.ffn_up.weight", mat(ffn, d))
        w.add_tensor(f"blk.{i}.ffn_down.weight", mat(d, ffn))
    w.add_tensor("output_norm.weight", norm(d))
    w.add_tensor("output.weight", mat(n_vocab, d, 8.0))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    from check_gguf import LCpp
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    m = LCpp(out_gguf, n_ctx=ctx)
    ids = m.tokenize(prompt, v["add_bos"])
    _, gen, gl = m.run(ids, n_new)
    tok = lambda i: m.llm._model.token_get_text(i)  # noqa: E731
    fmt = Jinja2ChatFormatter(template=v["template"], eos_token=tok(v["eos"]), bos_token=tok(v["bos"]),
                              add_generation_prompt=True)
    r = fmt(messages=messages)
    chat_ids = m.llm.tokenize(r.prompt.encode("utf-8"), add_bos=not r.added_special, special=True)
    vocab = llama_cpp.llama_model_get_vocab(m.llm._model.model)
    gaps = [float(np.sort(l)[-1] - np.sort(l)[-2]) for l in gl]
    json.dump({
        "tokenized": [m.tokenize(s, v["add_bos"]) for s in strings],
        "prompt_ids": ids,
        "gen_ids": gen,
        "gen_gaps": gaps,
        "chat_prompt": r.prompt,
        "chat_ids": chat_ids,
        "eog": [t for t in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t)],
    }, open(out_json, "w"))


main()
