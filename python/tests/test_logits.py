"""model(tokens, cache, start_pos) against `bitnet eval --dump-logits`, bit for bit."""
import numpy as np
import pytest

from bitnet_npu import KVCache, ModelArgs, Transformer, make_cache
from conftest import THREADS, load, run_cli

IDS = [128000, 791, 6864, 315, 9822, 374, 12366, 13]


def cli_logits(path, ids, tmp_path, device="cpu"):
    out = tmp_path / "logits.f32"
    run_cli("eval", "-m", path, "--ids", ",".join(map(str, ids)), "--dump-logits", out, "-t", THREADS,
            "--device", device)
    return np.fromfile(out, dtype="<f4")


@pytest.mark.parametrize("which", ["hf", "gguf", "packed"])
def test_logits_equal_cli_eval_bit_for_bit(which, tiny_dir, tiny_gguf, tiny_packed_dir, tmp_path):
    path = {"hf": tiny_dir, "gguf": tiny_gguf, "packed": tiny_packed_dir}[which]
    ids = IDS if which != "packed" else [1, 17, 400, 999, 3, 3, 250]
    # eval's exact paths: the float output matrix, a float32 cache sized to the ids.
    model = load(path, output_type="bf16")
    cache = make_cache(model, len(ids))
    logits = model(ids, cache, 0)
    assert isinstance(logits, np.ndarray) and logits.dtype == np.float32
    assert logits.shape == (len(ids), model.vocab_size)
    ref = cli_logits(path, ids, tmp_path).reshape(len(ids), model.vocab_size)
    assert np.array_equal(logits.view(np.uint32), ref.view(np.uint32))


def test_logits_array_owns_the_engine_buffer(tiny):
    cache = make_cache(tiny, 8)
    logits = tiny(IDS[:4], cache, 0)
    # No copy: the array wraps the engine's vector (held by a capsule).
    assert not logits.flags.owndata and logits.base is not None
    assert logits.flags.c_contiguous and logits.flags.writeable


def test_last_only_and_n_logits(tiny):
    full = tiny(IDS, make_cache(tiny, 16), 0)
    last = tiny(IDS, make_cache(tiny, 16), 0, last_only=True)
    assert last.shape == (1, tiny.vocab_size)
    assert np.array_equal(last[0], full[-1])
    three = tiny(IDS, make_cache(tiny, 16), 0, n_logits=3)
    assert np.array_equal(three, full[-3:])


def test_tokens_as_numpy_and_batch_of_one(tiny):
    full = tiny(IDS, make_cache(tiny, 16), 0)
    for arr in (np.array(IDS, dtype=np.int64), np.array(IDS, dtype=np.int32)):
        assert np.array_equal(tiny(arr, make_cache(tiny, 16), 0), full)
    batched = tiny(np.array([IDS]), make_cache(tiny, 16), 0)
    assert batched.shape == (1, len(IDS), tiny.vocab_size)
    assert np.array_equal(batched[0], full)
    with pytest.raises(ValueError, match="needs a list of 2 caches"):
        tiny([IDS, IDS], make_cache(tiny, 16), 0)


def test_batch_of_sequences_equals_each_alone_bit_for_bit(tiny):
    # Three sequences at different positions and lengths, one pass (Model::ForwardBatch).
    histories = [IDS[:3], IDS[:6], []]
    news = [IDS[3:5], IDS[6:7], IDS[:4]]
    alone, caches = [], []
    for hist, new in zip(histories, news):
        c = make_cache(tiny, 16)
        if hist:
            tiny(hist, c, 0)
        alone.append(tiny(new, c, len(hist)))
        c2 = make_cache(tiny, 16)
        if hist:
            tiny(hist, c2, 0)
        caches.append(c2)
    batched = tiny.forward_batch([(new, c, len(hist)) for hist, new, c in zip(histories, news, caches)],
                                 n_logits=-1)
    assert len(batched) == 3
    for a, b in zip(alone, batched):
        assert b.shape == a.shape
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
    # Same-length rows through __call__: [B, n, vocab], one cache per row.
    pair = tiny([IDS[:4], IDS[4:8]], [make_cache(tiny, 16), make_cache(tiny, 16)], 0)
    assert pair.shape == (2, 4, tiny.vocab_size)
    assert np.array_equal(pair[0], tiny(IDS[:4], make_cache(tiny, 16), 0))
    assert np.array_equal(pair[1], tiny(IDS[4:8], make_cache(tiny, 16), 0))


def test_prefill_then_decode_equals_full_prefill(tiny):
    full = tiny(IDS, make_cache(tiny, 32), 0)
    cache = make_cache(tiny, 32)
    rows = list(tiny(IDS[:3], cache, 0))
    for pos in range(3, len(IDS)):  # the decode path, one token per call
        rows.append(tiny([IDS[pos]], cache, pos, last_only=True)[0])
    assert np.array_equal(np.stack(rows), full)
    # A second prefill chunk on the same cache, too.
    cache2 = make_cache(tiny, 32)
    tiny(IDS[:5], cache2, 0)
    assert np.array_equal(tiny(IDS[5:], cache2, 5), full[5:])


def test_make_cache_from_args_and_defaults(tiny):
    cache = make_cache(tiny.args, 10)
    assert isinstance(cache, KVCache) and cache.capacity == 10 and len(cache) == 10
    assert make_cache(tiny).capacity == tiny.config.max_context
    assert tiny.args.dim == 128 and tiny.args.n_layers == 2 and tiny.args.vocab_size == 128256
    with pytest.raises(ValueError, match="belong to no loaded model"):
        make_cache(ModelArgs(), 10)


def test_from_pretrained_defaults(tiny_dir):
    model = Transformer.from_pretrained(tiny_dir, ModelArgs(use_kernel=False, threads=1))
    assert "cpu" in model.device_line.lower()
    assert model.args.threads == 1


def test_engine_runs_without_the_gil(tiny):
    import threading

    # Two threads, one model (the engine serialises Forward), separate caches.
    results = {}

    def work(k):
        results[k] = tiny(IDS, make_cache(tiny, 16), 0, last_only=True)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(results[0], results[k]) for k in results)


def test_forward_releases_the_gil(tiny):
    import threading
    import time

    ids = [1 + (i * 7919) % 128000 for i in range(1024)]
    cache = make_cache(tiny, len(ids))
    span = {}

    def work():
        t0 = time.perf_counter()
        tiny(ids, cache, 0, last_only=True)
        span["s"] = time.perf_counter() - t0

    t = threading.Thread(target=work)
    count = 0
    t.start()
    while t.is_alive():  # with the GIL held by the engine this loop would stall
        count += 1
    t.join()
    if span["s"] < 0.05:
        pytest.skip("forward too quick to tell")
    assert count > 1000, (count, span["s"])


def test_npu_emulation_logits_equal_cli_eval(tiny_dir, tmp_path):
    # The NPU design emulated on the CPU: the same backend choice as --device npu-emu.
    model = load(tiny_dir, output_type="bf16", device="npu-emu")
    assert "emulated" in model.device_line
    logits = model(IDS, make_cache(model, len(IDS)), 0)
    ref = cli_logits(tiny_dir, IDS, tmp_path, device="npu-emu").reshape(len(IDS), model.vocab_size)
    assert np.array_equal(logits.view(np.uint32), ref.view(np.uint32))
