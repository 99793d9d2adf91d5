#!/usr/bin/env python3
"""The torch engine's worker: trains a Llama/Qwen2 decoder with the trainer's objective.

Driven by trainer/engines/torch/engine.ts over stdin/stdout, one JSON object per line each way
(requests {"cmd": ...}; replies {"ok": true, ...} or {"ok": false, "error": "..."}); logs go to
stderr. Tensors travel as safetensors files (trainer/engines/torch/README.md documents the batch
format). The TypeScript side owns every file format the API reads: this program receives weights
and returns weights, and the ONNX export is done by the same writer as the cpu engine's.

Model: Hugging Face transformers' LlamaForCausalLM / Qwen2ForCausalLM built from config.json when
transformers is importable (--impl hf, the default then); otherwise a built-in module with the same
parameter names and arithmetic (--impl builtin), so the same program runs where only torch exists.

Objective (verl core_algos semantics, as trainer/algorithms/policy-loss.ts): PPO-clip with
asymmetric and dual clipping against the logged behaviour logprobs, optional k3 KL to reference
logprobs, optional entropy bonus; per-token weights from the TypeScript side set the aggregation
(token-mean etc.), so micro-batches just sum.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# safetensors (the subset trainer/engines/safetensors.ts writes)

_DTYPES = {"F32": torch.float32, "I32": torch.int32, "U8": torch.uint8}
_NAMES = {v: k for k, v in _DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        buf = bytearray(data[base + begin : base + end])
        t = torch.frombuffer(buf, dtype=_DTYPES[e["dtype"]]) if end > begin else torch.empty(0, dtype=_DTYPES[e["dtype"]])
        out[name] = t.reshape(e["shape"])
    return out, meta


def write_safetensors(path, tensors, meta=None):
    header = {}
    if meta:
        header["__metadata__"] = meta
    offset = 0
    blobs = []
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        b = t.numpy().tobytes()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# The built-in decoder: HF's Llama/Qwen2 arithmetic and parameter names.


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        variance = x.float().pow(2).mean(-1, keepdim=True)
        return (x.float() * torch.rsqrt(variance + self.eps)).to(x.dtype) * self.weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads") or self.heads
        self.head_dim = c.get("head_dim") or c["hidden_size"] // self.heads
        bias = c.get("attention_bias", c["model_type"] == "qwen2")
        h = c["hidden_size"]
        self.q_proj = nn.Linear(h, self.heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(h, self.kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(h, self.kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(self.heads * self.head_dim, h, bias=False)

    def forward(self, x, cos, sin, mask):
        B, L, _ = x.shape
        q = self.q_proj(x).view(B, L, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, L, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, L, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.heads // self.kv_heads
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + mask
        ctx = torch.softmax(scores.float(), dim=-1).to(q.dtype) @ v
        return self.o_proj(ctx.transpose(1, 2).reshape(B, L, -1))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, ff = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(h, ff, bias=False)
        self.up_proj = nn.Linear(h, ff, bias=False)
        self.down_proj = nn.Linear(ff, h, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Body(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class BuiltinCausalLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.model = Body(c)
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        if c.get("tie_word_embeddings"):
            self.lm_head.weight = self.model.embed_tokens.weight
        d = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
        inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
        self.register_buffer("inv_freq", inv, persistent=False)

    def forward(self, input_ids, attention_mask, position_ids):
        x = self.model.embed_tokens(input_ids)
        freqs = position_ids[:, None, :, None].float() * self.inv_freq[None, None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        L = input_ids.shape[1]
        allowed = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()[None, None] & attention_mask[:, None, None, :].bool()
        mask = torch.zeros(allowed.shape, dtype=x.dtype, device=x.device).masked_fill(~allowed, torch.finfo(x.dtype).min)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        return self.lm_head(self.model.norm(x))


def build_model(config, impl):
    if impl == "hf":
        import transformers

        cls = {"llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM), "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM)}[config["model_type"]]
        hf = cls[1](cls[0](**config))

        class HfWrapper(nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = hf

            def forward(self, input_ids, attention_mask, position_ids):
                return self.inner(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False).logits

            def named_weights(self):
                return self.inner.state_dict()

            def load_weights(self, sd):
                missing, unexpected = self.inner.load_state_dict(sd, strict=False)
                missing = [m for m in missing if not (m == "lm_head.weight" and config.get("tie_word_embeddings"))]
                if missing or unexpected:
                    raise ValueError(f"weights do not fit the model: missing {missing}, unexpected {unexpected}")

        return HfWrapper()

    m = BuiltinCausalLM(config)

    def load_weights(sd):
        missing, unexpected = m.load_state_dict(sd, strict=False)
        missing = [k for k in missing if not (k == "lm_head.weight" and config.get("tie_word_embeddings"))]
        if missing or unexpected:
            raise ValueError(f"weights do not fit the model: missing {missing}, unexpected {unexpected}")

    m.load_weights = load_weights
    m.named_weights = m.state_dict
    return m


# ---------------------------------------------------------------------------------------------
# Objective


def ppo_token_loss(logp, old, adv, clip_low, clip_high, clip_c):
    log_ratio = torch.clamp(logp - old, -20.0, 20.0)
    ratio = torch.exp(log_ratio)
    l1 = -adv * ratio
    l2 = -adv * torch.clamp(ratio, 1 - clip_low, 1 + clip_high)
    clipped_loss = torch.maximum(l1, l2)
    clipped = l2 > l1
    lower = torch.zeros_like(clipped)
    if clip_c is not None:
        l3 = -adv * clip_c
        dual = torch.minimum(l3, clipped_loss)
        lower = (clipped_loss > l3) & (adv < 0)
        loss = torch.where(adv < 0, dual, clipped_loss)
    else:
        loss = clipped_loss
    return loss, clipped, lower


def k3_kl(logp, ref):
    kl = torch.clamp(ref - logp, -20.0, 20.0)
    return torch.clamp(torch.exp(kl) - kl - 1, -10.0, 10.0)


class Worker:
    def __init__(self, args):
        with open(args.config) as f:
            self.config = json.load(f)
        self.options = json.loads(args.options)
        self.device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device))
        if args.threads:
            torch.set_num_threads(args.threads)
        impl = args.impl
        if impl == "auto":
            try:
                import transformers  # noqa: F401

                impl = "hf"
            except ImportError:
                impl = "builtin"
        self.impl = impl
        self.model = build_model(self.config, impl)
        weights, _ = read_safetensors(args.weights)
        self.model.load_weights(weights)
        self.model.to(self.device)
        self.autocast = args.dtype == "bf16" and self.device.type == "cuda"
        opt = self.options["optimizer"]
        decay, no_decay = [], []
        seen = set()
        for name, p in self.model.named_parameters():
            if id(p) in seen:
                continue
            seen.add(id(p))
            (decay if p.dim() > 1 and not name.endswith("norm.weight") else no_decay).append(p)
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": opt["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}],
            lr=opt["lr"], betas=(opt["beta1"], opt["beta2"]), eps=opt["eps"],
        )
        self.steps = 0
        self.micro_tokens = self.options.get("microBatchTokens") or 8192
        log(f"torch {torch.__version__} on {self.device}, model impl {impl}, {sum(p.numel() for p in self.model.parameters())} parameters")

    # Batches ------------------------------------------------------------------------------------

    def chunks(self, offsets):
        """Sequence index groups of at most micro_tokens tokens, longest first (less padding)."""
        lengths = [offsets[i + 1] - offsets[i] for i in range(len(offsets) - 1)]
        order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
        out, cur, tokens = [], [], 0
        for i in order:
            if cur and tokens + lengths[i] > self.micro_tokens:
                out.append(cur)
                cur, tokens = [], 0
            cur.append(i)
            tokens += lengths[i]
        if cur:
            out.append(cur)
        return out

    def forward_chunk(self, t, offsets, seqs, grad):
        """Per-token logprob and entropy (aligned with input_ids; position 0 of each sequence is 0)."""
        L = max(offsets[i + 1] - offsets[i] for i in seqs)
        B = len(seqs)
        ids = torch.zeros(B, L, dtype=torch.long)
        att = torch.zeros(B, L, dtype=torch.long)
        temp = torch.ones(B)
        for r, i in enumerate(seqs):
            n = offsets[i + 1] - offsets[i]
            ids[r, :n] = t["input_ids"][offsets[i] : offsets[i + 1]].long()
            att[r, :n] = 1
            temp[r] = t["temperature"][i]
        ids, att, temp = ids.to(self.device), att.to(self.device), temp.to(self.device)
        pos = torch.arange(L, device=self.device)[None].expand(B, L)
        with torch.set_grad_enabled(grad), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            logits = self.model(ids, att, pos)
        z = logits[:, :-1].float() / temp[:, None, None]
        logz = torch.logsumexp(z, dim=-1)
        logp = z.gather(-1, ids[:, 1:, None]).squeeze(-1) - logz
        p = torch.softmax(z, dim=-1)
        entropy = logz - (p * z).sum(-1)
        hits = z.argmax(-1) == ids[:, 1:]
        return logp, entropy, hits, att

    def gather(self, t, name, offsets, seqs, L):
        """[B, L-1] view of a per-token array for predicted positions 1..L-1."""
        out = torch.zeros(len(seqs), L - 1, dtype=torch.float32)
        for r, i in enumerate(seqs):
            n = offsets[i + 1] - offsets[i]
            out[r, : n - 1] = t[name][offsets[i] + 1 : offsets[i + 1]].float()
        return out.to(self.device)

    # Commands -----------------------------------------------------------------------------------

    def step(self, req):
        started = time.time()
        t, _ = read_safetensors(req["batch"])
        offsets = t["offsets"].tolist()
        pol = self.options["policyLoss"]
        clip_c = pol["clipRatioC"]
        self.optimizer.zero_grad(set_to_none=True)
        sums = dict(loss=0.0, pg=0.0, kl=0.0, tokens=0, clipped=0, lower=0, approx_kl=0.0, entropy=0.0, kl_sum=0.0)
        for seqs in self.chunks(offsets):
            logp, ent, _, _ = self.forward_chunk(t, offsets, seqs, True)
            L = logp.shape[1] + 1
            w = self.gather(t, "weights", offsets, seqs, L)
            old = self.gather(t, "old_logprobs", offsets, seqs, L)
            adv = self.gather(t, "advantages", offsets, seqs, L)
            on = w > 0
            pg, clipped, lower = ppo_token_loss(logp, old, adv, pol["clipLow"], pol["clipHigh"], clip_c)
            loss = (w * pg).sum() - pol["entropyCoef"] * (w * ent).sum()
            kl = torch.zeros_like(logp)
            if pol["klCoef"] > 0:
                kl = k3_kl(logp, self.gather(t, "ref_logprobs", offsets, seqs, L))
                loss = loss + pol["klCoef"] * (w * kl).sum()
            loss.backward()
            with torch.no_grad():
                sums["loss"] += loss.item()
                sums["pg"] += (w * pg).sum().item()
                sums["kl"] += (w * kl).sum().item()
                sums["tokens"] += int(on.sum().item())
                sums["clipped"] += int((clipped & on).sum().item())
                sums["lower"] += int((lower & on).sum().item())
                sums["approx_kl"] += ((old - logp) * on).sum().item()
                sums["entropy"] += (ent * on).sum().item()
                sums["kl_sum"] += (kl * on).sum().item()
        if sums["tokens"] == 0:
            raise ValueError("the batch has no loss tokens")
        grad_norm = self.apply(req)
        n = sums["tokens"]
        return {
            "loss": sums["loss"], "pg_loss": sums["pg"], "pg_clipfrac": sums["clipped"] / n, "pg_clipfrac_lower": sums["lower"] / n,
            "ppo_kl": sums["approx_kl"] / n, "entropy": sums["entropy"] / n, "kl": sums["kl_sum"] / n, "grad_norm": grad_norm,
            "lr": self.lr(req), "loss_tokens": n, "tokens": int(offsets[-1]), "seconds": time.time() - started,
        }

    def sft(self, req):
        started = time.time()
        t, _ = read_safetensors(req["batch"])
        offsets = t["offsets"].tolist()
        self.optimizer.zero_grad(set_to_none=True)
        total = 0
        for i in range(len(offsets) - 1):
            total += int(t["loss_mask"][offsets[i] + 1 : offsets[i + 1]].sum().item())
        if total == 0:
            raise ValueError("no loss tokens in the supervised batch")
        nll, hits = 0.0, 0
        for seqs in self.chunks(offsets):
            logp, _, hit, _ = self.forward_chunk(t, offsets, seqs, True)
            m = self.gather(t, "loss_mask", offsets, seqs, logp.shape[1] + 1)
            loss = -(m * logp).sum() / total
            loss.backward()
            nll += -(m * logp).sum().item()
            hits += int((hit & (m > 0)).sum().item())
        grad_norm = self.apply(req)
        return {"loss": nll / total, "accuracy": hits / total, "grad_norm": grad_norm, "lr": self.lr(req), "loss_tokens": total, "tokens": int(offsets[-1]), "seconds": time.time() - started}

    def lr(self, req):
        return req.get("lr") or self.options["optimizer"]["lr"]

    def apply(self, req):
        max_norm = self.options["optimizer"]["maxGradNorm"]
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        norm = torch.sqrt(sum((p.grad.float() ** 2).sum() for p in params if p.grad is not None)).item()
        if not math.isfinite(norm):
            raise ValueError("non-finite gradient: the step was not applied")
        if max_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, max_norm)
        for g in self.optimizer.param_groups:
            g["lr"] = self.lr(req)
        self.optimizer.step()
        self.steps += 1
        return norm

    def logprobs(self, req):
        t, _ = read_safetensors(req["batch"])
        offsets = t["offsets"].tolist()
        out = torch.zeros(offsets[-1], dtype=torch.float32)
        with torch.no_grad():
            for seqs in self.chunks(offsets):
                logp, _, _, _ = self.forward_chunk(t, offsets, seqs, False)
                logp = logp.cpu()
                for r, i in enumerate(seqs):
                    n = offsets[i + 1] - offsets[i]
                    out[offsets[i] + 1 : offsets[i + 1]] = logp[r, : n - 1]
        write_safetensors(req["out"], {"logprobs": out})
        return {}

    def weights(self, req):
        sd = {k: v.float() for k, v in self.model.named_weights().items()}
        if self.config.get("tie_word_embeddings"):
            sd.pop("lm_head.weight", None)
        write_safetensors(req["out"], sd)
        return {}

    def save(self, req):
        os.makedirs(req["dir"], exist_ok=True)
        path = os.path.join(req["dir"], "torch-optimizer.pt")
        torch.save({"steps": self.steps, "optimizer": self.optimizer.state_dict()}, path + ".tmp")
        os.replace(path + ".tmp", path)
        return {}

    def load(self, req):
        state = torch.load(os.path.join(req["dir"], "torch-optimizer.pt"), map_location=self.device)
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps = state["steps"]
        return {"steps": self.steps}


def log(message):
    print(f"[torch-engine] {message}", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="HF config.json of the decoder")
    ap.add_argument("--weights", required=True, help="initial weights (safetensors, HF names)")
    ap.add_argument("--options", required=True, help="JSON: {optimizer, policyLoss, microBatchTokens}")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--impl", default="auto", choices=["auto", "hf", "builtin"])
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    worker = Worker(args)
    handlers = {"step": worker.step, "sft": worker.sft, "logprobs": worker.logprobs, "weights": worker.weights, "save": worker.save, "load": worker.load}
    print(json.dumps({"ok": True, "ready": True, "impl": worker.impl, "device": str(worker.device)}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("cmd") == "exit":
            break
        try:
            reply = {"ok": True, **handlers[req["cmd"]](req), "steps": worker.steps}
        except Exception as e:  # reported to the driver, which raises it
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
