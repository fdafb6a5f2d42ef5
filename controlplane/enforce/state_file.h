// The block manager's state file (docs/enforcement.md "State across restarts"): the active blocks
// as JSON, so a restart neither forgets a block nor lifts it early.
//
//   {"version": 1, "blocks": [{"target": "198.51.100.7", "source": "rule", "gid": 1,
//     "sid": 2000001, "reason": "...", "created_ms": 1780000000000, "expires_ms": ...}]}
//
// Plain functions, no state; called by the BlockManager's timer thread (writes) and by Start /
// Stop (read, final write). One writer per file: the manager serialises its writes.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/enforce/block.h"

namespace fs::enforce {

inline constexpr int kStateFileVersion = 1;

struct StateFileContents {
  std::vector<Block> blocks;          // in file order; expired ones included (the caller decides)
  std::vector<std::string> warnings;  // "blocks[3]: target: ..." for each entry skipped
};

// The file's text for `blocks`.
std::string StateToJson(std::span<const Block> blocks);

// Parses the text of a state file. A document that is not JSON, not an object, has another
// version or no "blocks" array is an error (*error says why, without the path). An entry with a
// missing or bad field is skipped with a warning naming its index and the field.
bool ParseState(std::string_view text, StateFileContents* out, std::string* error);

// Reads `path`. A missing file is an empty state (true). Unreadable or corrupt: false with
// *error = "state file PATH: reason".
bool ReadStateFile(const std::string& path, StateFileContents* out, std::string* error);

// Replaces `path` atomically: writes PATH.tmp in the same directory, fsyncs it, renames it over
// PATH and fsyncs the directory, so a crash leaves either the old or the new file, never half of
// one. False with *error = "state file PATH: reason".
bool WriteStateFile(const std::string& path, std::span<const Block> blocks, std::string* error);

}  // namespace fs::enforce
