"""The seed's `from model import ModelArgs, Transformer, make_cache`, with
build/python on PYTHONPATH."""
from bitnet_npu.model import *  # noqa: F401,F403
from bitnet_npu.model import KVCache, ModelArgs, Transformer, make_cache  # noqa: F401
