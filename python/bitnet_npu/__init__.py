"""bitnet_npu: BitNet b1.58 inference on the bitnet-npu C++ engine, with the
seed project's API.

    from bitnet_npu import ModelArgs, Transformer, make_cache

    model = Transformer.from_pretrained("models/bitnet-b1.58-2B-4T")
    cache = make_cache(model, 128)
    logits = model(tokens, cache, 0)                 # numpy float32 [len(tokens), vocab]
    for piece in model.generate("Hello", max_tokens=32):
        print(piece, end="", flush=True)

The command line: python3 -m bitnet_npu.generate MODEL [--interactive] [--chat_format] ...
"""
from . import _core
from .model import GenerationStream, KVCache, ModelArgs, Transformer, make_cache

__version__ = _core.version()
__all__ = ["ModelArgs", "Transformer", "make_cache", "KVCache", "GenerationStream", "__version__"]
