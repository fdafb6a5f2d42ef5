#include "controlplane/enforce/block.h"

#include <chrono>

namespace fs::enforce {

const char* BlockSourceName(BlockSource s) {
  switch (s) {
    case BlockSource::kRule:
      return "rule";
    case BlockSource::kIndicator:
      return "indicator";
    case BlockSource::kOperator:
      return "operator";
  }
  return "unknown";
}

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace fs::enforce
