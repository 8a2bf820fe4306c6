// Keys and values of every layer for positions [0, capacity), laid out
// [layer][position][n_kv_heads * head_dim] (kv_dim per position).
//
// Element type, Options::kv_type / --kv-type auto|f16|f32 (auto also reads
// BITNET_KV_TYPE): fp16 halves the
// memory and the bytes attention reads per step. Its rounding (2^-11
// relative) is far below one step of the int8 activation quantization that
// follows, yet it moves some activations across a rounding boundary, so
// logits differ from a float32 cache by a few int8 steps (measured in
// tests/perf_paths_test.cpp and docs/PERFORMANCE.md). auto takes fp16 once a
// float32 cache would pass kF16AboveBytes, where memory and bandwidth matter
// (the 2B model at any useful context), and float32 below it, where the cache
// sits in CPU caches and the exact form costs nothing.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "bitnet/bitnet.h"
#include "kernels/attention.h"
#include "util/error.h"

namespace bitnet {

struct KvCache::Impl {
  int n_layers = 0;
  int capacity = 0;
  int kv_dim = 0;  // n_kv_heads * head_dim
  KvElement type = KvElement::kF16;
  // Not value-initialized: pages of positions never reached are never touched,
  // so resident memory follows the context actually used.
  std::unique_ptr<uint8_t[]> k, v;

  Impl(int layers, int cap, int dim, const std::string& requested = "auto")
      : n_layers(layers), capacity(cap), kv_dim(dim), type(ChooseType(requested)),
        k(std::make_unique_for_overwrite<uint8_t[]>(bytes() / 2)),
        v(std::make_unique_for_overwrite<uint8_t[]>(bytes() / 2)) {}

  static constexpr size_t kF16AboveBytes = size_t{64} << 20;

  KvElement ChooseType(const std::string& requested) const {
    const char* env = std::getenv("BITNET_KV_TYPE");
    const bool from_env = requested == "auto" && env != nullptr;
    const std::string name = from_env ? env : requested;
    if (name == "f16") return KvElement::kF16;
    if (name == "f32") return KvElement::kF32;
    Check(name.empty() || name == "auto", from_env ? "BITNET_KV_TYPE" : "--kv-type",
          "expected auto, f16 or f32, got '" + name + "'");
    const size_t f32_bytes = 2 * static_cast<size_t>(n_layers) * capacity * kv_dim * 4;
    return f32_bytes > kF16AboveBytes ? KvElement::kF16 : KvElement::kF32;
  }

  int element_bytes() const { return type == KvElement::kF16 ? 2 : 4; }
  // Keys plus values.
  size_t bytes() const { return 2 * static_cast<size_t>(n_layers) * capacity * kv_dim * element_bytes(); }
  // Position 0 of a layer; position p is kv_dim elements further (the
  // attention kernels' row stride).
  const void* keys(int layer) const { return k.get() + LayerOffset(layer); }
  const void* values(int layer) const { return v.get() + LayerOffset(layer); }

  // Writes position pos from k_row, v_row (kv_dim floats each).
  void Store(int layer, int pos, const float* k_row, const float* v_row) {
    const size_t at = LayerOffset(layer) + static_cast<size_t>(pos) * kv_dim * element_bytes();
    if (type == KvElement::kF16) {
      F32ToF16Row(k_row, kv_dim, reinterpret_cast<uint16_t*>(k.get() + at));
      F32ToF16Row(v_row, kv_dim, reinterpret_cast<uint16_t*>(v.get() + at));
    } else {
      std::memcpy(k.get() + at, k_row, static_cast<size_t>(kv_dim) * 4);
      std::memcpy(v.get() + at, v_row, static_cast<size_t>(kv_dim) * 4);
    }
  }

 private:
  size_t LayerOffset(int layer) const { return static_cast<size_t>(layer) * capacity * kv_dim * element_bytes(); }
};

}  // namespace bitnet
