#include "dataplane/scan/stream_pool.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>
#include <type_traits>

#include "dataplane/common/prefault.h"

namespace fs::scan {
namespace {

thread_local StreamPool* tls_pool = nullptr;

std::once_flag install_once;

}  // namespace

StreamPool::StreamPool(uint32_t contexts, size_t stream_bytes, uint32_t streams)
    : contexts_(contexts < 1 ? 1 : contexts),
      ctx_bytes_(
          LargeArray<std::byte>::Reserve((static_cast<size_t>(contexts_) + 1) * sizeof(StreamCtx))),
      ctx_(reinterpret_cast<StreamCtx*>(ctx_bytes_.get())),
      block_(BlockBytes(stream_bytes)),
      blocks_(block_ == 0 ? 0 : static_cast<size_t>(contexts_) * StreamsPerContext(streams)) {
  static_assert(std::is_trivially_copyable_v<StreamCtx> && alignof(StreamCtx) <= 16);
  std::call_once(install_once,
                 [] { hs_set_stream_allocator(&StreamPool::HsAlloc, &StreamPool::HsFree); });
  if (blocks_ > 0) slab_ = LargeArray<std::byte>::Reserve(blocks_ * block_);
}

StreamPool::~StreamPool() {
  if (tls_pool == this) tls_pool = nullptr;
}

void StreamPool::Bind() { tls_pool = this; }

void StreamPool::Unbind() {
  if (tls_pool == this) tls_pool = nullptr;
}

uint32_t StreamPool::Acquire(uint8_t proto, uint16_t server_port) {
  uint32_t idx;
  if (free_head_ != 0) {
    idx = free_head_;
    free_head_ = ctx_[idx].next_free;
  } else if (next_unused_ <= contexts_) {
    idx = next_unused_++;
  } else {
    ++counters_.exhausted;
    return 0;
  }
  new (&ctx_[idx]) StreamCtx{};
  ctx_[idx].proto = proto;
  ctx_[idx].server_port = server_port;
  ++in_use_;
  ++counters_.acquired;
  return idx;
}

void StreamPool::Release(uint32_t idx) {
  ctx_[idx].next_free = free_head_;
  free_head_ = idx;
  --in_use_;
}

size_t StreamPool::ReadyBytes(uint32_t n, uint32_t contexts, size_t stream_bytes,
                              uint32_t streams) {
  n = std::min(n, contexts < 1 ? 1 : contexts);
  return size_t{n} * (sizeof(StreamCtx) + StreamsPerContext(streams) * BlockBytes(stream_bytes));
}

size_t StreamPool::Prealloc(uint32_t n) {
  n = std::min(n, contexts_);
  const size_t ctx_bytes = size_t{n} * sizeof(StreamCtx);
  Prefault(ctx_ + 1, ctx_bytes);
  const size_t blocks = std::min(blocks_, blocks_ / contexts_ * n);
  Prefault(slab_.get(), blocks * block_);
  return ctx_bytes + blocks * block_;
}

size_t StreamPool::reserved_bytes() const {
  return (static_cast<size_t>(contexts_) + 1) * sizeof(StreamCtx) + blocks_ * block_;
}

void* StreamPool::HsAlloc(size_t size) {
  StreamPool* pool = tls_pool;
  if (pool == nullptr) return std::malloc(size);
  if (size > pool->block_) {
    ++pool->counters_.oversize;
    return nullptr;
  }
  void* p = pool->slab_free_;
  if (p != nullptr) {
    pool->slab_free_ = *static_cast<void**>(p);
  } else if (pool->blocks_unused_from_ < pool->blocks_) {
    p = pool->slab_.get() + pool->blocks_unused_from_++ * pool->block_;
  } else {
    ++pool->counters_.slab_full;
    return nullptr;
  }
  ++pool->counters_.streams_open;
  return p;
}

void StreamPool::HsFree(void* p) {
  if (p == nullptr) return;
  StreamPool* pool = tls_pool;
  if (pool != nullptr && pool->slab_) {
    const std::byte* b = static_cast<const std::byte*>(p);
    if (b >= pool->slab_.get() && b < pool->slab_.get() + pool->blocks_ * pool->block_) {
      *static_cast<void**>(p) = pool->slab_free_;
      pool->slab_free_ = p;
      --pool->counters_.streams_open;
      return;
    }
  }
  std::free(p);
}

}  // namespace fs::scan
