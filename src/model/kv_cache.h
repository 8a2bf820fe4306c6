// Keys and values of every layer for positions [0, capacity): float32,
// [layer][position][n_kv_heads * head_dim].
#pragma once
#include <vector>

#include "bitnet/bitnet.h"

namespace bitnet {

struct KvCache::Impl {
  int n_layers = 0;
  int capacity = 0;
  int kv_dim = 0;
  std::vector<float> k, v;

  Impl(int layers, int cap, int dim)
      : n_layers(layers), capacity(cap), kv_dim(dim),
        k(static_cast<size_t>(layers) * cap * dim), v(static_cast<size_t>(layers) * cap * dim) {}

  float* key(int layer, int pos) { return k.data() + (static_cast<size_t>(layer) * capacity + pos) * kv_dim; }
  float* value(int layer, int pos) { return v.data() + (static_cast<size_t>(layer) * capacity + pos) * kv_dim; }
};

}  // namespace bitnet
