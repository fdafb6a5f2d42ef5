// Unix time to calendar fields (UTC), for HTTP Date headers, certificate validity and SMB
// FILETIMEs. Howard Hinnant's days-to-civil algorithm; no time zone database, no libc state.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace fs::pcapgen {

struct CivilTime {
  int year, month, day, hour, minute, second;
  int weekday;  // 0 = Sunday
};

inline CivilTime ToCivil(uint64_t unix_s) {
  const int64_t days = static_cast<int64_t>(unix_s / 86400);
  const int64_t secs = static_cast<int64_t>(unix_s % 86400);
  const int64_t z = days + 719468;
  const int64_t era = z / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return CivilTime{static_cast<int>(y),
                   static_cast<int>(m),
                   static_cast<int>(d),
                   static_cast<int>(secs / 3600),
                   static_cast<int>(secs / 60 % 60),
                   static_cast<int>(secs % 60),
                   static_cast<int>((days + 4) % 7)};
}

// "Mon, 14 Sep 2026 08:00:00 GMT" (RFC 9110 IMF-fixdate).
inline std::string HttpDate(uint64_t unix_s) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const CivilTime t = ToCivil(unix_s);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[t.weekday], t.day,
                kMonths[t.month - 1], t.year, t.hour, t.minute, t.second);
  return buf;
}

// Windows FILETIME: 100 ns ticks since 1601-01-01.
inline uint64_t FileTime(uint64_t unix_us) { return (unix_us + 11644473600ULL * 1000000) * 10; }

}  // namespace fs::pcapgen
