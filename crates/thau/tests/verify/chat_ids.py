#!/usr/bin/env python3
"""Render a conversation with the chat template stored in a GGUF, the way llama-cpp-python's
chat completion does (its Jinja2 formatter, then llama.cpp tokenization with specials), and
print the prompt token ids as JSON.

usage: chat_ids.py VERIFY_DIR MODEL.gguf MESSAGES_JSON
"""
import json, sys

verify_dir, gguf, messages = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path.insert(0, verify_dir)
from check_gguf import LCpp  # noqa: E402
from llama_cpp.llama_chat_format import Jinja2ChatFormatter  # noqa: E402

m = LCpp(gguf)
meta = m.llm.metadata
template = meta["tokenizer.chat_template"]
vocab = lambda key: m.llm._model.token_get_text(int(meta[key]))  # noqa: E731
fmt = Jinja2ChatFormatter(template=template, eos_token=vocab("tokenizer.ggml.eos_token_id"),
                          bos_token=vocab("tokenizer.ggml.bos_token_id"), add_generation_prompt=True)
r = fmt(messages=messages)
ids = m.llm.tokenize(r.prompt.encode("utf-8"), add_bos=not r.added_special, special=True)
print(json.dumps({"prompt": r.prompt, "ids": ids, "stop": r.stop}))
