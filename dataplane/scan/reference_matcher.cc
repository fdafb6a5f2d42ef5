#include "dataplane/scan/reference_matcher.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "patterns/pcre.h"
#include "patterns/range_set.h"

namespace fs::scan {
namespace {

using patterns::Content;
using patterns::PayloadItem;
using patterns::Pcre;
using patterns::Rule;

// Suricata's DetectContentData / DetectPcreData flag bits (detect-content.h, detect-pcre.h).
constexpr uint32_t kNocase = 1u << 0, kDistance = 1u << 1, kWithin = 1u << 2, kOffset = 1u << 3,
                   kDepth = 1u << 4, kNegated = 1u << 9, kWithinNext = 1u << 17,
                   kDistanceNext = 1u << 18;
constexpr uint32_t kRelativeNext = kWithinNext | kDistanceNext;
constexpr uint32_t kPcreRelative = 0x1, kPcreRelativeNext = 0x40, kPcreNegate = 0x80;

struct SigMatch {
  bool is_pcre = false;
  uint32_t flags = 0;
  std::string content;  // lower-cased when nocase (DetectContentConvertToNocase)
  uint16_t depth = 0, offset = 0;
  int32_t distance = 0, within = 0;
  patterns::Pcre2CodePtr re;
  bool is_last = false;
};

struct DetCtx {
  const uint8_t* buffer = nullptr;
  uint32_t buffer_len = 0;
  uint32_t buffer_offset = 0;
  uint32_t pcre_match_start_offset = 0;
  uint32_t inspection_recursion_counter = 0;
  bool discontinue_matching = false;
  uint32_t limit = 0;
  pcre2_match_context* mctx = nullptr;
};

// detect-content.c PropagateLimits (7.0.10), on the DetectContentData fields.
void PropagateLimits(std::vector<SigMatch>& sms) {
#define VALIDATE(e) \
  if (!(e)) {       \
    return;         \
  }
  constexpr uint32_t kDetectDepthKeywordId = 31;  // DETECT_DEPTH, misused as a flag mask there
  uint16_t offset = 0;
  uint16_t offset_plus_pat = 0;
  uint16_t depth = 0;
  bool has_active_depth_chain = false;
  for (size_t i = 0; i < sms.size(); ++i) {
    SigMatch& sm = sms[i];
    if (sm.is_pcre) {
      if (sm.flags & kPcreRelative) {
        depth = 0;
      } else {
        offset_plus_pat = offset = depth = 0;
      }
      has_active_depth_chain = false;
      continue;
    }
    SigMatch* cd = &sm;
    const auto content_len = static_cast<uint16_t>(cd->content.size());
    if ((cd->flags & (kDepth | kOffset | kWithin | kDistance)) == 0) {
      offset = depth = 0;
      offset_plus_pat = content_len;
      has_active_depth_chain = false;
      continue;
    }
    if (i == 0) {
      if (cd->distance >= 0 && cd->distance <= 0xffff && cd->within >= 0 && cd->within <= 0xffff) {
        if (cd->flags & kDistance) {
          if (cd->distance > 0) cd->flags |= kOffset;
          cd->flags &= ~kDistance;
          cd->offset = static_cast<uint16_t>(cd->distance);
          cd->distance = 0;
        }
        if (cd->flags & kWithin) {
          cd->flags |= kDepth;
          cd->flags &= ~kWithin;
          cd->depth = static_cast<uint16_t>(static_cast<uint16_t>(cd->within) + cd->offset);
          cd->within = 0;
        }
      }
    }
    if (cd->flags & kNegated) {
      offset = depth = 0;
      offset_plus_pat = 0;
      has_active_depth_chain = false;
      continue;
    }
    if (cd->depth) has_active_depth_chain = true;
    if ((cd->flags & (kDetectDepthKeywordId | kWithin)) == 0) {
      depth = 0;
      has_active_depth_chain = false;
    }
    if ((cd->flags & kDistance) == 0) offset_plus_pat = offset = 0;
    if (cd->flags & kDistance) {
      if (cd->distance >= 0) {
        VALIDATE(static_cast<uint32_t>(offset_plus_pat) + cd->distance <= 0xffff);
        offset = cd->offset = static_cast<uint16_t>(offset_plus_pat + cd->distance);
      } else {
        if (std::abs(cd->distance) > offset_plus_pat)
          offset = cd->offset = 0;
        else
          offset = cd->offset = static_cast<uint16_t>(offset_plus_pat + cd->distance);
        offset_plus_pat = static_cast<uint16_t>(offset + content_len);
      }
    }
    if (has_active_depth_chain) {
      if (offset_plus_pat && (cd->flags & kWithin) && cd->within >= 0) {
        if (depth && depth > offset_plus_pat) {
          int32_t dist = 0;
          if ((cd->flags & kDistance) && cd->distance > 0) dist = cd->distance;
          VALIDATE(depth + cd->within + dist >= 0 && depth + cd->within + dist <= 0xffff);
          depth = cd->depth = static_cast<uint16_t>(depth + cd->within + dist);
        } else {
          VALIDATE(depth + cd->within >= 0 && depth + cd->within <= 0xffff);
          depth = cd->depth = static_cast<uint16_t>(offset + cd->within);
        }
      } else {
        if (cd->depth == 0 && depth != 0) {
          if (cd->within > 0) {
            if ((cd->flags & kDistance) && cd->distance >= 0) {
              VALIDATE(offset_plus_pat + cd->distance >= 0 &&
                       offset_plus_pat + cd->distance <= 0xffff);
              cd->offset = static_cast<uint16_t>(offset_plus_pat + cd->distance);
            }
            VALIDATE(depth + cd->within >= 0 && depth + cd->within <= 0xffff);
            depth = cd->depth = static_cast<uint16_t>(cd->within + depth);
          }
        }
      }
    }
    if (cd->offset == 0) {
      if ((cd->flags & kDistance) && cd->distance >= 0) cd->offset = offset_plus_pat;
    }
    const uint32_t mask = cd->flags & (kDepth | kOffset | kWithin | kDistance);
    if (mask == (kDistance | kWithin) || mask == kDistance) {
      if (cd->distance >= 0) {
        VALIDATE(static_cast<uint32_t>(offset_plus_pat) + cd->distance <= 0xffff);
        offset = cd->offset = static_cast<uint16_t>(offset_plus_pat + cd->distance);
        offset_plus_pat = static_cast<uint16_t>(offset + content_len);
      }
    }
    if (cd->flags & kOffset) {
      offset = cd->offset;
      offset_plus_pat = static_cast<uint16_t>(offset + content_len);
    }
    if (cd->depth) {
      depth = cd->depth;
      offset_plus_pat = static_cast<uint16_t>(offset + content_len);
    }
    if ((cd->flags & (kWithin | kDepth)) == 0) {
      has_active_depth_chain = false;
      depth = 0;
    }
  }
#undef VALIDATE
}

std::vector<SigMatch> Setup(const Rule& rule, int dsize_max) {
  std::vector<SigMatch> sms;
  for (const PayloadItem& item : rule.payload) {
    // The reference covers contents and pcres only (byte keywords: payload_match_test).
    if (item.kind == PayloadItem::Kind::kByte) continue;
    SigMatch sm;
    if (item.kind == PayloadItem::Kind::kPcre) {
      const Pcre& p = rule.pcres[item.index];
      sm.is_pcre = true;
      if (p.relative) sm.flags |= kPcreRelative;
      if (p.negated) sm.flags |= kPcreNegate;
      std::string error;
      sm.re = patterns::CompilePcre2(p, /*jit=*/false, &error);
      // DetectPcreSetup: R marks the previous content/pcre.
      if (p.relative && !sms.empty()) {
        sms.back().flags |= sms.back().is_pcre ? kPcreRelativeNext : kRelativeNext;
      }
    } else {
      const Content& c = rule.contents[item.index];
      sm.content = c.bytes;
      if (c.nocase) {
        sm.flags |= kNocase;
        for (char& ch : sm.content) {
          if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
        }
      }
      if (c.negated) sm.flags |= kNegated;
      if (c.has_offset) {
        sm.flags |= kOffset;
        sm.offset = c.offset;
      }
      if (c.has_depth) {
        sm.flags |= kDepth;
        sm.depth = static_cast<uint16_t>(c.depth + c.offset);  // "depth is relative to offset"
      }
      if (c.has_distance) {
        sm.flags |= kDistance;
        sm.distance = c.distance;
        if (!sms.empty()) {  // DetectDistanceSetup
          if (sms.back().is_pcre) {
            sms.back().flags |= kPcreRelativeNext;
          } else {
            sms.back().flags |= c.negated ? kRelativeNext : kDistanceNext;
          }
        }
      }
      if (c.has_within) {
        sm.flags |= kWithin;
        sm.within = c.within;
        if (!sms.empty()) {  // DetectWithinSetup
          sms.back().flags |= sms.back().is_pcre ? kPcreRelativeNext : kWithinNext;
        }
      }
    }
    sms.push_back(std::move(sm));
  }
  if (!sms.empty()) sms.back().is_last = true;

  PropagateLimits(sms);
  // SigParseApplyDsizeToContent.
  if (dsize_max >= 0) {
    for (SigMatch& cd : sms) {
      if (cd.is_pcre) continue;
      if (cd.depth == 0 || cd.depth >= dsize_max) {
        cd.flags |= kDepth;
        cd.depth = static_cast<uint16_t>(dsize_max);
      }
    }
  }
  return sms;
}

const uint8_t* SpmScan(const SigMatch& cd, const uint8_t* hay, uint32_t len) {
  const size_t n = cd.content.size();
  auto eq = [&](uint8_t a, char b) {
    if ((cd.flags & kNocase) && a >= 'A' && a <= 'Z') a = static_cast<uint8_t>(a - 'A' + 'a');
    return a == static_cast<uint8_t>(b);
  };
  const uint8_t* it = std::search(hay, hay + len, cd.content.begin(), cd.content.end(), eq);
  return it == hay + len || n > len ? nullptr : it;
}

int DetectEngineContentInspection(DetCtx& det_ctx, std::vector<SigMatch>& sms, size_t smd);

int DetectPcrePayloadMatch(DetCtx& det_ctx, SigMatch& pe) {
  const uint8_t* payload = det_ctx.buffer;
  const uint8_t* ptr;
  uint32_t len;
  if (pe.flags & kPcreRelative) {
    ptr = payload + det_ctx.buffer_offset;
    len = det_ctx.buffer_len - det_ctx.buffer_offset;
  } else {
    ptr = payload;
    len = det_ctx.buffer_len;
  }
  int start_offset = 0;
  if (det_ctx.pcre_match_start_offset != 0) {
    start_offset = static_cast<int>(payload + det_ctx.pcre_match_start_offset - ptr);
  }
  pcre2_match_data* match = pcre2_match_data_create_from_pattern(pe.re.get(), nullptr);
  int ret = pcre2_match(pe.re.get(), ptr, len, static_cast<PCRE2_SIZE>(start_offset), 0, match,
                        det_ctx.mctx);
  if (ret == PCRE2_ERROR_NOMATCH) {
    ret = (pe.flags & kPcreNegate) ? 1 : 0;
  } else if (ret >= 0) {
    if (pe.flags & kPcreNegate) {
      ret = 0;
    } else {
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match);
      det_ctx.buffer_offset = static_cast<uint32_t>((ptr + ov[1]) - payload);
      det_ctx.pcre_match_start_offset = static_cast<uint32_t>((ptr + ov[0] + 1) - payload);
      ret = 1;
    }
  } else {
    ret = 0;
  }
  pcre2_match_data_free(match);
  return ret;
}

int DetectEngineContentInspection(DetCtx& det_ctx, std::vector<SigMatch>& sms, size_t smd) {
  det_ctx.inspection_recursion_counter++;
  if (det_ctx.limit != 0 && det_ctx.inspection_recursion_counter == det_ctx.limit) {
    det_ctx.discontinue_matching = true;
    return 0;
  }
  SigMatch& sm = sms[smd];
  const uint8_t* buffer = det_ctx.buffer;
  const uint32_t buffer_len = det_ctx.buffer_len;
  auto match = [&]() -> int {
    if (!sm.is_last) return DetectEngineContentInspection(det_ctx, sms, smd + 1);
    return 1;
  };

  if (!sm.is_pcre) {
    SigMatch& cd = sm;
    const auto content_len = static_cast<uint32_t>(cd.content.size());
    uint32_t offset = 0;
    uint32_t depth = buffer_len;
    uint32_t prev_offset = 0;
    uint32_t prev_buffer_offset = det_ctx.buffer_offset;
    do {
      if ((cd.flags & kDistance) || (cd.flags & kWithin)) {
        offset = prev_buffer_offset;
        depth = buffer_len;
        int distance = cd.distance;
        if (cd.flags & kDistance) {
          if (distance < 0 && static_cast<uint32_t>(std::abs(distance)) > offset) {
            offset = 0;
          } else {
            offset += distance;
          }
        }
        if (cd.flags & kWithin) {
          if (static_cast<int32_t>(depth) >
              static_cast<int32_t>(prev_buffer_offset + cd.within + distance)) {
            depth = prev_buffer_offset + cd.within + distance;
          }
        }
        if (cd.depth != 0) {
          if ((cd.depth + prev_buffer_offset) < depth) depth = prev_buffer_offset + cd.depth;
        }
        if (cd.offset > offset) offset = cd.offset;
      } else {
        if (cd.depth != 0) depth = cd.depth;
        offset = cd.offset;
        prev_buffer_offset = 0;
      }
      if (prev_offset != 0) offset = prev_offset;
      if (depth > buffer_len) depth = buffer_len;
      if (offset > depth || depth == 0) {
        if (cd.flags & kNegated) return match();
        return 0;
      }
      const uint8_t* sbuffer = buffer + offset;
      const uint32_t sbuffer_len = depth - offset;
      const uint8_t* found =
          content_len > sbuffer_len ? nullptr : SpmScan(cd, sbuffer, sbuffer_len);
      if (found == nullptr) {
        if (!(cd.flags & kNegated)) {
          if ((cd.flags & (kDistance | kWithin)) == 0) det_ctx.discontinue_matching = true;
          return 0;
        }
        return match();
      }
      const auto match_offset = static_cast<uint32_t>((found - buffer) + content_len);
      if (cd.flags & kNegated) {
        const bool single = !(cd.flags & (kDistance | kWithin | kRelativeNext | kDepth | kOffset));
        if (single) det_ctx.discontinue_matching = true;
        return 0;
      }
      det_ctx.buffer_offset = match_offset;
      if (cd.is_last) return match();
      const int r = DetectEngineContentInspection(det_ctx, sms, smd + 1);
      if (r == 1) return 1;
      if (det_ctx.discontinue_matching) return 0;
      if ((cd.flags & kWithinNext) == 0) {
        det_ctx.discontinue_matching = true;
        return 0;
      }
      prev_offset = (match_offset - (content_len - 1));
    } while (true);
  }

  SigMatch& pe = sm;
  const uint32_t prev_buffer_offset = det_ctx.buffer_offset;
  uint32_t prev_offset = 0;
  det_ctx.pcre_match_start_offset = 0;
  do {
    int r = DetectPcrePayloadMatch(det_ctx, pe);
    if (r == 0) return 0;
    if (!(pe.flags & kPcreRelativeNext)) return match();
    prev_offset = det_ctx.pcre_match_start_offset;
    r = DetectEngineContentInspection(det_ctx, sms, smd + 1);
    if (r == 1) return 1;
    if (det_ctx.discontinue_matching) return 0;
    if (prev_offset == 0) return 0;
    det_ctx.buffer_offset = prev_buffer_offset;
    det_ctx.pcre_match_start_offset = prev_offset;
  } while (true);
}

bool HeaderMatches(const Rule& rule, const decode::Packet& p) {
  if (p.layer == decode::Layer::kNone) return false;
  const uint8_t proto = p.proto;
  switch (rule.protocol) {
    case patterns::Protocol::kIp:
      break;
    case patterns::Protocol::kTcp:
      if (proto != 6) return false;
      break;
    case patterns::Protocol::kUdp:
      if (proto != 17) return false;
      break;
    case patterns::Protocol::kIcmp:
      if (proto != 1 && proto != 58) return false;
      break;
    case patterns::Protocol::kIcmpv4:
      if (proto != 1) return false;
      break;
    case patterns::Protocol::kIcmpv6:
      if (proto != 58) return false;
      break;
  }
  const bool ports = p.layer == decode::Layer::kL4 && (proto == 6 || proto == 17);
  auto side = [&](const IpAddr& a, uint16_t ap, const IpAddr& b, uint16_t bp) {
    if (!rule.src_addr.set.Contains(patterns::ToU128(a))) return false;
    if (!rule.dst_addr.set.Contains(patterns::ToU128(b))) return false;
    if (!rule.src_port.set.IsAll() && (!ports || !rule.src_port.set.Contains(ap))) return false;
    if (!rule.dst_port.set.IsAll() && (!ports || !rule.dst_port.set.Contains(bp))) return false;
    return true;
  };
  if (side(p.src, p.sport, p.dst, p.dport)) return true;
  return rule.direction == patterns::Direction::kBoth && side(p.dst, p.dport, p.src, p.sport);
}

}  // namespace

bool ReferencePayloadMatch(const Rule& rule, std::string_view payload,
                           const ReferenceOptions& options) {
  if (rule.payload.empty()) return true;
  std::vector<SigMatch> sms = Setup(rule, options.dsize_max);
  for (const SigMatch& sm : sms) {
    if (sm.is_pcre && sm.re == nullptr) return false;
  }
  pcre2_match_context* mctx = pcre2_match_context_create(nullptr);
  pcre2_set_match_limit(mctx, patterns::kPcreMatchLimit);
  pcre2_set_depth_limit(mctx, patterns::kPcreDepthLimit);
  DetCtx det_ctx;
  det_ctx.buffer = reinterpret_cast<const uint8_t*>(payload.data());
  det_ctx.buffer_len = static_cast<uint32_t>(payload.size());
  det_ctx.limit = options.recursion_limit;
  det_ctx.mctx = mctx;
  const bool r = DetectEngineContentInspection(det_ctx, sms, 0) == 1;
  pcre2_match_context_free(mctx);
  return r;
}

bool ReferenceRuleMatch(const Rule& rule, const decode::Packet& p,
                        const ReferenceOptions& options) {
  if (!HeaderMatches(rule, p)) return false;
  if (rule.payload.empty()) return true;
  if (p.payload_len == 0) return false;
  return ReferencePayloadMatch(
      rule, std::string_view(reinterpret_cast<const char*>(p.payload()), p.payload_len), options);
}

}  // namespace fs::scan
