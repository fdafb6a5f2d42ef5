#include "patterns/payload_plan.h"

#include <fmt/format.h>
#include <hs/hs.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <optional>
#include <set>

namespace fs::patterns {
namespace {

// A content as Suricata holds it when matching starts (DetectContentData after parsing,
// PropagateLimits' conversion of a leading relative content, and the dsize depth).
struct Norm {
  const Content* c = nullptr;
  bool distance_flag = false, within_flag = false, offset_flag = false, depth_flag = false;
  uint16_t offset = 0, depth = 0;
  int32_t distance = 0, within = 0;
  // byte_extract slots in offset/depth/distance/within (DETECT_CONTENT_*_VAR).
  bool offset_var = false, depth_var = false, distance_var = false, within_var = false;

  bool relative() const { return distance_flag || within_flag; }
  bool any_var() const { return offset_var || depth_var || distance_var || within_var; }
  uint32_t len() const { return static_cast<uint32_t>(c->bytes.size()); }
  // Absolute content: can it be found at all? (Suricata: offset > depth, or the window shorter
  // than the content, is "not found" whatever the buffer.)
  bool WindowPossible() const {
    return any_var() || depth == 0 || uint32_t{depth} >= uint32_t{offset} + len();
  }
};

// Suricata's PropagateLimits (detect-content.c), run before matching: it turns a leading
// relative content into offset/depth and gives relative contents absolute offset/depth bounds
// derived from the contents before them. The relative inspection then also applies those bounds,
// so they are part of what matches (usually implied by the chain, but not always: a negated
// content without modifiers leaves its length as the running offset). Ported line by line,
// including its 16-bit arithmetic and its early return when a value does not fit.
// Returns false where Suricata's VALIDATE gives up (the rest of the list keeps its values).
bool PropagateChain(const Rule& rule, std::vector<std::optional<Norm>>* out, bool* has_depth,
                    bool* has_ends_with, uint16_t* ends_with_depth) {
  uint16_t offset = 0, offset_plus_pat = 0, depth = 0;
  bool has_active_depth_chain = false;
  auto note_ends_with = [&](const Norm& cd) {
    if (!cd.c->endswith) return;
    *has_ends_with = true;
    if (*ends_with_depth == 0) *ends_with_depth = depth;
    *ends_with_depth = std::min(*ends_with_depth, depth);
  };
  for (size_t i = 0; i < rule.payload.size(); ++i) {
    if (!(*out)[i]) {
      if (rule.payload[i].kind == PayloadItem::Kind::kPcre &&
          rule.pcres[rule.payload[i].index].relative) {
        depth = 0;
      } else {  // a pcre without R, or any other keyword (byte_test, isdataat, ...)
        offset_plus_pat = offset = depth = 0;
      }
      has_active_depth_chain = false;
      continue;
    }
    Norm& cd = *(*out)[i];
    if (!cd.depth_flag && !cd.offset_flag && !cd.within_flag && !cd.distance_flag) {
      offset = depth = 0;
      offset_plus_pat = static_cast<uint16_t>(cd.len());
      has_active_depth_chain = false;
      continue;
    }
    if (i == 0 && cd.distance >= 0 && cd.distance <= 0xffff && cd.within >= 0 &&
        cd.within <= 0xffff) {
      if (cd.distance_flag) {
        if (cd.distance > 0) cd.offset_flag = true;
        cd.distance_flag = false;
        cd.offset = static_cast<uint16_t>(cd.distance);
        cd.distance = 0;
      }
      if (cd.within_flag) {
        cd.depth_flag = true;
        cd.within_flag = false;
        cd.depth = static_cast<uint16_t>(static_cast<uint16_t>(cd.within) + cd.offset);
        cd.within = 0;
      }
    }
    if (cd.c->negated) {
      offset = depth = 0;
      offset_plus_pat = 0;
      has_active_depth_chain = false;
      continue;
    }
    if (cd.depth != 0) {
      *has_depth = true;
      has_active_depth_chain = true;
    }
    // (Suricata also tests "flags & (DETECT_DEPTH | DETECT_CONTENT_WITHIN)" here, which mixes a
    // keyword id into the flag mask and can never be zero at this point.)
    if (!cd.distance_flag) offset_plus_pat = offset = 0;
    if (cd.distance_flag) {
      if (cd.distance >= 0) {
        if (static_cast<uint32_t>(offset_plus_pat) + cd.distance > 0xffff) return false;
        offset = cd.offset = static_cast<uint16_t>(offset_plus_pat + cd.distance);
      } else {
        if (std::abs(cd.distance) > offset_plus_pat) {
          offset = cd.offset = 0;
        } else {
          offset = cd.offset = static_cast<uint16_t>(offset_plus_pat + cd.distance);
        }
        offset_plus_pat = static_cast<uint16_t>(offset + cd.len());
      }
    }
    if (has_active_depth_chain) {
      if (offset_plus_pat != 0 && cd.within_flag && cd.within >= 0) {
        if (depth != 0 && depth > offset_plus_pat) {
          int32_t dist = 0;
          if (cd.distance_flag && cd.distance > 0) dist = cd.distance;
          const int64_t v = int64_t{depth} + cd.within + dist;
          if (v < 0 || v > 0xffff) return false;
          depth = cd.depth = static_cast<uint16_t>(v);
        } else {
          const int64_t check = int64_t{depth} + cd.within;
          if (check < 0 || check > 0xffff) return false;
          depth = cd.depth = static_cast<uint16_t>(offset + cd.within);
        }
      } else if (cd.depth == 0 && depth != 0 && cd.within > 0) {
        if (cd.distance_flag && cd.distance >= 0) {
          const int64_t v = int64_t{offset_plus_pat} + cd.distance;
          if (v < 0 || v > 0xffff) return false;
          cd.offset = static_cast<uint16_t>(v);
        }
        const int64_t v = int64_t{depth} + cd.within;
        if (v < 0 || v > 0xffff) return false;
        depth = cd.depth = static_cast<uint16_t>(cd.within + depth);
        note_ends_with(cd);
      }
    }
    if (cd.offset == 0 && cd.distance_flag && cd.distance >= 0) cd.offset = offset_plus_pat;
    if (!cd.depth_flag && !cd.offset_flag && cd.distance_flag && cd.distance >= 0) {
      // Only distance, or distance and within.
      if (static_cast<uint32_t>(offset_plus_pat) + cd.distance > 0xffff) return false;
      offset = cd.offset = static_cast<uint16_t>(offset_plus_pat + cd.distance);
      offset_plus_pat = static_cast<uint16_t>(offset + cd.len());
    }
    if (cd.offset_flag) {
      offset = cd.offset;
      offset_plus_pat = static_cast<uint16_t>(offset + cd.len());
    }
    if (cd.depth != 0) {
      depth = cd.depth;
      offset_plus_pat = static_cast<uint16_t>(offset + cd.len());
      note_ends_with(cd);
    }
    if (!cd.within_flag && !cd.depth_flag) {
      has_active_depth_chain = false;
      depth = 0;
    }
  }
  return true;
}

void PropagateLimits(const Rule& rule, std::vector<std::optional<Norm>>* out) {
  bool has_depth = false, has_ends_with = false;
  uint16_t ends_with_depth = 0;
  if (!PropagateChain(rule, out, &has_depth, &has_ends_with, &ends_with_depth)) return;
  // An anchored endswith (startswith + endswith): its end bounds every content of the buffer.
  if (!has_depth || !has_ends_with) return;
  for (std::optional<Norm>& n : *out) {
    if (!n) continue;
    if (n->depth == 0) n->depth = ends_with_depth;
    n->depth = std::min(ends_with_depth, n->depth);
    if (n->depth != 0) n->depth_flag = true;
  }
}

// The slot of byte_extract rule.byte_ops[index]: its rank among the byte_extracts of its buffer
// (Suricata's local_id).
int32_t ByteSlot(const Rule& rule, int16_t index) {
  const ByteOp& def = rule.byte_ops[index];
  int32_t slot = 0;
  for (int16_t k = 0; k < index; ++k) {
    const ByteOp& b = rule.byte_ops[k];
    if (b.kind == ByteOp::Kind::kExtract && b.buffer == def.buffer) ++slot;
  }
  return slot;
}

std::vector<std::optional<Norm>> Normalize(const Rule& rule, int dsize_ne_edge) {
  std::vector<std::optional<Norm>> out(rule.payload.size());
  for (size_t i = 0; i < rule.payload.size(); ++i) {
    const PayloadItem& item = rule.payload[i];
    if (item.kind != PayloadItem::Kind::kContent) continue;
    const Content& c = rule.contents[item.index];
    Norm n;
    n.c = &c;
    n.distance_flag = c.has_distance;
    n.within_flag = c.has_within;
    n.distance = c.has_distance ? c.distance : 0;
    n.within = c.has_within ? c.within : 0;
    n.offset_flag = c.has_offset;
    n.offset = c.offset;
    n.depth_flag = c.has_depth;
    n.depth = c.depth_end();
    // A variable's slot stands in the value, as Suricata keeps it (its limit arithmetic then uses
    // the slot number too).
    if (c.distance_var >= 0) {
      n.distance_var = true;
      n.distance = ByteSlot(rule, c.distance_var);
    }
    if (c.within_var >= 0) {
      n.within_var = true;
      n.within = ByteSlot(rule, c.within_var);
    }
    if (c.offset_var >= 0) {
      n.offset_var = true;
      n.offset = static_cast<uint16_t>(ByteSlot(rule, c.offset_var));
      if (c.has_depth && c.depth_var < 0) n.depth = static_cast<uint16_t>(c.depth + n.offset);
    }
    if (c.depth_var >= 0) {
      n.depth_var = true;
      n.depth = static_cast<uint16_t>(ByteSlot(rule, c.depth_var));
    }
    out[i] = n;
  }
  PropagateLimits(rule, &out);
  // SigParseApplyDsizeToContent (after PropagateLimits).
  if (dsize_ne_edge >= 0) {
    for (std::optional<Norm>& n : out) {
      if (n && (n->depth == 0 || n->depth >= dsize_ne_edge)) {
        n->depth_flag = true;
        n->depth = static_cast<uint16_t>(dsize_ne_edge);
      }
    }
  }
  return out;
}

bool HasLetter(const std::string& bytes) {
  return std::any_of(bytes.begin(), bytes.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); });
}

// \xHH for every byte; lower case letters when the literal is caseless, so that "ABC" and "abc"
// with nocase are one expression.
std::string EscapeBytes(const std::string& bytes, bool caseless = false) {
  std::string out;
  out.reserve(bytes.size() * 4);
  for (unsigned char b : bytes) {
    if (caseless && b >= 'A' && b <= 'Z') b = static_cast<unsigned char>(b - 'A' + 'a');
    out += fmt::format("\\x{:02x}", b);
  }
  return out;
}

// A content as a piece of regex: \xHH bytes, in a caseless group when nocase matters.
std::string LiteralRegex(const Content& c) {
  if (c.nocase && HasLetter(c.bytes)) return "(?i:" + EscapeBytes(c.bytes, true) + ")";
  return EscapeBytes(c.bytes);
}

// An absolute content anywhere in its window [offset, depth): the literal, with the window as
// bounds on the match end.
ExprSpec WindowLiteral(const Norm& n) {
  ExprSpec e;
  const bool caseless = n.c->nocase && HasLetter(n.c->bytes);
  e.regex = EscapeBytes(n.c->bytes, caseless);
  e.flags = HS_FLAG_SINGLEMATCH | (caseless ? HS_FLAG_CASELESS : 0u);
  if (n.offset > 0) e.min_offset = n.offset + n.len();
  if (n.depth != 0) e.max_offset = n.depth;
  return e;
}

ExprSpec AnywhereLiteral(const Content& c) {
  ExprSpec e;
  const bool caseless = c.nocase && HasLetter(c.bytes);
  e.regex = EscapeBytes(c.bytes, caseless);
  e.flags = HS_FLAG_SINGLEMATCH | (caseless ? HS_FLAG_CASELESS : 0u);
  return e;
}

bool HsAccepts(const std::string& regex, unsigned flags);

enum class ChainFit { kExact, kNever, kNotExact };

// head, then each next content relative to the one before it with distance >= 0: one regex.
// Suricata: next.start >= prev.end + distance and, with within, next.end <= prev.end + distance
// + within; the head within [offset, depth). PropagateLimits' bounds on a relative content (its
// cd->offset as the earliest start, prev.end + cd->depth as the latest end) are folded in: the
// depth narrows the gap, an offset that the chain does not already imply is not expressible.
ChainFit ChainRegex(const std::vector<const Norm*>& chain, ExprSpec* out) {
  if (chain.size() == 1) {
    *out = WindowLiteral(*chain[0]);
    return ChainFit::kExact;
  }
  const Norm& head = *chain[0];
  std::string body = LiteralRegex(*head.c);
  bool fixed = true;
  uint64_t total = head.len();
  uint64_t earliest_end = uint64_t{head.offset} + head.len();
  constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();
  for (size_t k = 1; k < chain.size(); ++k) {
    const Norm& n = *chain[k];
    const auto lo = static_cast<uint64_t>(n.distance);
    uint64_t hi = n.within_flag ? lo + static_cast<uint64_t>(n.within) - n.len() : kNoLimit;
    if (n.depth != 0) {
      if (n.depth < lo + n.len()) return ChainFit::kNever;
      hi = std::min<uint64_t>(hi, n.depth - n.len());
    }
    if (n.offset > earliest_end + lo) return ChainFit::kNotExact;
    earliest_end += lo + n.len();
    if (hi == lo) {
      if (lo != 0) body += fmt::format(".{{{}}}", lo);
    } else if (hi == kNoLimit) {
      body += lo == 0 ? ".*" : fmt::format(".{{{},}}", lo);
      fixed = false;
    } else {
      body += fmt::format(".{{{},{}}}", lo, hi);
      fixed = false;
    }
    total += lo + n.len();
    body += LiteralRegex(*n.c);
  }
  ExprSpec e;
  e.flags = HS_FLAG_SINGLEMATCH | HS_FLAG_DOTALL;
  if (head.offset == 0 && head.depth == 0) {
    e.regex = body;
  } else if (fixed) {
    // The chain has one length: the head's window is a window on the match end.
    e.regex = body;
    if (head.offset > 0) e.min_offset = head.offset + total;
    if (head.depth != 0) e.max_offset = head.depth - head.len() + total;
  } else if (head.depth != 0) {
    const uint32_t lo = head.offset, hi = head.depth - head.len();
    e.regex = (hi == 0    ? std::string("^")
               : lo == hi ? fmt::format("^.{{{}}}", lo)
                          : fmt::format("^.{{{},{}}}", lo, hi)) +
              body;
  } else {
    e.regex = fmt::format("^.{{{},}}", head.offset) + body;
  }
  // Generated regexes are plain, but a bound Hyperscan does not take would fail the whole
  // database: check each one on its own.
  if (!HsAccepts(e.regex, e.flags)) return ChainFit::kNotExact;
  *out = std::move(e);
  return ChainFit::kExact;
}

// PCRE constructs whose meaning Hyperscan may not share exactly with PCRE2 (vertical/horizontal
// space classes, \R, \X, \C, \N, properties, \K, \G): such a regex is only a pre-filter.
bool HasRiskyEscape(const std::string& re) {
  for (size_t i = 0; i + 1 < re.size(); ++i) {
    if (re[i] != '\\') continue;
    const char e = re[i + 1];
    if (std::string_view("vVhHRXCNpPKG").find(e) != std::string_view::npos) return true;
    ++i;
  }
  return false;
}

bool HsAccepts(const std::string& regex, unsigned flags) {
  hs_expr_info_t* info = nullptr;
  hs_compile_error_t* err = nullptr;
  const hs_error_t rc = hs_expression_info(regex.c_str(), flags, &info, &err);
  if (err != nullptr) hs_free_compile_error(err);
  std::free(info);
  return rc == HS_SUCCESS;
}

enum class PcreFit { kExact, kPrefilter, kNone };

// A non-relative pcre as a Hyperscan expression over the whole buffer: exact when Hyperscan
// compiles it with the same meaning, else in prefilter mode (a superset of PCRE2's matches).
PcreFit PcreExpr(const Pcre& p, ExprSpec* out) {
  ExprSpec e;
  e.from_pcre = true;
  e.regex = p.extended ? "(?x)" + p.regex + "\n" : p.regex;  // a (?x) comment needs its newline
  e.flags = HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY;
  if (p.caseless) e.flags |= HS_FLAG_CASELESS;
  if (p.dotall) e.flags |= HS_FLAG_DOTALL;
  if (p.multiline) e.flags |= HS_FLAG_MULTILINE;
  // A (anchored at the start offset) and E ($ only at the very end) only narrow the matches: the
  // regex without them is a superset.
  const bool exact_candidate = !p.anchored && !p.dollar_endonly && !HasRiskyEscape(p.regex);
  if (exact_candidate && HsAccepts(e.regex, e.flags)) {
    *out = e;
    return PcreFit::kExact;
  }
  e.flags |= HS_FLAG_PREFILTER;
  if (HsAccepts(e.regex, e.flags)) {
    *out = e;
    return PcreFit::kPrefilter;
  }
  return PcreFit::kNone;
}

void AddUnique(std::vector<ExprSpec>* v, ExprSpec e) {
  const std::string key = e.Key();
  for (const ExprSpec& x : *v) {
    if (x.Key() == key) return;
  }
  v->push_back(std::move(e));
}

// Whether Hyperscan takes `require` as one logical combination (it refuses some sub-expressions
// there, e.g. a pcre with '$', whose end-of-data match is "unordered").
bool CombinationCompiles(const std::vector<ExprSpec>& require) {
  std::vector<std::string> regexes;
  std::vector<unsigned> flags, ids;
  std::vector<hs_expr_ext_t> ext(require.size() + 1);
  std::vector<const hs_expr_ext_t*> ext_ptrs;
  std::string comb;
  for (size_t i = 0; i < require.size(); ++i) {
    const ExprSpec& e = require[i];
    regexes.push_back(e.regex);
    flags.push_back(e.flags | HS_FLAG_QUIET);
    ids.push_back(static_cast<unsigned>(i));
    ext[i] = e.Ext();
    ext_ptrs.push_back(ext[i].flags != 0 ? &ext[i] : nullptr);
    if (!comb.empty()) comb += " & ";
    comb += std::to_string(i);
  }
  regexes.push_back(comb);
  flags.push_back(HS_FLAG_COMBINATION | HS_FLAG_SINGLEMATCH);
  ids.push_back(static_cast<unsigned>(require.size()));
  ext_ptrs.push_back(nullptr);
  std::vector<const char*> ptrs;
  for (const std::string& r : regexes) ptrs.push_back(r.c_str());
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  const hs_error_t rc =
      hs_compile_ext_multi(ptrs.data(), flags.data(), ids.data(), ext_ptrs.data(),
                           static_cast<unsigned>(ptrs.size()), HS_MODE_BLOCK, nullptr, &db, &err);
  hs_free_compile_error(err);
  hs_free_database(db);
  return rc == HS_SUCCESS;
}

bool HasPcreSpec(const std::vector<ExprSpec>& v) {
  return std::any_of(v.begin(), v.end(), [](const ExprSpec& e) { return e.from_pcre; });
}

}  // namespace

bool ExprSpec::prefilter() const { return (flags & HS_FLAG_PREFILTER) != 0; }

hs_expr_ext_t ExprSpec::Ext() const {
  hs_expr_ext_t ext{};
  if (min_offset != 0) {
    ext.flags |= HS_EXT_FLAG_MIN_OFFSET;
    ext.min_offset = min_offset;
  }
  if (max_offset != 0) {
    ext.flags |= HS_EXT_FLAG_MAX_OFFSET;
    ext.max_offset = max_offset;
  }
  return ext;
}

std::string ExprSpec::Key() const {
  return fmt::format("{}\x01{}\x01{}\x01{}", regex, flags, min_offset, max_offset);
}

const char* PayloadModeName(PayloadMode m) {
  switch (m) {
    case PayloadMode::kNone:
      return "none";
    case PayloadMode::kExact:
      return "exact";
    case PayloadMode::kConfirm:
      return "confirm";
    case PayloadMode::kNever:
      return "never";
  }
  return "?";
}

PayloadPlan BuildSteps(const Rule& rule, int dsize_ne_edge) {
  PayloadPlan plan;
  if (rule.payload.empty()) return plan;
  plan.mode = PayloadMode::kConfirm;
  const std::vector<std::optional<Norm>> norm = Normalize(rule, dsize_ne_edge);
  const size_t n = rule.payload.size();
  for (size_t i = 0; i < n; ++i) {
    const PayloadItem& item = rule.payload[i];
    MatchStep s;
    s.is_last = i + 1 == n;
    if (item.kind == PayloadItem::Kind::kByte) {
      const ByteOp& b = rule.byte_ops[item.index];
      switch (b.kind) {
        case ByteOp::Kind::kTest:
          s.kind = MatchStep::Kind::kByteTest;
          break;
        case ByteOp::Kind::kJump:
          s.kind = MatchStep::Kind::kByteJump;
          break;
        case ByteOp::Kind::kExtract:
          s.kind = MatchStep::Kind::kByteExtract;
          s.slot = static_cast<uint8_t>(ByteSlot(rule, static_cast<int16_t>(item.index)));
          break;
        case ByteOp::Kind::kIsdataat:
          s.kind = MatchStep::Kind::kIsdataat;
          break;
      }
      s.negated = b.negated;
      s.relative = b.relative;
      s.string = b.string;
      s.little = b.little;
      s.bitmask = b.bitmask;
      s.align = b.align;
      s.from_beginning = b.from_beginning;
      s.from_end = b.from_end;
      s.op = b.op;
      s.base = b.base;
      s.bitmask_shift = b.bitmask_shift;
      s.align_value = b.align_value;
      s.multiplier = b.multiplier;
      s.nbytes = b.nbytes;
      s.bitmask_value = b.bitmask_value;
      s.byte_offset = b.offset;
      s.post_offset = b.post_offset;
      s.value = b.value;
      auto slot = [&](int16_t var) {
        return var < 0 ? int8_t{-1} : static_cast<int8_t>(ByteSlot(rule, var));
      };
      s.nbytes_slot = slot(b.nbytes_var);
      s.offset_slot = slot(b.offset_var);
      s.value_slot = slot(b.value_var);
      plan.steps.push_back(s);
      continue;
    }
    // What the next content or pcre of the buffer (byte keywords in between do not count: they
    // set no flag on it) set on this one when it was parsed.
    size_t j = i + 1;
    while (j < n && rule.payload[j].kind == PayloadItem::Kind::kByte) ++j;
    bool next_relative = false, next_within_next = false;
    if (j < n) {
      const PayloadItem& next = rule.payload[j];
      if (next.kind == PayloadItem::Kind::kPcre) {
        next_relative = rule.pcres[next.index].relative;
        next_within_next = next_relative;  // RELATIVE_NEXT includes WITHIN_NEXT
      } else {
        const Content& nc = rule.contents[next.index];
        next_relative = nc.relative();
        next_within_next = nc.has_within || (nc.negated && nc.has_distance);
      }
    }
    if (item.kind == PayloadItem::Kind::kContent) {
      const Norm& c = *norm[i];
      s.kind = MatchStep::Kind::kContent;
      s.negated = c.c->negated;
      s.nocase = c.c->nocase;
      s.distance_flag = c.distance_flag;
      s.within_flag = c.within_flag;
      s.offset_flag = c.offset_flag;
      s.depth_flag = c.depth_flag;
      s.offset = c.offset;
      s.depth = c.depth;
      s.distance = c.distance;
      s.within = c.within;
      s.within_next = next_within_next;
      s.relative_next = next_relative || c.c->byte_relative_next;
      s.ends_with = c.c->endswith;
      s.offset_var = c.offset_var;
      s.depth_var = c.depth_var;
      s.distance_var = c.distance_var;
      s.within_var = c.within_var;
      s.bytes_begin = static_cast<uint32_t>(plan.bytes.size());
      s.bytes_len = c.len();
      for (char b : c.c->bytes) {
        plan.bytes.push_back(s.nocase && b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a')
                                                              : b);
      }
    } else {
      const Pcre& p = rule.pcres[item.index];
      s.kind = MatchStep::Kind::kPcre;
      s.negated = p.negated;
      s.relative = p.relative;
      s.relative_next = next_relative || p.byte_relative_next;
      s.pcre = static_cast<uint32_t>(plan.pcres.size());
      plan.pcres.push_back(&p);
    }
    plan.steps.push_back(s);
  }
  return plan;
}

PayloadPlan PlanPayload(const Rule& rule, int dsize_ne_edge) {
  PayloadPlan plan;
  if (rule.payload.empty()) return plan;
  const std::vector<std::optional<Norm>> norm = Normalize(rule, dsize_ne_edge);
  const size_t n = rule.payload.size();
  auto is_relative = [&](size_t i) {
    const PayloadItem& item = rule.payload[i];
    return item.kind == PayloadItem::Kind::kPcre ? rule.pcres[item.index].relative
                                                 : norm[i]->relative();
  };

  // A positive absolute content whose window is shorter than it can never be found, and every
  // content and pcre of a rule must match.
  for (size_t i = 0; i < n; ++i) {
    if (norm[i] && !norm[i]->c->negated && !norm[i]->relative() && !norm[i]->WindowPossible()) {
      plan.mode = PayloadMode::kNever;
      return plan;
    }
  }

  // Exact in Hyperscan? Chains of positive contents, independent negated contents, independent
  // pcres Hyperscan compiles with PCRE2's meaning; no byte keyword, no endswith.
  std::string reason;
  for (size_t i = 0; i < n && reason.empty(); ++i) {
    if (rule.payload[i].kind == PayloadItem::Kind::kByte) {
      reason = "byte_test, byte_jump, byte_extract or isdataat";
    } else if (norm[i] && norm[i]->c->endswith) {
      reason = "endswith";
    }
  }
  for (size_t i = 0; i < n && reason.empty(); ++i) {
    const PayloadItem& item = rule.payload[i];
    if (item.kind == PayloadItem::Kind::kPcre) {
      if (rule.pcres[item.index].relative) {
        reason = "relative pcre";
      } else if (i + 1 < n && is_relative(i + 1)) {
        reason = "content relative to a pcre";
      }
      continue;
    }
    const Norm& c = *norm[i];
    if (!c.relative()) continue;
    if (c.c->negated) {
      reason = "negated relative content";
    } else if (i == 0 || !norm[i - 1] || norm[i - 1]->c->negated) {
      reason = "relative content after a pcre or negated content";
    } else if (c.distance < 0) {
      reason = "negative distance";
    }
  }
  std::vector<ExprSpec> pcre_specs(n);
  std::vector<PcreFit> pcre_fit(n, PcreFit::kNone);
  for (size_t i = 0; i < n; ++i) {
    const PayloadItem& item = rule.payload[i];
    if (item.kind != PayloadItem::Kind::kPcre) continue;
    const Pcre& p = rule.pcres[item.index];
    if (p.relative) {
      ++plan.pcre_software;
      continue;
    }
    pcre_fit[i] = PcreExpr(p, &pcre_specs[i]);
    if (pcre_fit[i] == PcreFit::kExact) {
      ++plan.pcre_exact;
    } else if (pcre_fit[i] == PcreFit::kPrefilter) {
      ++plan.pcre_prefilter;
      if (reason.empty()) reason = "pcre Hyperscan only pre-filters";
    } else {
      ++plan.pcre_software;
      if (reason.empty()) reason = "pcre Hyperscan cannot compile";
    }
  }

  if (reason.empty()) {
    plan.mode = PayloadMode::kExact;
    std::vector<const Norm*> chain;
    bool refused = false, never = false;
    auto flush = [&] {
      if (chain.empty()) return;
      ExprSpec e;
      switch (ChainRegex(chain, &e)) {
        case ChainFit::kExact:
          AddUnique(&plan.require, std::move(e));
          break;
        case ChainFit::kNever:
          never = true;
          break;
        case ChainFit::kNotExact:
          refused = true;
          break;
      }
      chain.clear();
    };
    for (size_t i = 0; i < n; ++i) {
      const PayloadItem& item = rule.payload[i];
      if (item.kind == PayloadItem::Kind::kPcre) {
        flush();
        if (rule.pcres[item.index].negated) {
          AddUnique(&plan.veto, pcre_specs[i]);
        } else {
          AddUnique(&plan.require, pcre_specs[i]);
        }
        continue;
      }
      const Norm& c = *norm[i];
      if (c.c->negated) {
        flush();
        // Never found in an impossible window: always satisfied, nothing to scan for.
        if (c.WindowPossible()) AddUnique(&plan.veto, WindowLiteral(c));
        continue;
      }
      if (!c.relative()) flush();
      chain.push_back(&c);
    }
    flush();
    if (never) {
      plan = PayloadPlan{};
      plan.mode = PayloadMode::kNever;
      return plan;
    }
    if (!refused && plan.require.size() > 1 && HasPcreSpec(plan.require) &&
        !CombinationCompiles(plan.require)) {
      refused = true;
      reason = "pcre Hyperscan cannot combine with the contents";
    }
    if (!refused) return plan;
    if (reason.empty()) reason = "chain bounds Hyperscan cannot express";
    plan.require.clear();
    plan.veto.clear();
  }

  // Confirmed in software; Hyperscan requires what every match needs: each positive content
  // somewhere (absolute ones inside their window), each non-relative positive pcre.
  PayloadPlan steps = BuildSteps(rule, dsize_ne_edge);
  steps.confirm_reason = reason;
  steps.pcre_exact = plan.pcre_exact;
  steps.pcre_prefilter = plan.pcre_prefilter;
  steps.pcre_software = plan.pcre_software;
  for (size_t i = 0; i < n; ++i) {
    const PayloadItem& item = rule.payload[i];
    if (item.kind == PayloadItem::Kind::kPcre) {
      if (!rule.pcres[item.index].negated && pcre_fit[i] != PcreFit::kNone) {
        AddUnique(&steps.require, pcre_specs[i]);
      }
      continue;
    }
    if (item.kind == PayloadItem::Kind::kByte) continue;
    const Norm& c = *norm[i];
    if (c.c->negated) continue;
    // A window read from a byte_extract variable is only known when matching.
    AddUnique(&steps.require,
              c.relative() || c.any_var() ? AnywhereLiteral(*c.c) : WindowLiteral(c));
  }
  // Logical combinations cannot hold prefilter-mode expressions: keep such a pcre only when it
  // is the rule's one requirement.
  if (steps.require.size() > 1) {
    std::erase_if(steps.require, [](const ExprSpec& e) { return e.prefilter(); });
  }
  if (steps.require.size() > 1 && HasPcreSpec(steps.require) &&
      !CombinationCompiles(steps.require)) {
    const ExprSpec first = steps.require.front();
    std::erase_if(steps.require, [](const ExprSpec& e) { return e.from_pcre; });
    if (steps.require.empty()) steps.require.push_back(first);  // alone it needs no combination
  }
  return steps;
}

}  // namespace fs::patterns
