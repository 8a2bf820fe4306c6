"""The seed project's model API on the bitnet-npu C++ engine.

    from bitnet_npu import ModelArgs, Transformer, make_cache

    model = Transformer.from_pretrained("models/bitnet-b1.58-2B-4T", ModelArgs(use_kernel=True))
    cache = make_cache(model, 256)
    logits = model(tokens, cache, start_pos=0)          # [len(tokens), vocab], float32
    logits = model([next_id], cache, start_pos=len(tokens), last_only=True)  # [1, vocab]

Every engine call releases the GIL. Logits are NumPy arrays that own the
engine's buffer: nothing is copied.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from typing import Iterable, Optional, Sequence, Union

from . import _core

__all__ = ["ModelArgs", "Transformer", "make_cache", "KVCache", "GenerationStream"]

KVCache = _core.KVCache
GenerationStream = _core.Stream


@dataclasses.dataclass
class ModelArgs:
    """How to run the model (the seed's ModelArgs), and, once a model is
    loaded, its hyperparameters (model.args.dim, .n_layers, ...).

    use_kernel: run the BitLinears on the NPU kernels (CPU fallback when no
      NPU is usable); False runs everything on the CPU.
    device: overrides use_kernel: "auto" | "cpu" | "npu" | "npu-emu".
    xclbin_dir: the NPU xclbins (default $BITNET_XCLBIN_DIR, else build/npu).
    threads: CPU threads (0: every core).
    max_seq_len: context of the cache generate() uses (0: the model's).
    """

    use_kernel: bool = True
    xclbin_dir: Optional[str] = None
    threads: int = 0
    device: Optional[str] = None
    output_type: str = "auto"
    packed_scale: str = "auto"
    kv_type: str = "auto"
    max_seq_len: int = 0
    verbose: bool = False
    # Filled in from the model by Transformer.from_pretrained.
    dim: Optional[int] = None
    n_layers: Optional[int] = None
    n_heads: Optional[int] = None
    n_kv_heads: Optional[int] = None
    head_dim: Optional[int] = None
    hidden_dim: Optional[int] = None
    vocab_size: Optional[int] = None
    norm_eps: Optional[float] = None
    rope_theta: Optional[float] = None
    max_context: Optional[int] = None
    _model: Optional["Transformer"] = dataclasses.field(default=None, repr=False, compare=False)

    def resolved_device(self) -> str:
        if self.device:
            return self.device
        return "auto" if self.use_kernel else "cpu"


def _is_batch(tokens) -> bool:
    """[[id, ...]] or a 2-D array: a batch of sequences."""
    ndim = getattr(tokens, "ndim", None)
    if ndim is not None:
        return ndim == 2
    if isinstance(tokens, (list, tuple)) and tokens and isinstance(tokens[0], (list, tuple)):
        return True
    try:
        first = next(iter(tokens))
    except (StopIteration, TypeError):
        return False
    return hasattr(first, "__len__") and not isinstance(first, (str, bytes))


class Transformer:
    """A loaded model (the seed's Transformer). Use Transformer.from_pretrained."""

    def __init__(self, core: "_core.Model", args: ModelArgs):
        self._core = core
        self._session = None
        c = core.config
        self.args = dataclasses.replace(
            args, dim=c.hidden, n_layers=c.n_layers, n_heads=c.n_heads, n_kv_heads=c.n_kv_heads,
            head_dim=c.head_dim, hidden_dim=c.ffn, vocab_size=c.vocab, norm_eps=c.norm_eps,
            rope_theta=c.rope_theta, max_context=c.max_context)
        self.args._model = self

    @classmethod
    def from_pretrained(cls, path: str, args: Optional[ModelArgs] = None) -> "Transformer":
        """Loads a Hugging Face directory (config.json + safetensors) or any GGUF
        file `bitnet` reads. Errors are the CLI's: ValueError for a bad option,
        RuntimeError for a file that cannot be loaded."""
        args = args if args is not None else ModelArgs()
        core = _core.Model.load(str(path), threads=args.threads, device=args.resolved_device(),
                                xclbin_dir=args.xclbin_dir or "", output_type=args.output_type,
                                packed_scale=args.packed_scale, kv_type=args.kv_type, verbose=args.verbose)
        return cls(core, args)

    # --- the model -------------------------------------------------------
    @property
    def config(self):
        return self._core.config

    @property
    def vocab_size(self) -> int:
        return self._core.config.vocab

    @property
    def device_line(self) -> str:
        """Which backend runs the BitLinears, and why."""
        return self._core.device_line

    @property
    def default_sampling(self):
        """The model's own sampling defaults (generation_config.json)."""
        return self._core.default_sampling

    def describe(self) -> str:
        return self._core.describe()

    def __call__(self, tokens, cache: KVCache, start_pos: int = 0, *, last_only: bool = False,
                 n_logits: Optional[int] = None):
        """Runs tokens at positions [start_pos, start_pos + len(tokens)),
        writing their keys/values into cache. Returns float32 logits
        [n, vocab] for the last n positions: every position by default, the
        last one with last_only=True, or n_logits of them.

        A batch ([[ids], ...] or a [B, n] array) gives [B, n, vocab]; each
        sequence needs its own cache, so cache is then a list of B caches
        (start_pos an int or a list of B). Sequences of different lengths:
        forward_batch."""
        n = 1 if last_only else (-1 if n_logits is None else int(n_logits))
        if _is_batch(tokens):
            rows = list(tokens)
            if len(rows) == 1 and isinstance(cache, KVCache):
                return self._core.forward(rows[0], cache, int(start_pos), n)[None]
            if not isinstance(cache, (list, tuple)) or len(cache) != len(rows):
                raise ValueError(f"cache: a batch of {len(rows)} sequences needs a list of {len(rows)} caches "
                                 "(one per sequence, make_cache)")
            starts = start_pos if isinstance(start_pos, (list, tuple)) else [start_pos] * len(rows)
            if len(starts) != len(rows):
                raise ValueError(f"start_pos: {len(starts)} positions for {len(rows)} sequences")
            if len({len(r) for r in rows}) != 1:
                raise ValueError("tokens: sequences of different lengths go through forward_batch")
            return np.stack(self.forward_batch(list(zip(rows, cache, starts)), n_logits=n))
        return self._core.forward(tokens, cache, int(start_pos), n)

    def forward_batch(self, sequences, n_logits: int = 1):
        """One pass over several sequences: sequences is a list of
        (tokens, cache, start_pos) with one cache each. Every BitLinear runs
        once for all their tokens; each sequence's logits are bit-identical to
        running it alone. Returns a list of float32 [n, vocab] arrays (the
        last n_logits positions of each; -1: all)."""
        items = [(tokens, cache, int(start), int(n_logits)) for tokens, cache, start in sequences]
        return self._core.forward_batch(items)

    forward = __call__

    # --- text ------------------------------------------------------------
    @property
    def has_tokenizer(self) -> bool:
        return self._core.has_tokenizer

    def tokenize(self, text: str, bos: bool = False, special: bool = False) -> list:
        """Text -> ids, as `bitnet tokenize` (bos: prepend <|begin_of_text|>;
        special: special-token text such as <|eot_id|> becomes those tokens)."""
        ids = self._core.tokenize(text, special)
        return [self._core.config.bos_id] + ids if bos else ids

    encode = tokenize

    def detokenize(self, ids) -> str:
        return self._core.detokenize(ids)

    decode = detokenize

    def apply_chat_template(self, messages, add_generation_prompt: bool = True) -> list:
        """The ids of a conversation in the model's chat format, the same as
        `bitnet chat` sends. messages: [{"role": "system"|"user"|"assistant",
        "content": "..."}] (or (role, content) pairs)."""
        turns = []
        for m in messages:
            if isinstance(m, dict):
                if "role" not in m or "content" not in m:
                    raise ValueError("messages: each message needs a role and a content")
                turns.append((str(m["role"]), str(m["content"])))
            else:
                role, content = m
                turns.append((str(role), str(content)))
        return self._core.encode_chat(turns, add_generation_prompt)

    def is_end_of_generation(self, token_id: int) -> bool:
        return self._core.is_end_of_generation(int(token_id))

    # --- generation ------------------------------------------------------
    @property
    def session(self):
        """The cache generate() uses, with the tokens in it: a prompt that
        extends the previous one (a chat turn) only runs its new tokens."""
        if self._session is None:
            length = self.args.max_seq_len or self._core.config.max_context
            self._session = self._core.new_session(int(length))
        return self._session

    def reset(self) -> None:
        """Forgets the cached conversation."""
        if self._session is not None:
            self._session.reset()

    def sampling(self, temperature=None, top_k=None, top_p=None, seed=None, *, min_p=0.0,
                 repeat_penalty=1.0, repeat_last_n=64):
        """Sampling parameters: the model's defaults, overridden by those
        given, checked as the CLI checks them. seed None or < 0: random."""
        return self._core.sampling(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                                   repeat_penalty=repeat_penalty, repeat_last_n=repeat_last_n,
                                   seed=None if seed is None else int(seed))

    def prompt_ids(self, prompt, add_bos: bool = True, special: bool = False) -> list:
        """A prompt as ids: text gets <|begin_of_text|> (unless add_bos is
        False) as in `bitnet generate -p`; a list of messages goes through
        apply_chat_template; ids pass through."""
        if isinstance(prompt, str):
            ids = self._core.tokenize(prompt, special)
            ids = ([self._core.config.bos_id] if add_bos else []) + ids
            if not ids:
                raise ValueError("prompt: is empty")
            return ids
        prompt = list(prompt)
        if prompt and isinstance(prompt[0], dict):
            return self.apply_chat_template(prompt)
        return prompt

    def generate(self, prompt: Union[str, Sequence[int], Sequence[dict]], max_tokens: Optional[int] = 128,
                 temperature: Optional[float] = None, top_k: Optional[int] = None, top_p: Optional[float] = None,
                 seed: Optional[int] = None, stop: Union[None, str, Iterable[str]] = None, *,
                 min_p: float = 0.0, repeat_penalty: float = 1.0, repeat_last_n: int = 64,
                 ignore_eos: bool = False, add_bos: bool = True, special: bool = False) -> GenerationStream:
        """Streams the continuation of prompt as text pieces (whole UTF-8
        characters; int ids for a model without a tokenizer):

            for piece in model.generate("The capital of France is", max_tokens=32, stop=["\\n"]):
                print(piece, end="", flush=True)

        Sampling defaults are the model's generation config (temperature 0:
        greedy); seed None: random. Stops at end of turn/text, a stop string
        (not included in the text), max_tokens (None or < 0: until the
        context is full) or the end of the context. The stream's
        finish_reason ("stop", "length", "context_full", "cancelled"), ids and
        stats are there afterwards. A same-seed run gives the same tokens as
        `bitnet generate`. A later generate() on the same model supersedes
        an unfinished stream."""
        ids = self.prompt_ids(prompt, add_bos=add_bos, special=special)
        params = self.sampling(temperature, top_k, top_p, seed, min_p=min_p, repeat_penalty=repeat_penalty,
                               repeat_last_n=repeat_last_n)
        session = self.session
        if max_tokens is None or max_tokens < 0:
            max_tokens = max(session.capacity - len(ids), 0)
        else:
            max_tokens = min(int(max_tokens), max(session.capacity - len(ids), 0))
        if stop is None:
            stops = []
        elif isinstance(stop, str):
            stops = [stop]
        else:
            stops = [str(s) for s in stop]
        return _core.stream(session, ids, int(max_tokens), bool(ignore_eos), params, stops)

    def generate_text(self, prompt, max_tokens: Optional[int] = 128, **kwargs) -> str:
        """generate(), joined into one string."""
        return "".join(str(p) for p in self.generate(prompt, max_tokens, **kwargs))

    def __repr__(self) -> str:
        c = self._core.config
        return (f"<bitnet_npu.Transformer dim={c.hidden} n_layers={c.n_layers} vocab={c.vocab} "
                f"{self._core.device_line!r}>")


def make_cache(args_or_model: Union[ModelArgs, Transformer], length: Optional[int] = None) -> KVCache:
    """A KV cache for up to `length` positions (default: the model's context)
    of the model (or of model.args, the args of a loaded model)."""
    model = args_or_model
    if isinstance(args_or_model, ModelArgs):
        model = args_or_model._model
        if model is None:
            raise ValueError("make_cache: these ModelArgs belong to no loaded model; pass the Transformer "
                             "(or its .args) from Transformer.from_pretrained")
    if not isinstance(model, Transformer):
        raise TypeError("make_cache: expected a Transformer or its ModelArgs")
    if length is None:
        length = model.args.max_seq_len or model.config.max_context
    return model._core.new_cache(int(length))
