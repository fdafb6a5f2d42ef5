// Shared input layout for the app-layer fuzz targets (tests/fuzz/fuzz_*.cc).
//
// An input is a 5-byte header followed by the stream bytes:
//   byte 0     options, interpreted by each target (parser configuration, direction ...)
//   byte 1..2  schedule: bits 0-1 of byte 1 pick the chunking mode, the rest seed a PRNG
//   byte 3..4  big-endian length of the first stream (to-server); clamped to what is there
//   byte 5..   first stream, then the second stream (to-client): the rest of the input
// Missing header bytes read as zero, so every input is valid.
//
// Schedule() cuts both streams into chunks (sizes and interleaving from the PRNG, each stream kept
// in order; in mode 0 the first stream goes whole, then the second, so a seed in that mode reads
// as "all requests, then all responses") and hands each chunk to the target in a heap buffer of exactly the chunk's size, so
// AddressSanitizer reports any read past the bytes a parser was given (libFuzzer's own buffer
// only guards the end of the whole input).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

// A documented bound of a parser's output does not hold: a parser bug, not bad input. Aborts so
// the fuzzer (or the corpus test) reports it with the input that caused it.
#define FS_FUZZ_CHECK(cond)                                                          \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

namespace fs::fuzz {

inline constexpr size_t kHeaderLen = 5;

struct Input {
  uint8_t options = 0;
  uint8_t mode = 0;  // 0 whole streams, 1 single bytes, 2 chunks of 1..32, 3 chunks of 1..2048
  uint32_t seed = 0;
  const uint8_t* stream[2] = {nullptr, nullptr};
  size_t len[2] = {0, 0};
};

inline Input Split(const uint8_t* data, size_t size) {
  uint8_t h[kHeaderLen] = {0, 0, 0, 0, 0};
  std::memcpy(h, data, size < kHeaderLen ? size : kHeaderLen);
  Input in;
  in.options = h[0];
  in.mode = h[1] & 3u;
  in.seed = (uint32_t(h[1]) << 8 | h[2]) * 2654435761u + 1u;  // never 0 (xorshift)
  const uint8_t* rest = size > kHeaderLen ? data + kHeaderLen : data + size;
  const size_t rest_len = size > kHeaderLen ? size - kHeaderLen : 0;
  size_t first = size_t(h[3]) << 8 | h[4];
  if (first > rest_len) first = rest_len;
  in.stream[0] = rest;
  in.len[0] = first;
  in.stream[1] = rest + first;
  in.len[1] = rest_len - first;
  return in;
}

struct Rng {
  uint32_t s;
  uint32_t Next() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  }
};

// Calls feed(int dir, const uint8_t* chunk, size_t n) for every chunk, dir 0 (first stream) or
// 1 (second stream). With `streams` == 1 only the first stream is fed (the second is ignored).
template <class Feed>
void Schedule(const Input& in, int streams, Feed&& feed) {
  Rng rng{in.seed ? in.seed : 1u};
  size_t off[2] = {0, 0};
  const size_t len[2] = {in.len[0], streams > 1 ? in.len[1] : 0};
  while (off[0] < len[0] || off[1] < len[1]) {
    int dir;
    if (in.mode == 0) {
      dir = off[0] < len[0] ? 0 : 1;
    } else if (off[0] >= len[0]) {
      dir = 1;
    } else if (off[1] >= len[1]) {
      dir = 0;
    } else {
      dir = int(rng.Next() & 1u);
    }
    const size_t left = len[dir] - off[dir];
    size_t n;
    switch (in.mode) {
      case 0: n = left; break;
      case 1: n = 1; break;
      case 2: n = 1 + rng.Next() % 32u; break;
      default: n = 1 + rng.Next() % 2048u; break;
    }
    if (n > left) n = left;
    std::unique_ptr<uint8_t[]> chunk(new uint8_t[n]);
    std::memcpy(chunk.get(), in.stream[dir] + off[dir], n);
    off[dir] += n;
    feed(dir, static_cast<const uint8_t*>(chunk.get()), n);
  }
}

// Reads every byte of a result so ASan checks it, and keeps the compiler from dropping the reads.
inline volatile uint64_t g_sink = 0;
inline void Touch(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  uint64_t h = g_sink;
  for (size_t i = 0; i < n; ++i) h = h * 31 + b[i];
  g_sink = h;
}
template <class View>
inline void TouchView(const View& v) {
  Touch(v.data(), v.size() * sizeof(v[0]));
}
inline void TouchValue(uint64_t v) { g_sink = g_sink * 31 + v; }

}  // namespace fs::fuzz
