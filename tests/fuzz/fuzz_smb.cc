// Fuzz target for the SMB parser (dataplane/app/smb.h): one SmbParser fed the to-server and
// to-client NetBIOS streams in fuzzer-chosen chunks and interleaving, every SmbRecord field read
// in the record callback (its views are valid only there), LooksLikeSmb on the start of each
// stream. Input layout: tests/fuzz/fuzz_schedule.h. Options byte: bits 0-1 pick the retain size
// (default, the minimum 512, 4096, below the minimum (clamped)).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "dataplane/app/smb.h"
#include "tests/fuzz/fuzz_schedule.h"

namespace {

using fs::fuzz::Touch;
using fs::fuzz::TouchValue;
using fs::fuzz::TouchView;
using namespace fs::app;

void TouchName(const char* s) {
  if (s) Touch(s, std::strlen(s));
}

void OnRecord(void*, const SmbRecord& r) {
  TouchValue(static_cast<uint64_t>(r.direction) | uint64_t(r.version) << 8 |
             uint64_t(r.is_response) << 16 | uint64_t(r.command) << 24);
  FS_FUZZ_CHECK(r.version == 1 || r.version == 2);
  TouchValue(r.status);
  TouchValue(r.session_id);
  TouchValue(r.tree_id);
  TouchValue(r.message_id);
  TouchValue(r.dialect);
  FS_FUZZ_CHECK(r.compound_index < kSmbMaxCompound);
  TouchValue(r.compound_index);
  TouchValue(r.truncated);
  FS_FUZZ_CHECK(r.share.size() <= kSmbShareCap);
  FS_FUZZ_CHECK(r.filename.size() <= kSmbNameCap);
  FS_FUZZ_CHECK(r.named_pipe.size() <= kSmbNameCap);
  FS_FUZZ_CHECK(r.rename_from.size() <= kSmbNameCap && r.rename_to.size() <= kSmbNameCap);
  FS_FUZZ_CHECK(r.ntlmssp_user.size() <= kSmbUserCap);
  FS_FUZZ_CHECK(r.ntlmssp_domain.size() <= kSmbUserCap);
  FS_FUZZ_CHECK(r.ntlmssp_host.size() <= kSmbUserCap);
  TouchView(r.share);
  TouchValue(r.share_type);
  TouchView(r.filename);
  TouchView(r.named_pipe);
  TouchValue(uint64_t(r.is_pipe) | uint64_t(r.disposition) << 1);
  TouchValue(r.create_action);
  TouchValue(r.desired_access);
  TouchValue(r.file_id_persistent);
  TouchValue(r.file_id_volatile);
  TouchValue(r.offset);
  TouchValue(r.length);
  if (r.data_len) FS_FUZZ_CHECK(r.data != nullptr);
  if (r.data) Touch(r.data, r.data_len);
  TouchValue(r.data_truncated);
  TouchValue(r.ioctl_code);
  TouchValue(uint64_t(r.info_type) << 8 | r.info_class);
  TouchValue(r.is_rename);
  TouchView(r.rename_from);
  TouchView(r.rename_to);
  TouchValue(r.is_delete);
  TouchView(r.ntlmssp_user);
  TouchView(r.ntlmssp_domain);
  TouchView(r.ntlmssp_host);
  TouchValue(uint64_t(r.is_dcerpc) | uint64_t(r.dcerpc_ptype) << 1);
  TouchValue(r.dcerpc_call_id);
  TouchValue(static_cast<uint64_t>(r.dcerpc_opnum));
  TouchValue(r.dcerpc_context_id);
  FS_FUZZ_CHECK(r.dcerpc_interface.size() <= kSmbUuidLen);
  TouchView(r.dcerpc_interface);
  FS_FUZZ_CHECK(r.interface_count <= kSmbMaxInterfaces);
  for (size_t i = 0; i < r.interface_count; ++i) {
    FS_FUZZ_CHECK(r.interfaces[i].size() <= kSmbUuidLen);
    TouchView(r.interfaces[i]);
    TouchValue(r.interface_versions[i]);
  }
  TouchValue(uint64_t(r.is_encrypted) << 1 | r.is_compressed);
  TouchName(SmbCommandName(r.version, r.command));
  TouchName(SmbStatusName(r.status));
  TouchName(SmbDialectName(r.dialect));
}

void OnEvent(void*, SmbEvent e) {
  FS_FUZZ_CHECK(static_cast<int>(e) < kSmbEventCount);
  const char* name = SmbEventName(e);
  FS_FUZZ_CHECK(name != nullptr);
  TouchName(name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::fuzz::Input in = fs::fuzz::Split(data, size);
  for (int d = 0; d < 2; ++d) {
    const size_t n = in.len[d] < 16 ? in.len[d] : 16;
    std::unique_ptr<uint8_t[]> head(new uint8_t[n ? n : 1]);
    if (n) std::memcpy(head.get(), in.stream[d], n);
    for (size_t k = 0; k <= n; ++k) TouchValue(LooksLikeSmb(head.get(), k));
  }

  SmbConfig cfg;
  switch (in.options & 3u) {
    case 0: break;
    case 1: cfg.retain = kSmbRetainMin; break;
    case 2: cfg.retain = 4096; break;
    default: cfg.retain = 16; break;  // clamped up to kSmbRetainMin
  }
  SmbSink sink;
  sink.record = OnRecord;
  sink.event = OnEvent;
  auto parser = std::make_unique<SmbParser>(cfg, sink);
  fs::fuzz::Schedule(in, 2, [&](int d, const uint8_t* chunk, size_t n) {
    parser->Feed(d == 0 ? SmbDirection::kToServer : SmbDirection::kToClient, chunk, n);
  });
  TouchValue(parser->messages());
  TouchValue(parser->encrypted_messages());
  TouchValue(parser->skipped_bytes());
  TouchValue(uint64_t(parser->encrypted()) << 1 | parser->smb1_seen());
  TouchValue(parser->dialect());
  TouchValue(uint64_t(parser->inspecting(SmbDirection::kToServer)) << 1 |
             parser->inspecting(SmbDirection::kToClient));
  for (int e = 0; e < kSmbEventCount; ++e) TouchValue(parser->event_count(static_cast<SmbEvent>(e)));
  return 0;
}
