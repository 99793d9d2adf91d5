"""Builds a small random-weight Hugging Face checkpoint with the reference implementation.

    python make_fixture.py --arch qwen2|llama|qwen3 --tokenizer DIR --out DIR [--seed N] [--no-onnx] [--sft FILE]

Writes, under --out:
  hf/       what `save_pretrained` writes for the real model class (Qwen2ForCausalLM, LlamaForCausalLM,
            Qwen3ForCausalLM): config.json, generation_config.json, model.safetensors, and the tokenizer
            (the real Qwen tokenizer and chat template, loaded with AutoTokenizer and saved again).
  optimum/  its ONNX export in the layout `optimum-cli export onnx --task text-generation-with-past`
            writes: model.onnx with inputs input_ids, attention_mask, position_ids,
            past_key_values.N.key/value and outputs logits, present.N.key/value, exported the way
            Optimum does it (torch.onnx.export of the model with a DynamicCache built from the past
            inputs), beside config.json, generation_config.json and the tokenizer files.

--sft FILE fine-tunes the random model on token sequences first ({"sequences": [{"ids": [...], "mask": [...]}],
"steps": n, "lr": x}; mask[t] = 1 where token t is a target), so that it behaves as a checkpoint a user brings:
the end-to-end test teaches it to answer with a code block. Only the transformer layers train (the 151,936-row
embedding, tied to the head, stays as drawn), which keeps the steps cheap on a CPU.

The shapes are tiny but keep each architecture's real features: grouped-query attention, Qwen2's q/k/v
biases and tied embeddings, Llama 3's rope scaling and untied head, Qwen3's q/k norms and a head_dim
that is not hidden_size / num_attention_heads. Weights are drawn with a larger spread than HF's init
(initializer_range 0.5) so that greedy choices are not near-ties that float rounding could flip.
"""

import argparse
import json
import os
import sys

import torch
from transformers import AutoTokenizer, GenerationConfig

# Qwen's padded vocabulary (151,669 tokenizer ids padded to a multiple of 128); ids past the tokenizer's
# exist in the model as in the real checkpoints.
VOCAB = 151936
QWEN_EOS = [151645, 151643]  # <|im_end|>, <|endoftext|>

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=4096,
    rms_norm_eps=1e-6,
    initializer_range=0.5,
    bos_token_id=151643,
    eos_token_id=QWEN_EOS[0],
    pad_token_id=QWEN_EOS[1],
)


def build_config(arch):
    if arch == "qwen2":
        from transformers import Qwen2Config, Qwen2ForCausalLM

        # As Qwen2.5-1.5B: tied embeddings, rope_theta 1e6.
        return Qwen2ForCausalLM, Qwen2Config(**COMMON, rope_theta=1_000_000.0, tie_word_embeddings=True)
    if arch == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        # As Llama 3.2: llama3 rope scaling, untied lm_head, no biases.
        rope_scaling = dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=512)
        return LlamaForCausalLM, LlamaConfig(**COMMON, rope_theta=500_000.0, rope_scaling=rope_scaling, tie_word_embeddings=False)
    if arch == "qwen3":
        from transformers import Qwen3Config, Qwen3ForCausalLM

        # As Qwen3: q/k RMSNorms per head, head_dim 32 while hidden_size / heads is 16.
        return Qwen3ForCausalLM, Qwen3Config(**COMMON, head_dim=32, rope_theta=1_000_000.0, tie_word_embeddings=True)
    raise SystemExit(f"unknown --arch {arch} (qwen2, llama, qwen3)")


class WithPast(torch.nn.Module):
    """The model with Optimum's flat signature: past key/values in, logits and present key/values out."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.layers = model.config.num_hidden_layers

    def forward(self, input_ids, attention_mask, position_ids, *past):
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        for i in range(self.layers):
            cache.update(past[2 * i], past[2 * i + 1], i)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, past_key_values=cache, use_cache=True)
        present = []
        for layer in out.past_key_values.layers:
            present += [layer.keys, layer.values]
        return (out.logits, *present)


def export_onnx(model, out_dir):
    config = model.config
    layers = config.num_hidden_layers
    kv_heads = config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    batch, seq, past_len = 2, 3, 4
    input_ids = torch.randint(0, 1000, (batch, seq))
    attention_mask = torch.ones(batch, past_len + seq, dtype=torch.long)
    position_ids = torch.arange(past_len, past_len + seq).unsqueeze(0).expand(batch, seq).contiguous()
    past = [torch.randn(batch, kv_heads, past_len, head_dim) for _ in range(2 * layers)]
    past_names = [f"past_key_values.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]
    present_names = [f"present.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]
    axes = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
        "logits": {0: "batch_size", 1: "sequence_length"},
    }
    axes.update({name: {0: "batch_size", 2: "past_sequence_length"} for name in past_names})
    axes.update({name: {0: "batch_size", 2: "total_sequence_length"} for name in present_names})
    os.makedirs(out_dir, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            WithPast(model),
            (input_ids, attention_mask, position_ids, *past),
            os.path.join(out_dir, "model.onnx"),
            input_names=["input_ids", "attention_mask", "position_ids", *past_names],
            output_names=["logits", *present_names],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def fine_tune(model, path):
    with open(path) as f:
        spec = json.load(f)
    model.train()
    model.get_input_embeddings().weight.requires_grad_(False)
    model.lm_head.weight.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=spec.get("lr", 1e-2), weight_decay=0.0)
    sequences = spec["sequences"]
    loss = None
    for _ in range(spec.get("steps", 60)):
        optimizer.zero_grad()
        total = sum(sum(s["mask"]) for s in sequences)
        loss = 0.0
        for s in sequences:
            ids = torch.tensor([s["ids"]])
            targets = torch.tensor([t for t, m in enumerate(s["mask"]) if m])
            hidden = model.model(input_ids=ids).last_hidden_state[0, targets - 1]
            logits = model.lm_head(hidden)
            nll = torch.nn.functional.cross_entropy(logits, ids[0, targets], reduction="sum") / total
            nll.backward()
            loss += nll.item()
        optimizer.step()
    model.eval()
    return loss


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", required=True)
    parser.add_argument("--tokenizer", required=True, help="directory with tokenizer.json and tokenizer_config.json")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-onnx", action="store_true")
    parser.add_argument("--sft", help="JSON token sequences to fine-tune on first")
    args = parser.parse_args()

    import warnings

    warnings.filterwarnings("ignore")
    torch.manual_seed(args.seed)
    model_class, config = build_config(args.arch)
    model = model_class(config).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    sft_loss = fine_tune(model, args.sft) if args.sft else None

    hf_dir = os.path.join(args.out, "hf")
    model.generation_config = GenerationConfig(bos_token_id=COMMON["bos_token_id"], eos_token_id=QWEN_EOS, pad_token_id=COMMON["pad_token_id"])
    model.save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)

    if not args.no_onnx:
        optimum_dir = os.path.join(args.out, "optimum")
        export_onnx(model, optimum_dir)
        model.config.save_pretrained(optimum_dir)
        model.generation_config.save_pretrained(optimum_dir)
        tokenizer.save_pretrained(optimum_dir)

    params = sum(p.numel() for p in model.parameters())
    json.dump({"arch": args.arch, "class": model_class.__name__, "parameters": params, "sft_loss": sft_loss, "files": sorted(os.listdir(hf_dir))}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
