"""Errors are Python exceptions carrying the CLI's messages: ValueError for a
bad argument, RuntimeError for a model that cannot be loaded."""
import pytest

from bitnet_npu import ModelArgs, Transformer, make_cache
from conftest import cli_error, load


def test_missing_model_is_runtime_error_with_the_cli_message(cli, tmp_path):
    path = str(tmp_path / "no-such-model")
    expected = cli_error("eval", "-m", path, "--ids", "1")
    with pytest.raises(RuntimeError) as e:
        Transformer.from_pretrained(path)
    assert str(e.value) == expected
    assert not isinstance(e.value, ValueError)


def test_broken_model_is_runtime_error(cli, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF not really")
    expected = cli_error("eval", "-m", bad, "--ids", "1")
    with pytest.raises(RuntimeError) as e:
        Transformer.from_pretrained(str(bad))
    assert str(e.value) == expected


def test_bad_device_is_value_error(tiny_dir):
    expected = cli_error("eval", "-m", tiny_dir, "--ids", "1", "--device", "tpu")
    with pytest.raises(ValueError) as e:
        Transformer.from_pretrained(tiny_dir, ModelArgs(device="tpu"))
    assert str(e.value) == expected


def test_bad_threads_and_kv_type_are_value_errors(tiny_dir):
    with pytest.raises(ValueError) as e:
        Transformer.from_pretrained(tiny_dir, ModelArgs(threads=-1))
    assert str(e.value) == cli_error("eval", "-m", tiny_dir, "--ids", "1", "-t", "-1")
    with pytest.raises(ValueError) as e:
        Transformer.from_pretrained(tiny_dir, ModelArgs(kv_type="f8", use_kernel=False))
    assert str(e.value) == cli_error("eval", "-m", tiny_dir, "--ids", "1", "--kv-type", "f8")


def test_token_id_outside_vocab_is_value_error(tiny, tiny_dir):
    expected = cli_error("eval", "-m", tiny_dir, "--ids", "1,999999", "-t", "2")
    with pytest.raises(ValueError) as e:
        tiny([1, 999999], make_cache(tiny, 4), 0)
    assert str(e.value) == expected
    with pytest.raises(ValueError, match="^token ids: id -1 is outside"):
        tiny([-1], make_cache(tiny, 4), 0)


def test_positions_past_the_cache_are_value_error(tiny):
    with pytest.raises(ValueError) as e:
        tiny([1, 2, 3], make_cache(tiny, 4), 2)
    assert str(e.value) == "context: positions 2..4 do not fit the context of 4 tokens"
    with pytest.raises(ValueError, match="^forward: no tokens"):
        tiny([], make_cache(tiny, 4), 0)


def test_cache_length_is_checked_as_the_cli_checks_ctx(tiny, tiny_dir):
    expected = cli_error("generate", "-m", tiny_dir, "-p", "hi", "-c", "99999")
    with pytest.raises(ValueError) as e:
        make_cache(tiny, 99999)
    assert str(e.value) == expected
    with pytest.raises(ValueError, match=r"^-c: context length 0 is outside \[1, 4096\]"):
        make_cache(tiny, 0)


def test_cache_of_another_model_is_value_error(tiny, tiny_dir):
    other = load(tiny_dir)
    with pytest.raises(ValueError, match="another model"):
        tiny([1], make_cache(other, 4), 0)


@pytest.mark.parametrize("kw,flags", [
    (dict(temperature=-1.0), ["--temp", "-1"]),
    (dict(top_p=0.0), ["--top-p", "0"]),
    (dict(top_k=-3), ["--top-k", "-3"]),
    (dict(min_p=2.0), ["--min-p", "2"]),
    (dict(repeat_penalty=0.0), ["--repeat-penalty", "0"]),
])
def test_bad_sampling_is_value_error_with_the_cli_message(tiny, tiny_dir, kw, flags):
    expected = cli_error("generate", "-m", tiny_dir, "-p", "hi", "-n", "1", *flags)
    with pytest.raises(ValueError) as e:
        tiny.generate("hi", max_tokens=1, **kw)
    assert str(e.value) == expected


def test_prompt_too_long_is_value_error(tiny_dir):
    model = load(tiny_dir, max_seq_len=4)
    with pytest.raises(ValueError, match="^prompt: 6 tokens do not fit the context of 4 tokens"):
        model.generate([128000, 1, 2, 3, 4, 5], max_tokens=1)


def test_text_instead_of_ids_is_type_error(tiny):
    with pytest.raises(TypeError, match="not text"):
        tiny("hello", make_cache(tiny, 8), 0)
