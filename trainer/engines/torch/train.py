#!/usr/bin/env python3
"""The torch engine's worker: RL and supervised steps on a Hugging Face causal LM.

Driven by trainer/engines/torch/engine.ts over stdin/stdout, one JSON object per line each way
(requests {"cmd": ...}; replies {"ok": true, ...} or {"ok": false, "error": "..."}); logs go to
stderr. Batches and logprobs travel as safetensors files (README.md beside this file documents the
batch format); the TypeScript side builds every batch, so no statistics are computed here.

Model: AutoModelForCausalLM.from_pretrained(--model, dtype=float32) (LlamaForCausalLM,
Qwen2ForCausalLM, Qwen3ForCausalLM): fp32 master weights whatever the checkpoint's dtype; --dtype bf16
runs forward and backward under CUDA autocast. Export is save_pretrained in the checkpoint's own dtype
(--export-dtype), so vLLM or transformers load what the trainer publishes.

Several GPUs: run under torchrun. Rank 0 alone talks to the driver and broadcasts each request; every
rank trains the sequences rank::world_size of the batch, under DistributedDataParallel (--strategy ddp:
a replica per GPU) or FSDP2 (--strategy fsdp: parameters, gradients and optimizer state sharded across
the ranks, one unit per decoder layer, for models whose training state does not fit one GPU). The
per-token weights in the batch already carry the global normalisation, so the summed gradient is the
batch's: both average over ranks, hence the loss is scaled by world_size.

Objective (verl core_algos semantics, as trainer/algorithms/policy-loss.ts): PPO-clip with asymmetric
and dual clipping against the logged behaviour logprobs, optional k3 KL to reference logprobs,
optional entropy bonus, aggregated by the batch's per-token weights (micro-batches just sum).
"""
import argparse
import contextlib
import json
import math
import os
import sys
import time

SETUP_HINT = "install them with `npm run setup:python` (a .venv the engine finds) or `pip install torch transformers`"

try:
    import torch
    import torch.distributed as dist
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
        set_model_state_dict,
        set_optimizer_state_dict,
    )
    from transformers import AutoModelForCausalLM
except ImportError as e:  # the driver shows this line as the start-up error
    print(json.dumps({"ok": False, "error": f"{sys.executable}: {e}; the torch engine needs torch, transformers and safetensors: {SETUP_HINT}"}), flush=True)
    sys.exit(1)

EXPORT_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEFAULT_MICRO_BATCH_TOKENS = 8192


def log(message):
    print(f"[torch-engine] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Processes: one, or torchrun's ranks


class Ranks:
    """This process's place among the workers, and the few collectives the worker needs."""

    def __init__(self, device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda":
            if not torch.cuda.is_available():
                raise RuntimeError(f"--device cuda, but torch {torch.__version__} " + ("was built without CUDA" if torch.version.cuda is None else "sees no GPU"))
            if local >= torch.cuda.device_count():
                raise RuntimeError(f"rank {self.rank} needs GPU {local}, but only {torch.cuda.device_count()} are visible")
            self.device = torch.device("cuda", local)
            torch.cuda.set_device(self.device)
        elif device == "cpu":
            self.device = torch.device("cpu")
        else:
            raise ValueError(f"--device must be auto, cpu or cuda, got {device!r}")
        if self.world > 1:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def first(self):
        return self.rank == 0

    def broadcast(self, obj):
        """Rank 0's `obj` on every rank."""
        if self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def sum(self, values):
        """Element-wise sum over ranks of a list of numbers."""
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(t)
        return t.tolist()

    def max(self, value):
        """The largest of an integer over ranks."""
        t = torch.tensor([value], dtype=torch.int64, device=self.device)
        if self.world > 1:
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t.item())

    def gather_to_first(self, tensor):
        """Adds up every rank's tensor on rank 0 (ranks fill disjoint entries, so this gathers them)."""
        if self.world > 1:
            dist.reduce(tensor, dst=0)
        return tensor

    def close(self):
        if self.world > 1:
            dist.destroy_process_group()


# ---------------------------------------------------------------------------------------------
# Batch files


def read_batch(path):
    """The tensors of a cir-train-batch file (README.md), on the CPU."""
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != "cir-train-batch":
            raise ValueError(f"{path} is not a cir-train-batch file")
        batch = {name: f.get_tensor(name) for name in f.keys()}
    batch["offsets"] = batch["offsets"].long()
    return batch


class Chunk:
    """Sequences of a batch laid out as a right-padded [B, L] matrix."""

    def __init__(self, batch, seqs, device):
        offsets = batch["offsets"]
        starts = offsets[seqs]
        lengths = offsets[[i + 1 for i in seqs]] - starts
        t = torch.arange(int(lengths.max()))
        self.valid = t[None] < lengths[:, None]
        # Flat position in the batch of each [row, column] entry (0 where padded).
        self.index = torch.where(self.valid, starts[:, None] + t[None], 0)
        self.seqs = seqs
        self.device = device
        self.batch = batch

    def ids(self):
        return (self.batch["input_ids"].long()[self.index] * self.valid).to(self.device)

    def predicted(self, name):
        """[B, L-1] of a per-token array at the predicted positions 1..L-1 (0 where padded)."""
        values = self.batch[name].float()[self.index[:, 1:]] * self.valid[:, 1:]
        return values.to(self.device)

    def temperature(self):
        return self.batch["temperature"].float()[self.seqs].to(self.device)


# ---------------------------------------------------------------------------------------------
# Objective


def ppo_token_loss(logp, old, adv, clip_low, clip_high, clip_c):
    """Per-token PPO-clip loss with dual clip, and the masks of tokens each clip decided."""
    ratio = torch.exp(torch.clamp(logp - old, -20.0, 20.0))
    l1 = -adv * ratio
    l2 = -adv * torch.clamp(ratio, 1 - clip_low, 1 + clip_high)
    loss = torch.maximum(l1, l2)
    clipped = l2 > l1
    lower = torch.zeros_like(clipped)
    if clip_c is not None:
        l3 = -adv * clip_c
        lower = (loss > l3) & (adv < 0)
        loss = torch.where(adv < 0, torch.minimum(l3, loss), loss)
    return loss, clipped, lower


def k3_kl(logp, ref):
    kl = torch.clamp(ref - logp, -20.0, 20.0)
    return torch.clamp(torch.exp(kl) - kl - 1, -10.0, 10.0)


# ---------------------------------------------------------------------------------------------
# The worker


def checkpoint_dtype(model_dir):
    """The dtype config.json says the checkpoint's weights are in (transformers 5 `dtype`, 4 `torch_dtype`)."""
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    name = config.get("dtype") or config.get("torch_dtype") or "float32"
    if name not in EXPORT_DTYPES:
        raise ValueError(f"config.json says the weights are {name}; supported: {', '.join(EXPORT_DTYPES)}")
    return name


class Worker:
    def __init__(self, args, ranks):
        self.ranks = ranks
        self.device = ranks.device
        self.options = json.loads(args.options)
        if args.threads:
            torch.set_num_threads(args.threads)
        if args.dtype == "bf16" and self.device.type != "cuda":
            raise ValueError("--dtype bf16 is autocast on CUDA; train in fp32 on the CPU")
        self.autocast = args.dtype == "bf16"
        self.export_dtype = checkpoint_dtype(args.model) if args.export_dtype == "auto" else args.export_dtype
        self.module, info = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, output_loading_info=True)
        if info["missing_keys"] or info["unexpected_keys"] or info["mismatched_keys"]:
            # transformers would train freshly initialised tensors in place of missing ones: refuse.
            raise ValueError(f"the weights in {args.model} do not fit {type(self.module).__name__}: {info}")
        self.module.to(self.device)
        self.module.config.use_cache = False
        self.model = self.module
        self.sharded = ranks.world > 1 and args.strategy == "fsdp"
        if self.sharded:
            from torch.distributed.fsdp import fully_shard

            # One unit per decoder layer, then the rest (embeddings, final norm, head) at the root.
            for layer in self.module.model.layers:
                fully_shard(layer)
            fully_shard(self.module)
        elif ranks.world > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(self.module, device_ids=device_ids)
        self.optimizer = self.build_optimizer(self.options["optimizer"])
        self.steps = 0
        self.micro_tokens = self.options.get("microBatchTokens") or DEFAULT_MICRO_BATCH_TOKENS
        log(f"rank {ranks.rank}/{ranks.world}{' (fsdp)' if self.sharded else ''}: torch {torch.__version__} on {self.device}, {type(self.module).__name__} "
            f"with {self.parameters()} parameters, {'bf16 autocast' if self.autocast else 'fp32'}, exports {self.export_dtype}")

    def parameters(self):
        return sum(p.numel() for p in self.module.parameters())

    def build_optimizer(self, opt):
        """AdamW; weight decay on matrices only (not on biases and norm weights), as torch recipes group them."""
        decay = [p for p in self.module.parameters() if p.dim() > 1]
        no_decay = [p for p in self.module.parameters() if p.dim() <= 1]
        return torch.optim.AdamW(
            [{"params": decay, "weight_decay": opt["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}],
            lr=opt["lr"], betas=(opt["beta1"], opt["beta2"]), eps=opt["eps"],
        )

    # Micro-batches ------------------------------------------------------------------------------

    def micro_batches(self, batch):
        """This rank's sequences (rank::world_size) in groups of at most micro_tokens tokens, longest first."""
        offsets = batch["offsets"].tolist()
        mine = range(self.ranks.rank, len(offsets) - 1, self.ranks.world)
        lengths = {i: offsets[i + 1] - offsets[i] for i in mine}
        groups, current, tokens = [], [], 0
        for i in sorted(mine, key=lambda i: (-lengths[i], i)):
            if current and tokens + lengths[i] > self.micro_tokens:
                groups.append(current)
                current, tokens = [], 0
            current.append(i)
            tokens += lengths[i]
        if current:
            groups.append(current)
        return [Chunk(batch, g, self.device) for g in groups]

    def passes(self, chunks):
        """How many forward passes this rank makes: its chunks, or under FSDP as many as the busiest rank
        (every FSDP forward gathers parameters from all ranks, so the counts must match)."""
        return self.ranks.max(len(chunks)) if self.sharded else max(len(chunks), 1)

    def accumulating(self, last):
        """Gradients are reduced across ranks in the backward of the last micro-batch only."""
        if self.ranks.world == 1:
            return contextlib.nullcontext()
        if self.sharded:
            self.module.set_requires_gradient_sync(last)
            return contextlib.nullcontext()
        return contextlib.nullcontext() if last else self.model.no_sync()

    def logits(self, ids, **inputs):
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            return self.model(input_ids=ids, use_cache=False, **inputs).logits

    def token_logprobs(self, chunk, entropy_grad=False):
        """Logprob (and entropy) of each predicted token: [B, L-1], at each sequence's temperature."""
        ids = chunk.ids()
        L = ids.shape[1]
        mask = chunk.valid.to(self.device).long()
        logits = self.logits(ids, attention_mask=mask, position_ids=torch.arange(L, device=self.device)[None].expand_as(ids))
        log_probs = torch.log_softmax(logits[:, :-1].float() / chunk.temperature()[:, None, None], dim=-1)
        logp = log_probs.gather(-1, ids[:, 1:, None]).squeeze(-1)
        # -Σ p log p, not logsumexp - Σ p z: no cancellation between two large terms (16x closer to float64 at vocab 152k).
        with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
            entropy = -(log_probs.exp() * log_probs).sum(-1)
        return logp, entropy, log_probs

    def idle_forward(self):
        """A pass with no sequence (a rank with fewer micro-batches than the others): zero weight, same collectives."""
        return self.logits(torch.zeros(1, 2, dtype=torch.long, device=self.device)).float().sum() * 0.0

    def backward(self, chunks, loss_of):
        """Accumulates the gradient of Σ loss_of(chunk) over this rank's chunks, reduced across ranks in the last pass."""
        passes = self.passes(chunks)
        for k in range(passes):
            with self.accumulating(last=k == passes - 1):
                loss = loss_of(chunks[k]) if k < len(chunks) else self.idle_forward()
                (loss * self.ranks.world).backward()

    # Commands -----------------------------------------------------------------------------------

    def step(self, req):
        started = self.start()
        batch = read_batch(req["batch"])
        if not bool((batch["weights"] > 0).any()):
            raise ValueError("the batch has no loss tokens")
        pol = self.options["policyLoss"]
        keys = ["loss", "pg", "kl", "tokens", "clipped", "lower", "approx_kl", "entropy", "kl_sum"]
        sums = dict.fromkeys(keys, 0.0)

        def loss_of(chunk):
            logp, entropy, _ = self.token_logprobs(chunk, entropy_grad=pol["entropyCoef"] > 0)
            w = chunk.predicted("weights")
            old = chunk.predicted("old_logprobs")
            pg, clipped, lower = ppo_token_loss(logp, old, chunk.predicted("advantages"), pol["clipLow"], pol["clipHigh"], pol["clipRatioC"])
            kl = k3_kl(logp, chunk.predicted("ref_logprobs")) if pol["klCoef"] > 0 else torch.zeros_like(logp)
            loss = (w * pg).sum() + pol["klCoef"] * (w * kl).sum() - pol["entropyCoef"] * (w * entropy).sum()
            with torch.no_grad():
                on = w > 0
                for key, value in (("loss", loss), ("pg", (w * pg).sum()), ("kl", (w * kl).sum()), ("tokens", on.sum()),
                                   ("clipped", (clipped & on).sum()), ("lower", (lower & on).sum()), ("approx_kl", (-torch.clamp(logp - old, -20.0, 20.0) * on).sum()),
                                   ("entropy", (entropy * on).sum()), ("kl_sum", (kl * on).sum())):
                    sums[key] += value.item()
            return loss

        self.optimizer.zero_grad(set_to_none=True)
        self.backward(self.micro_batches(batch), loss_of)
        s = dict(zip(keys, self.ranks.sum([sums[k] for k in keys])))
        grad_norm = self.apply(req)
        n = s["tokens"]
        return {
            "loss": s["loss"], "pg_loss": s["pg"], "pg_clipfrac": s["clipped"] / n, "pg_clipfrac_lower": s["lower"] / n,
            "ppo_kl": s["approx_kl"] / n, "entropy": s["entropy"] / n, "kl": s["kl_sum"] / n, "grad_norm": grad_norm,
            "lr": self.lr(req), **self.finish(started, batch, int(n)),
        }

    def sft(self, req):
        started = self.start()
        batch = read_batch(req["batch"])
        offsets = batch["offsets"]
        mask = batch["loss_mask"].clone()
        mask[offsets[:-1][offsets[:-1] < offsets[1:]]] = 0  # the first token of a sequence is not predicted
        total = int(mask.sum())
        if total == 0:
            raise ValueError("no loss tokens in the supervised batch")
        sums = {"nll": 0.0, "hits": 0.0}

        def loss_of(chunk):
            logp, _, log_probs = self.token_logprobs(chunk)
            m = chunk.predicted("loss_mask")
            nll = -(m * logp).sum()
            with torch.no_grad():
                sums["nll"] += nll.item()
                sums["hits"] += ((log_probs.argmax(-1) == chunk.ids()[:, 1:]) & (m > 0)).sum().item()
            return nll / total

        self.optimizer.zero_grad(set_to_none=True)
        self.backward(self.micro_batches(batch), loss_of)
        nll, hits = self.ranks.sum([sums["nll"], sums["hits"]])
        grad_norm = self.apply(req)
        return {"loss": nll / total, "accuracy": hits / total, "grad_norm": grad_norm, "lr": self.lr(req), **self.finish(started, batch, total)}

    def start(self):
        """Starts a step's clock and its peak-memory count."""
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        return time.time()

    def finish(self, started, batch, loss_tokens):
        """The size and cost of a step: tokens fed forward, wall time, peak GPU memory (rank 0's)."""
        out = {"loss_tokens": loss_tokens, "tokens": int(batch["offsets"][-1]), "seconds": time.time() - started}
        if self.device.type == "cuda":
            out["peak_memory_gb"] = torch.cuda.max_memory_allocated(self.device) / 1024**3
        return out

    def lr(self, req):
        return req.get("lr") or self.options["optimizer"]["lr"]

    def apply(self, req):
        """Global-norm clipping and the AdamW update; returns the gradient norm before clipping."""
        params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
        max_norm = self.options["optimizer"]["maxGradNorm"]
        # The norm before clipping, over all ranks' shards under FSDP (an infinite limit clips nothing).
        total = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm is not None else math.inf)
        norm = (total.full_tensor() if hasattr(total, "full_tensor") else total).item()
        if not math.isfinite(norm):
            raise ValueError("non-finite gradient: the step was not applied")
        for g in self.optimizer.param_groups:
            g["lr"] = self.lr(req)
        self.optimizer.step()
        self.steps += 1
        return norm

    def logprobs(self, req):
        batch = read_batch(req["batch"])
        out = torch.zeros(int(batch["offsets"][-1]), dtype=torch.float32, device=self.device)
        with torch.no_grad():
            chunks = self.micro_batches(batch)
            for k in range(self.passes(chunks) if chunks or self.sharded else 0):
                if k >= len(chunks):
                    self.idle_forward()
                    continue
                chunk = chunks[k]
                logp, _, _ = self.token_logprobs(chunk)
                valid = chunk.valid[:, 1:]
                out[chunk.index[:, 1:][valid].to(self.device)] = logp[valid.to(self.device)]
        out = self.ranks.gather_to_first(out)
        if self.ranks.first:
            save_file({"logprobs": out.cpu()}, req["out"])
        return {}

    def export(self, req):
        """save_pretrained in the export dtype (config.json saying so); returns the files written."""
        out = req["dir"]
        full = self.full_weights()
        if not self.ranks.first:
            return {}
        dtype = EXPORT_DTYPES[self.export_dtype]
        # Cast on the CPU, one tensor per storage, so tied weights stay shared (save_pretrained drops the alias).
        cast = {}
        state = {}
        for name, t in full.items():
            key = (t.data_ptr(), t.shape)
            if key not in cast:
                cast[key] = t.detach().to(device="cpu", dtype=dtype)
            state[name] = cast[key]
        self.module.save_pretrained(out, state_dict=state)
        path = os.path.join(out, "config.json")
        with open(path) as f:
            config = json.load(f)
        # save_pretrained records the in-memory dtype (float32); the files hold export_dtype.
        config["dtype" if "dtype" in config or "torch_dtype" not in config else "torch_dtype"] = self.export_dtype
        with open(path, "w") as f:
            f.write(json.dumps(config, indent=2, sort_keys=True) + "\n")
        return {"files": sorted(os.listdir(out))}

    def full_weights(self):
        """Every weight, whole, on the CPU (gathered from the shards under FSDP: every rank must call it)."""
        return get_model_state_dict(self.module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def save(self, req):
        """Optimizer state (whole, keyed by parameter name, so a run resumes under any strategy and process
        count) and step count; the fp32 master weights too when the export rounds them."""
        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        optimizer = get_optimizer_state_dict(self.module, self.optimizer, options=options)
        master = self.full_weights() if self.export_dtype != "float32" else None
        if not self.ranks.first:
            return {}
        os.makedirs(req["dir"], exist_ok=True)
        path = os.path.join(req["dir"], "torch-optimizer.pt")
        torch.save({"steps": self.steps, "optimizer": optimizer}, path + ".tmp")
        os.replace(path + ".tmp", path)
        if master is not None:
            # Tied weights are one tensor; safetensors stores each storage once.
            seen = set()
            unique = {}
            for name, t in master.items():
                if t.data_ptr() not in seen:
                    seen.add(t.data_ptr())
                    unique[name] = t.contiguous()
            save_file(unique, os.path.join(req["dir"], "master.safetensors"))
        return {}

    def load(self, req):
        path = os.path.join(req["dir"], "torch-optimizer.pt")
        if not os.path.exists(path):
            raise FileNotFoundError(f"no torch engine state in {req['dir']} (was this run trained by another engine?)")
        state = torch.load(path, map_location="cpu", weights_only=True)
        master = os.path.join(req["dir"], "master.safetensors")
        if os.path.exists(master):
            # strict=False: a tied head is stored once, under the embedding's name.
            set_model_state_dict(self.module, load_file(master), options=StateDictOptions(full_state_dict=True, strict=False))
        set_optimizer_state_dict(self.module, self.optimizer, optim_state_dict=state["optimizer"], options=StateDictOptions(full_state_dict=True))
        self.steps = state["steps"]
        return {}


# ---------------------------------------------------------------------------------------------
# The request loop


def take_stdout():
    """The driver's channel: a private copy of stdout. Anything else that prints (library banners,
    progress bars, other ranks) is sent to stderr, so it cannot corrupt the JSON lines."""
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return channel


def reply(channel, message):
    if channel is not None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()


def next_request(ranks):
    """Rank 0 reads the driver's next request (end of input = exit) and every rank gets it."""
    req = None
    if ranks.first:
        line = sys.stdin.readline()
        try:
            req = json.loads(line) if line else {"cmd": "exit"}
        except json.JSONDecodeError:
            req = {"cmd": "invalid", "line": line[:200]}
    return ranks.broadcast(req)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="Hugging Face model directory (config.json + safetensors)")
    ap.add_argument("--options", required=True, help="JSON: {optimizer, policyLoss, microBatchTokens}")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"], help="bf16: autocast on CUDA, fp32 master weights")
    ap.add_argument("--export-dtype", default="auto", choices=["auto", *EXPORT_DTYPES], help="auto: the checkpoint's (config.json)")
    ap.add_argument("--strategy", default="ddp", choices=["ddp", "fsdp"], help="with torchrun: replicas (ddp) or sharded training state (fsdp)")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    first = int(os.environ.get("RANK", "0")) == 0
    channel = take_stdout() if first else None
    if not first:
        os.dup2(2, 1)
    try:
        ranks = Ranks(args.device)
        worker = Worker(args, ranks)
    except Exception as e:
        reply(channel, {"ok": False, "error": f"{type(e).__name__}: {e}"})
        sys.exit(1)
    handlers = {"step": worker.step, "sft": worker.sft, "logprobs": worker.logprobs, "export": worker.export, "save": worker.save, "load": worker.load}
    reply(channel, {"ok": True, "ready": True, "device": str(worker.device), "world_size": ranks.world, "parameters": worker.parameters(), "export_dtype": worker.export_dtype})
    while (req := next_request(ranks)).get("cmd") != "exit":
        try:
            if req.get("cmd") not in handlers:
                raise ValueError(f"unknown request {json.dumps(req)[:200]}")
            message = {"ok": True, **handlers[req["cmd"]](req), "steps": worker.steps}
        except Exception as e:  # reported to the driver, which raises it
            message = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        reply(channel, message)
    ranks.close()
    # Every reply is flushed and every file written. After a gloo group has run collectives, interpreter
    # shutdown can hang in native destructors (seen with torch 2.13 on CPU), so skip it.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
