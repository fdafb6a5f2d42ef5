// Deterministic random numbers for the capture generator. The same seed must give a byte-identical
// capture on every platform and standard library, so this avoids <random>'s distributions (their
// algorithms are implementation-defined) and libm (exp/log may differ by one ulp across libms).
// Plain value type; one owner, any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fs::pcapgen {

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    // splitmix64 expands the seed into xoshiro256** state (never all zero).
    uint64_t x = seed;
    for (uint64_t& s : s_) {
      x += 0x9e3779b97f4a7c15ULL;
      uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      s = z ^ (z >> 31);
    }
  }

  // An independent stream derived from this one's seed material, for parts of the capture that
  // must not shift when another part draws more or fewer numbers (e.g. the story vs. the
  // scale-dependent background).
  Rng Fork(uint64_t stream) const { return Rng(s_[0] ^ (stream * 0xd1342543de82ef95ULL)); }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, n); n > 0. Lemire's multiply-shift with rejection keeps it unbiased.
  uint64_t Below(uint64_t n) {
    if (n <= 1) return 0;
    for (;;) {
      const unsigned __int128 m = static_cast<unsigned __int128>(Next()) * n;
      const uint64_t low = static_cast<uint64_t>(m);
      if (low >= n || low >= (-n) % n) return static_cast<uint64_t>(m >> 64);
    }
  }
  // Uniform in [lo, hi] (inclusive).
  uint64_t Range(uint64_t lo, uint64_t hi) { return lo + Below(hi - lo + 1); }
  // True with probability percent/100.
  bool Percent(uint32_t percent) { return Below(100) < percent; }

  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Below(v.size())];
  }
  // Index drawn with the given integer weights (sum > 0).
  size_t Weighted(const std::vector<uint32_t>& weights) {
    uint64_t total = 0;
    for (uint32_t w : weights) total += w;
    uint64_t r = Below(total);
    for (size_t i = 0; i < weights.size(); ++i) {
      if (r < weights[i]) return i;
      r -= weights[i];
    }
    return weights.size() - 1;
  }
  // A heavy-tailed size in [lo, hi]: a uniform exponent (decade) then uniform within it, so small
  // objects are common and large ones rare, as in web and file traffic.
  uint64_t HeavyTail(uint64_t lo, uint64_t hi) {
    uint64_t top = lo;
    int steps = 0;
    while (top < hi) {
      top *= 4;
      ++steps;
    }
    uint64_t cap = lo;
    for (uint64_t i = Below(static_cast<uint64_t>(steps) + 1); i > 0; --i) cap *= 4;
    if (cap > hi) cap = hi;
    return Range(lo, cap);
  }

  void Fill(std::vector<uint8_t>* out, size_t n) {
    out->reserve(out->size() + n);
    for (size_t i = 0; i < n; i += 8) {
      uint64_t v = Next();
      for (size_t j = 0; j < 8 && i + j < n; ++j)
        out->push_back(static_cast<uint8_t>(v >> (8 * j)));
    }
  }
  std::vector<uint8_t> Bytes(size_t n) {
    std::vector<uint8_t> out;
    Fill(&out, n);
    return out;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace fs::pcapgen
