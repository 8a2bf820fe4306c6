// Host stand-in for the few AIE API pieces w2a8_tile.h uses, so the emulator
// compiles the same kernel source as the AIE core. Semantics follow aie_api
// as summarised in docs/NPU.md, "AIE API semantics the emulator relies on":
//   - accumulator -> vector conversion is shift, then round per the rounding
//     register, then saturate per the saturation register;
//   - the rounding register defaults to floor and persists until set;
//   - load_v/store_v require 16-byte alignment for 128-bit vectors, 32 for
//     256-bit, and on AIE2P 64 for 512-bit and wider (AIE2: 32); a
//     misaligned access is undefined on the core, so the shim throws to catch
//     layout bugs in the emulator (shim_detail::g_aie2p picks the rule);
//   - add/sub on vectors wrap; logical_downshift zero-fills;
//   - aie::mmul<M, K, N, TA, TB> multiplies the M x K matrix A (row-major in
//     a vector of M*K lanes) by the K x N matrix B (row-major, K*N lanes)
//     into M x N accumulator lanes (row-major): mul() sets C = A.B, mac()
//     adds A.B; to_vector(shift) converts like accum::to_vector. This is the
//     "pre-tiled" block layout aie_api documents for mmul (UG1529, "Matrix
//     Multiplication"); lane types multiply as integers (uint8 B lanes are
//     0..255).
// Accumulator lanes are held in 64 bits. AIE acc32 lanes are narrower, but
// every accumulator this project produces stays below 2^27 in magnitude
// (64 * (|c| + |sum x|) with |c|, |sum x| <= 128 * 8192), so the difference
// cannot show. Only included when neither
// Peano (__AIECC__) nor chess (__chess__) compiles the file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>

struct acc32 {};  // aie_api names accumulator tags in the global namespace

namespace aie {

enum class rounding_mode {
  floor, ceil, symmetric_floor, symmetric_ceil, positive_inf, negative_inf,
  symmetric_inf, symmetric_zero, conv_even, conv_odd
};
enum class saturation_mode { none, saturate, symmetric };

namespace shim_detail {
// One set of mode registers per emulated core; the emulator runs one core per
// thread at a time, so thread-local storage models a core's registers.
inline thread_local rounding_mode g_rounding = rounding_mode::floor;
inline thread_local saturation_mode g_saturation = saturation_mode::none;

// x / 2^shift rounded per `mode` (shift >= 1).
inline int64_t RoundShift(int64_t x, unsigned shift, rounding_mode mode) {
  const int64_t unit = int64_t{1} << shift;
  const int64_t floor_q = x >> shift;  // arithmetic shift: floor
  const int64_t rem = x - floor_q * unit;  // in [0, unit)
  const int64_t half = unit / 2;
  const bool negative = x < 0;
  switch (mode) {
    case rounding_mode::floor: return floor_q;
    case rounding_mode::ceil: return floor_q + (rem != 0);
    case rounding_mode::symmetric_floor: return negative ? floor_q + (rem != 0) : floor_q;
    case rounding_mode::symmetric_ceil: return negative ? floor_q : floor_q + (rem != 0);
    case rounding_mode::positive_inf: return floor_q + (rem >= half);
    case rounding_mode::negative_inf: return floor_q + (rem > half);
    case rounding_mode::symmetric_inf: return rem == half ? (negative ? floor_q : floor_q + 1) : floor_q + (rem > half);
    case rounding_mode::symmetric_zero: return rem == half ? (negative ? floor_q + 1 : floor_q) : floor_q + (rem > half);
    case rounding_mode::conv_even: return rem == half ? floor_q + (floor_q & 1) : floor_q + (rem > half);
    case rounding_mode::conv_odd: return rem == half ? floor_q + !(floor_q & 1) : floor_q + (rem > half);
  }
  return floor_q;
}

template <typename T>
T Narrow(int64_t v, saturation_mode mode) {
  constexpr int64_t lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
  if (mode == saturation_mode::saturate) return static_cast<T>(v < lo ? lo : (v > hi ? hi : v));
  if (mode == saturation_mode::symmetric) {
    const int64_t sym_lo = std::is_signed_v<T> ? -hi : lo;
    return static_cast<T>(v < sym_lo ? sym_lo : (v > hi ? hi : v));
  }
  return static_cast<T>(static_cast<std::make_unsigned_t<T>>(static_cast<uint64_t>(v)));  // wraps
}

// Which core generation the alignment rule follows; the emulator sets it per
// dispatch from the plan (AIE2 = npu1, AIE2P = npu2).
inline thread_local bool g_aie2p = false;

// AIE2: 16 B for 128-bit vectors, else 32 B. AIE2P: 16 / 32 / 64 B for
// 128 / 256 / >= 512-bit vectors.
inline size_t RequiredAlignment(size_t vector_bytes) {
  if (vector_bytes <= 16) return 16;
  if (vector_bytes <= 32 || !g_aie2p) return 32;
  return 64;
}

inline void CheckAligned(const void* p, size_t vector_bytes) {
  const size_t need = RequiredAlignment(vector_bytes);
  if (reinterpret_cast<uintptr_t>(p) % need != 0)
    throw std::logic_error("aie shim: vector access at a misaligned address (undefined on the core)");
}
}  // namespace shim_detail

inline void set_rounding(rounding_mode m) { shim_detail::g_rounding = m; }
inline void set_saturation(saturation_mode m) { shim_detail::g_saturation = m; }
inline rounding_mode get_rounding() { return shim_detail::g_rounding; }
inline saturation_mode get_saturation() { return shim_detail::g_saturation; }

template <typename T, unsigned N>
class vector {
 public:
  using value_type = T;
  static constexpr unsigned size() { return N; }
  T get(unsigned i) const { return v_[i]; }
  void set(T x, unsigned i) { v_[i] = x; }
  T operator[](unsigned i) const { return v_[i]; }
  // Sub-vector `idx` of E lanes (lanes idx*E .. idx*E + E - 1).
  template <unsigned E>
  vector<T, E> extract(unsigned idx) const {
    static_assert(N % E == 0, "extract size must divide the vector");
    vector<T, E> out;
    for (unsigned i = 0; i < E; ++i) out.set(v_[idx * E + i], i);
    return out;
  }
  template <typename U>
  vector<U, N * sizeof(T) / sizeof(U)> cast_to() const {
    vector<U, N * sizeof(T) / sizeof(U)> out;
    static_assert(sizeof(out) == sizeof(*this));
    __builtin_memcpy(static_cast<void*>(&out), &v_, sizeof(v_));
    return out;
  }

 private:
  T v_[N] = {};
};

template <typename Tag, unsigned N>
class accum {
 public:
  static constexpr unsigned size() { return N; }
  template <typename T>
  void from_vector(const vector<T, N>& v, int shift = 0) {
    for (unsigned i = 0; i < N; ++i) a_[i] = static_cast<int64_t>(v.get(i)) * (int64_t{1} << shift);
  }
  template <typename T>
  vector<T, N> to_vector(int shift = 0) const {
    vector<T, N> out;
    for (unsigned i = 0; i < N; ++i) {
      const int64_t shifted = shift > 0 ? shim_detail::RoundShift(a_[i], static_cast<unsigned>(shift), shim_detail::g_rounding) : a_[i];
      out.set(shim_detail::Narrow<T>(shifted, shim_detail::g_saturation), i);
    }
    return out;
  }
  int64_t lane(unsigned i) const { return a_[i]; }
  void add_to_lane(unsigned i, int64_t x) { a_[i] += x; }

 private:
  int64_t a_[N] = {};
};

template <unsigned N, typename T>
vector<T, N> load_v(const T* p) {
  shim_detail::CheckAligned(p, N * sizeof(T));
  vector<T, N> v;
  for (unsigned i = 0; i < N; ++i) v.set(p[i], i);
  return v;
}

template <typename T, unsigned N>
void store_v(T* p, const vector<T, N>& v) {
  shim_detail::CheckAligned(p, N * sizeof(T));
  for (unsigned i = 0; i < N; ++i) p[i] = v.get(i);
}

template <typename T, unsigned N>
vector<T, N> broadcast(T x) {
  vector<T, N> v;
  for (unsigned i = 0; i < N; ++i) v.set(x, i);
  return v;
}

template <typename T, unsigned N>
vector<T, N> zeros() { return broadcast<T, N>(T{0}); }

template <typename T, unsigned N>
vector<T, N> bit_and(T mask, const vector<T, N>& v) {
  vector<T, N> out;
  for (unsigned i = 0; i < N; ++i) out.set(static_cast<T>(mask & v.get(i)), i);
  return out;
}

template <typename T, unsigned N>
vector<T, N> logical_downshift(const vector<T, N>& v, unsigned shift) {
  using U = std::make_unsigned_t<T>;
  vector<T, N> out;
  for (unsigned i = 0; i < N; ++i) out.set(static_cast<T>(static_cast<U>(v.get(i)) >> shift), i);
  return out;
}

template <typename T, unsigned N>
vector<T, N> sub(const vector<T, N>& v, T x) {
  using U = std::make_unsigned_t<T>;
  vector<T, N> out;
  for (unsigned i = 0; i < N; ++i) out.set(static_cast<T>(static_cast<U>(v.get(i) - x)), i);  // wraps
  return out;
}

template <typename T, unsigned N>
vector<T, N> add(const vector<T, N>& a, const vector<T, N>& b) {
  using U = std::make_unsigned_t<T>;
  vector<T, N> out;
  for (unsigned i = 0; i < N; ++i) out.set(static_cast<T>(static_cast<U>(a.get(i)) + static_cast<U>(b.get(i))), i);  // wraps
  return out;
}

template <unsigned M, unsigned K, unsigned N, typename TypeA, typename TypeB, typename Tag = acc32>
class mmul {
 public:
  static constexpr unsigned size_A = M * K;
  static constexpr unsigned size_B = K * N;
  static constexpr unsigned size_C = M * N;
  using accum_type = accum<Tag, M * N>;

  void mul(const vector<TypeA, M * K>& a, const vector<TypeB, K * N>& b) {
    c_ = accum_type{};
    mac(a, b);
  }
  void mac(const vector<TypeA, M * K>& a, const vector<TypeB, K * N>& b) {
    for (unsigned m = 0; m < M; ++m)
      for (unsigned n = 0; n < N; ++n) {
        int64_t sum = 0;
        for (unsigned k = 0; k < K; ++k)
          sum += static_cast<int64_t>(a.get(m * K + k)) * static_cast<int64_t>(b.get(k * N + n));
        c_.add_to_lane(m * N + n, sum);
      }
  }
  accum_type to_accum() const { return c_; }
  template <typename T>
  vector<T, M * N> to_vector(int shift = 0) const { return c_.template to_vector<T>(shift); }

 private:
  accum_type c_;
};

// acc + v * a per lane, a broadcast; v and a may differ in type (e.g. uint8
// lanes times an int16 scalar, an 8b x 16b multiply on the core).
template <typename Tag, unsigned N, typename T, typename A>
accum<Tag, N> mac(const accum<Tag, N>& acc, const vector<T, N>& v, A a) {
  accum<Tag, N> out = acc;
  for (unsigned i = 0; i < N; ++i) out.add_to_lane(i, static_cast<int64_t>(v.get(i)) * static_cast<int64_t>(a));
  return out;
}

}  // namespace aie
