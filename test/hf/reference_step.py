"""A plain PyTorch RL step, the reference the torch engine is checked against (test/hf/torch-step.test.ts).

    python reference_step.py --model HF_DIR --batch BATCH.safetensors --config JSON --out DIR

Written from the objective's definition (trainer/algorithms/policy-loss.ts, verl core_algos), not from
the engine's worker: transformers loads the checkpoint in float32; each sequence of the cir-train-batch
file goes through the model on its own (no padding, no micro-batches); logprobs come from log_softmax
of the logits divided by the sequence's temperature; the loss is PPO-clip with dual clip (plus k3 KL and
an entropy bonus when configured), each token weighted by the batch's `weights`; then clip_grad_norm_
and one torch.optim.AdamW step that decays every weight except biases and norm weights.

--config is {"optimizer": OptimizerConfig, "policyLoss": PolicyLossConfig} (trainer/engines/types.ts,
trainer/algorithms/types.ts). Prints one JSON object: loss, grad_norm, pg_clipfrac, pg_clipfrac_lower,
entropy (token means over the loss tokens) and logprobs (before the step, aligned with input_ids, 0 at
each sequence's first token); saves the updated model with save_pretrained into --out.
"""
import argparse
import json
import warnings

import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM

warnings.filterwarnings("ignore")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    config = json.loads(args.config)
    opt, pol = config["optimizer"], config["policyLoss"]

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    with safe_open(args.batch, framework="pt") as f:
        b = {name: f.get_tensor(name) for name in f.keys()}
    offsets = b["offsets"].tolist()
    before = torch.zeros(offsets[-1])

    total_loss, tokens, clipped, lower, entropy_sum = 0.0, 0, 0, 0, 0.0
    for i in range(len(offsets) - 1):
        start, end = offsets[i], offsets[i + 1]
        ids = b["input_ids"][start:end].long()
        logits = model(input_ids=ids[None]).logits[0, :-1].float() / b["temperature"][i]
        log_probs = torch.log_softmax(logits, dim=-1)
        logp = log_probs.gather(-1, ids[1:, None])[:, 0]
        entropy = -(log_probs.exp() * log_probs).sum(-1)
        before[start + 1 : end] = logp.detach()

        w = b["weights"][start + 1 : end]
        old = b["old_logprobs"][start + 1 : end]
        adv = b["advantages"][start + 1 : end]
        ratio = torch.exp(torch.clamp(logp - old, min=-20.0, max=20.0))
        surrogate = -adv * ratio
        clipped_surrogate = -adv * torch.clamp(ratio, 1 - pol["clipLow"], 1 + pol["clipHigh"])
        pg = torch.max(surrogate, clipped_surrogate)
        is_clipped = clipped_surrogate > surrogate
        is_lower = torch.zeros_like(is_clipped)
        if pol["clipRatioC"] is not None:
            bound = -adv * pol["clipRatioC"]
            is_lower = (pg > bound) & (adv < 0)
            pg = torch.where(adv < 0, torch.min(pg, bound), pg)
        loss = (w * pg).sum() - pol["entropyCoef"] * (w * entropy).sum()
        if pol["klCoef"] > 0:
            log_ref_ratio = torch.clamp(b["ref_logprobs"][start + 1 : end] - logp, min=-20.0, max=20.0)
            kl = torch.clamp(log_ref_ratio.exp() - log_ref_ratio - 1, min=-10.0, max=10.0)
            loss = loss + pol["klCoef"] * (w * kl).sum()
        loss.backward()

        counted = w > 0
        total_loss += loss.item()
        tokens += int(counted.sum())
        clipped += int((is_clipped & counted).sum())
        lower += int((is_lower & counted).sum())
        entropy_sum += float((entropy.detach() * counted).sum())

    max_norm = opt["maxGradNorm"] if opt["maxGradNorm"] is not None else float("inf")
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm).item()
    no_decay = [p for name, p in model.named_parameters() if name.endswith(".bias") or "norm" in name]
    decay = [p for name, p in model.named_parameters() if not (name.endswith(".bias") or "norm" in name)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": opt["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=opt["lr"], betas=(opt["beta1"], opt["beta2"]), eps=opt["eps"],
    )
    optimizer.step()
    model.save_pretrained(args.out)
    print(json.dumps({
        "loss": total_loss, "grad_norm": grad_norm, "pg_clipfrac": clipped / tokens, "pg_clipfrac_lower": lower / tokens,
        "entropy": entropy_sum / tokens, "logprobs": before.tolist(),
    }))


if __name__ == "__main__":
    main()
