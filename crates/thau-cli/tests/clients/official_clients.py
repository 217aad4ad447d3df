#!/usr/bin/env python3
"""Drive `thau serve` with the official `openai` and `ollama` Python clients, unmodified.

usage: official_clients.py BASE_URL MODEL [EMBEDDING_MODEL]   (e.g. http://127.0.0.1:11500 thau)
With EMBEDDING_MODEL (the server was started with --embedding-model), embeddings are checked
through both clients; without it, both must get a clear "not found" error.
Prints one line per check; exits non-zero on the first failure.
"""
import base64
import math
import sys

import ollama
import openai

base, model = sys.argv[1], sys.argv[2]
embed_model = sys.argv[3] if len(sys.argv) > 3 else None


def check(name, cond, detail=""):
    if not cond:
        print(f"FAIL {name}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok   {name}", flush=True)


oa = openai.OpenAI(base_url=f"{base}/v1", api_key="unused")
models = [m.id for m in oa.models.list()]
check("openai models.list", model in models, models)

msgs = [{"role": "system", "content": "Eres THAU."}, {"role": "user", "content": "¿Qué día viene después del lunes?"}]
r = oa.chat.completions.create(model=model, messages=msgs, max_tokens=8, temperature=0, seed=1)
text = r.choices[0].message.content
check("openai chat", r.choices[0].finish_reason in ("stop", "length") and r.usage.total_tokens > 0, r)

parts = []
for chunk in oa.chat.completions.create(model=model, messages=msgs, max_tokens=8, temperature=0, seed=1, stream=True):
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
check("openai chat stream equals non-stream (greedy)", "".join(parts) == text, (parts, text))

c = oa.completions.create(model=model, prompt="El barco", max_tokens=5, temperature=0)
check("openai completions", c.object == "text_completion" and c.usage.completion_tokens <= 5, c)

try:
    oa.chat.completions.create(model="no-such-model", messages=msgs, max_tokens=2)
    check("openai unknown model raises", False, "no error")
except openai.NotFoundError:
    check("openai unknown model raises NotFoundError", True)
try:
    oa.chat.completions.create(model=model, messages=msgs, max_tokens=2, temperature=9)
    check("openai bad temperature raises", False, "no error")
except openai.BadRequestError:
    check("openai bad temperature raises BadRequestError", True)

ol = ollama.Client(host=base)
tags = [m.model for m in ol.list().models]
check("ollama list", f"{model}:latest" in tags, tags)
check("ollama version", bool(ol._client.get("/api/version").json()["version"]))
g = ol.generate(model=model, prompt="Hola", options={"num_predict": 5, "temperature": 0})
check("ollama generate", g.done and g.eval_count <= 5 and g.total_duration > 0, g)
pieces = [p.response for p in ol.generate(model=model, prompt="Hola", stream=True, options={"num_predict": 5, "temperature": 0})]
check("ollama generate stream equals non-stream", "".join(pieces) == g.response, (pieces, g.response))
ch = ol.chat(model=model, messages=msgs, options={"num_predict": 6, "temperature": 0})
check("ollama chat", ch.message.role == "assistant" and ch.done, ch)
last = None
for last in ol.chat(model=model, messages=msgs, stream=True, options={"num_predict": 6, "temperature": 0}):
    pass
check("ollama chat stream ends with done", last is not None and last.done and last.done_reason in ("stop", "length"), last)
sh = ol.show(model)
check("ollama show", sh.modelinfo["general.architecture"] == "llama", sh)
check("ollama ps", ol.ps().models[0].model == f"{model}:latest")
try:
    ol.generate(model="llama3", prompt="x")
    check("ollama unknown model raises", False, "no error")
except ollama.ResponseError as e:
    check("ollama unknown model raises ResponseError 404", e.status_code == 404, e)

# Embeddings: the openai client asks for base64 by default and decodes it itself.
texts = ["The cat sits on the mat.", "A kitten is resting on a rug.", "Quarterly revenue grew by 12 percent."]
cos = lambda a, b: sum(x * y for x, y in zip(a, b))
if embed_model:
    e = oa.embeddings.create(model=embed_model, input=texts)
    vecs = [d.embedding for d in e.data]
    check("openai embeddings", len(vecs) == 3 and all(abs(math.sqrt(cos(v, v)) - 1) < 1e-3 for v in vecs)
          and e.usage.prompt_tokens > 0, e.usage)
    check("openai embeddings are meaningful", cos(vecs[0], vecs[1]) > cos(vecs[0], vecs[2]) + 0.3)
    f = oa.embeddings.create(model=embed_model, input=texts[0], encoding_format="float")
    check("openai embeddings float == base64", max(abs(a - b) for a, b in zip(f.data[0].embedding, vecs[0])) < 1e-6)
    o = ol.embed(model=embed_model, input=texts)
    check("ollama embed", len(o.embeddings) == 3 and cos(o.embeddings[0], vecs[0]) > 0.9999, len(o.embeddings))
    one = ol.embed(model=embed_model, input=texts[1])
    check("ollama embed one text", cos(one.embeddings[0], vecs[1]) > 0.9999)
    try:
        oa.embeddings.create(model=embed_model, input=[])
        check("openai empty embeddings input raises", False, "no error")
    except openai.BadRequestError:
        check("openai empty embeddings input raises BadRequestError", True)
else:
    try:
        oa.embeddings.create(model="text-embedding-3-small", input="hola")
        check("openai embeddings without a model raise", False, "no error")
    except openai.NotFoundError as e:
        check("openai embeddings without a model: NotFoundError naming --embedding-model", "--embedding-model" in str(e), e)
    try:
        ol.embed(model="nomic-embed-text", input="hola")
        check("ollama embed without a model raises", False, "no error")
    except ollama.ResponseError as e:
        check("ollama embed without a model: ResponseError 404", e.status_code == 404, e)
print("all client checks passed")
