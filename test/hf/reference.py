"""The reference implementation's answers, for the conformance tests (test/hf/*.test.ts).

    python reference.py < request.json > answers.json

The request is {"dir": HF_DIR, "ops": [op, ...]}; the answer is a list with one result per op (or, for
{"requests": [{"dir": ..., "ops": [...]}, ...]}, one such list per request: one process, one import), computed by
transformers (AutoTokenizer, AutoModelForCausalLM, generate) and the tokenizers library. Ops:

  {"op": "tokenize", "texts": [...], "add_special_tokens": bool, "tokenizer_kwargs": {...}}
      -> {"transformers": [[ids]], "tokenizers": [[ids]], "decoded": [text], "decoded_skip_special": [text]}
      decoded: transformers' decode of its ids; decoded_skip_special: the same with skip_special_tokens=True.
      tokenizer_kwargs (optional) are passed to AutoTokenizer.from_pretrained, overriding tokenizer_config.json
      (e.g. {"clean_up_tokenization_spaces": true}).
  {"op": "chat", "messages": [...], "add_generation_prompt": bool, "kwargs": {...}}
      -> {"text": str, "ids": [ids]}
  {"op": "generate", "prompt": [ids], "turns": [{"append": [ids], "max_new_tokens": n}]}
      Greedy decoding with model.generate, one call per turn: each turn continues the whole sequence so
      far (prompt, earlier turns, the ids appended before it), as a code-integrated rollout does after a
      tool output. -> {"turns": [[ids]], "sequence": [ids], "logprobs": [per sequence token from
      position len(prompt)], "min_margin": smallest top-1 minus top-2 logit over the generated tokens}
      "weights": "fp16" or "bf16" (optional) rounds every weight to that type first (what an fp16 ONNX
      export or a bf16 checkpoint stores), still computing in float32.
"""

import json
import sys
import warnings

warnings.filterwarnings("ignore")


def tokenize(hf_tokenizer, raw_tokenizer, op):
    special = op.get("add_special_tokens", True)
    texts = op["texts"]
    ours = [hf_tokenizer.encode(t, add_special_tokens=special) for t in texts]
    raw = [e.ids for e in raw_tokenizer.encode_batch(texts, add_special_tokens=special)]
    decoded = [hf_tokenizer.decode(ids) for ids in ours]
    decoded_skip_special = [hf_tokenizer.decode(ids, skip_special_tokens=True) for ids in ours]
    return {"transformers": ours, "tokenizers": raw, "decoded": decoded, "decoded_skip_special": decoded_skip_special}


def chat(hf_tokenizer, op):
    kwargs = op.get("kwargs", {})
    text = hf_tokenizer.apply_chat_template(op["messages"], tokenize=False, add_generation_prompt=op["add_generation_prompt"], **kwargs)
    ids = hf_tokenizer.apply_chat_template(op["messages"], tokenize=True, add_generation_prompt=op["add_generation_prompt"], return_dict=False, **kwargs)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return {"text": text, "ids": list(ids)}


def generate(model, op):
    import torch

    sequence = list(op["prompt"])
    turns = []
    margins = []
    for turn in op["turns"]:
        sequence += turn.get("append", [])
        input_ids = torch.tensor([sequence])
        with torch.no_grad():
            out = model.generate(
                input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=turn["max_new_tokens"],
                do_sample=False,
                output_scores=True,
                return_dict_in_generate=True,
            )
        new = out.sequences[0, len(sequence):].tolist()
        for scores in out.scores:
            top = torch.topk(scores[0].float(), 2).values
            margins.append(float(top[0] - top[1]))
        turns.append(new)
        sequence += new
    with torch.no_grad():
        logits = model(torch.tensor([sequence])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    start = len(op["prompt"])
    per_token = [float(logprobs[t - 1, sequence[t]]) for t in range(start, len(sequence))]
    return {"turns": turns, "sequence": sequence, "logprobs": per_token, "min_margin": min(margins) if margins else None}


def answer(directory, ops):
    import torch
    from transformers import AutoTokenizer

    hf_tokenizer = None  # loaded on first use: building it from tokenizer.json takes seconds
    raw_tokenizer = None
    models = {}
    answers = []
    for op in ops:
        kind = op["op"]
        if kind == "tokenize":
            if raw_tokenizer is None:
                from tokenizers import Tokenizer

                raw_tokenizer = Tokenizer.from_file(f"{directory}/tokenizer.json")
            kwargs = op.get("tokenizer_kwargs")
            hf_tokenizer = hf_tokenizer or AutoTokenizer.from_pretrained(directory)
            tokenizer = AutoTokenizer.from_pretrained(directory, **kwargs) if kwargs else hf_tokenizer
            answers.append(tokenize(tokenizer, raw_tokenizer, op))
        elif kind == "chat":
            hf_tokenizer = hf_tokenizer or AutoTokenizer.from_pretrained(directory)
            answers.append(chat(hf_tokenizer, op))
        elif kind == "generate":
            weights = op.get("weights", "fp32")
            if weights not in models:
                from transformers import AutoModelForCausalLM

                model = AutoModelForCausalLM.from_pretrained(directory, dtype="float32").eval()
                if weights != "fp32":
                    # Parameters only: model.half() would also round buffers such as RoPE's inv_freq.
                    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[weights]
                    with torch.no_grad():
                        for parameter in model.parameters():
                            parameter.copy_(parameter.to(dtype).float())
                models[weights] = model
            answers.append(generate(models[weights], op))
        else:
            raise SystemExit(f"unknown op {kind}")
    return answers


def main():
    request = json.load(sys.stdin)
    if "requests" in request:
        json.dump([answer(r["dir"], r["ops"]) for r in request["requests"]], sys.stdout)
    else:
        json.dump(answer(request["dir"], request["ops"]), sys.stdout)


if __name__ == "__main__":
    main()
