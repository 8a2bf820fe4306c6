"""python3 -m bitnet_npu.generate CKPT [--interactive] [--chat_format] [--sampling --temperature T]
                                    [--xclbin_dir D] [--max_tokens N] [--seed S]

The seed's generate.py on the bitnet-npu engine. CKPT is a Hugging Face
directory or a GGUF file. Prompts come from --prompt (repeatable), from a
"> " prompt with --interactive, or else one per line of stdin.

--chat_format runs the prompts as one conversation in the model's chat
format, exactly as `bitnet chat` does: the same template, the KV cache kept
across turns, /clear starts over, /bye quits, Ctrl-C stops a reply.
Without it each prompt is completed on its own, as `bitnet generate -p`.

Decoding is greedy unless --sampling (or --temperature) is given; sampling
then uses the model's generation config (temperature, top-p, top-k), as
`bitnet chat` and `bitnet generate` do, with --temperature/--top_k/--top_p
overriding it.
"""
from __future__ import annotations

import argparse
import random
import sys

from .model import ModelArgs, Transformer


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m bitnet_npu.generate",
                                description="Generate text or chat with a BitNet b1.58 model (bitnet-npu engine).")
    p.add_argument("ckpt", help="model: Hugging Face directory or GGUF file")
    p.add_argument("--interactive", action="store_true", help="read prompts from a '> ' prompt")
    p.add_argument("--chat_format", action="store_true",
                   help="one multi-turn conversation in the model's chat format (as bitnet chat)")
    p.add_argument("--sampling", action="store_true",
                   help="sample (the model's generation config) instead of greedy decoding")
    p.add_argument("--temperature", type=float, default=None, help="sampling temperature (implies --sampling)")
    p.add_argument("--top_k", type=int, default=None, help="top-k (default: the model's, else 40)")
    p.add_argument("--top_p", type=float, default=None, help="top-p (default: the model's, else 0.9)")
    p.add_argument("--seed", type=int, default=-1, help="random seed (-1: random)")
    p.add_argument("--max_tokens", type=int, default=None,
                   help="most tokens per reply (default: 128; with --chat_format until the end of the turn)")
    p.add_argument("--prompt", action="append", default=None, help="a prompt (repeatable); else stdin")
    p.add_argument("--system", default=None, help="system message (with --chat_format)")
    p.add_argument("--xclbin_dir", default=None, help="NPU xclbins (default $BITNET_XCLBIN_DIR or build/npu)")
    p.add_argument("--device", default=None, help="auto | cpu | npu | npu-emu (default: auto)")
    p.add_argument("--no_kernel", action="store_true", help="run on the CPU only (ModelArgs(use_kernel=False))")
    p.add_argument("--threads", type=int, default=0, help="threads (0: all cores)")
    p.add_argument("--ctx_size", type=int, default=0, help="context length (0: the model's, at most 4096)")
    p.add_argument("--quiet", action="store_true", help="no device line or timings on stderr")
    return p.parse_args(argv)


def _prompts(opts):
    """Yields the prompts: --prompt values, '> ' input, or stdin lines."""
    if opts.prompt:
        yield from opts.prompt
        return
    if opts.interactive:
        try:
            import readline  # noqa: F401  (line editing and history for input())
        except ImportError:
            pass
        while True:
            try:
                yield input("> ")
            except (EOFError, KeyboardInterrupt):  # Ctrl-D, or Ctrl-C at the prompt: quit
                print(file=sys.stderr)
                return
    for line in sys.stdin:
        yield line.rstrip("\n")


def _stream(gen, out=sys.stdout):
    """Prints a generation stream; Ctrl-C stops it. Returns True when stopped."""
    try:
        for piece in gen:
            out.write(piece if isinstance(piece, str) else f"{piece} ")
            out.flush()
    except KeyboardInterrupt:
        gen.close()
        return True
    return False


def main(argv=None) -> int:
    opts = parse_args(argv)
    args = ModelArgs(use_kernel=not opts.no_kernel, xclbin_dir=opts.xclbin_dir, threads=opts.threads,
                     device=opts.device, max_seq_len=opts.ctx_size, verbose=not opts.quiet)
    try:
        model = Transformer.from_pretrained(opts.ckpt, args)
        ctx = model.session.capacity
        sampling = opts.sampling or opts.temperature is not None
        # One seed for the whole run, as the CLI picks it once (-1: random).
        seed = opts.seed if opts.seed >= 0 else random.SystemRandom().getrandbits(32)
        sample_kw = dict(temperature=opts.temperature if sampling else 0.0, top_k=opts.top_k, top_p=opts.top_p,
                         seed=seed)
        model.sampling(**sample_kw)  # check the flags before the first prompt
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    stats = (lambda g: sys.stderr.write(g.format_stats())) if not opts.quiet else (lambda g: None)

    if not opts.chat_format:
        n = 128 if opts.max_tokens is None else opts.max_tokens
        for text in _prompts(opts):
            if opts.interactive and text.strip() == "/bye":
                break
            if not text.strip():
                continue
            try:
                gen = model.generate(text, max_tokens=n, **sample_kw)
                stopped = _stream(gen)
            except (ValueError, RuntimeError) as e:
                print(f"error: {e}", file=sys.stderr)
                return 1
            print()
            if stopped:
                print("(reply stopped)", file=sys.stderr)
            stats(gen)
        return 0

    # The conversation, token for token as `bitnet chat` builds it.
    n_predict = -1 if opts.max_tokens is None else opts.max_tokens
    eot = model.tokenize("<|eot_id|>", special=True)[-1]
    if opts.system is not None:
        start = model.apply_chat_template([{"role": "system", "content": opts.system}], add_generation_prompt=False)
    else:
        start = [model.config.bos_id]
    conversation = list(start)
    if opts.interactive and not opts.quiet:
        print("chat: /clear starts over, /bye quits, Ctrl-C stops a reply", file=sys.stderr)
    for line in _prompts(opts):
        if line == "/bye":
            break
        if line == "/clear":
            conversation = list(start)
            model.reset()
            print("(conversation cleared)", file=sys.stderr)
            continue
        if not line.strip(" \t\r"):
            continue
        turn = model.apply_chat_template([{"role": "user", "content": line}], add_generation_prompt=True)[1:]
        prompt = conversation + turn
        if len(prompt) + 1 >= ctx:
            print(f"context full: {len(prompt)} of {ctx} tokens used; type /clear to start a new conversation",
                  file=sys.stderr)
            continue
        room = ctx - len(prompt)
        max_tokens = room if n_predict < 0 else min(n_predict, room)
        try:
            gen = model.generate(prompt, max_tokens=max_tokens, **sample_kw)
            stopped = _stream(gen)
        except (ValueError, RuntimeError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print()
        sys.stdout.flush()
        ids = list(gen.ids)
        conversation = prompt + ids
        if not ids or not model.is_end_of_generation(ids[-1]):
            conversation.append(eot)
        if stopped:
            print("(reply stopped)", file=sys.stderr)
        if gen.finish_reason == "context_full" or len(conversation) + 8 >= ctx:
            print(f"context full: {len(conversation)} of {ctx} tokens used; type /clear to start a new conversation",
                  file=sys.stderr)
        stats(gen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
