"""The seed's spellings: `from model import ...` and `python generate.py CKPT`."""
import os
import subprocess
import sys

import numpy as np

import bitnet_npu


def test_from_model_import(tiny_dir):
    from model import ModelArgs, Transformer, make_cache

    assert Transformer is bitnet_npu.Transformer
    model = Transformer.from_pretrained(tiny_dir, ModelArgs(use_kernel=False, threads=2))
    tokens = model.tokenize("Hello world", bos=True)
    cache = make_cache(model.args, 32)
    logits = model(tokens, cache, 0)
    nxt = int(np.argmax(logits[-1]))
    step = model([nxt], cache, len(tokens))
    assert step.shape == (1, model.vocab_size)


def test_generate_py_script(tiny_dir):
    script = os.path.join(os.path.dirname(bitnet_npu.__file__), "..", "generate.py")
    p = subprocess.run([sys.executable, script, tiny_dir, "--prompt", "Hi", "--max_tokens", "3", "--quiet",
                        "--no_kernel", "--threads", "2"], capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.endswith(b"\n") and p.stderr == b""
