// main() for builds without libFuzzer: runs LLVMFuzzerTestOneInput once over every file named on
// the command line, or found (recursively, in sorted order) under a directory named there. Each
// input is passed in a heap buffer of exactly its size, as libFuzzer does. Arguments starting with
// '-' (libFuzzer flags) are ignored. Exits 1 when an argument does not exist or no input was found,
// so a missing corpus fails the test instead of passing vacuously; a crash in the target is the
// crash of this process.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool RunFile(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return false;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(f)),
                                std::istreambuf_iterator<char>());
  std::fprintf(stderr, "running %s (%zu bytes)\n", path.c_str(), bytes.size());
  // Exactly the file's size, so ASan catches a read past the end of the input.
  std::unique_ptr<uint8_t[]> buf(new uint8_t[bytes.size()]);
  if (!bytes.empty()) std::memcpy(buf.get(), bytes.data(), bytes.size());
  LLVMFuzzerTestOneInput(buf.get(), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fsys = std::filesystem;
  size_t ran = 0;
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') continue;
    const fsys::path arg(argv[i]);
    std::error_code ec;
    if (fsys::is_directory(arg, ec)) {
      std::vector<fsys::path> files;
      for (const auto& e : fsys::recursive_directory_iterator(arg, ec))
        if (e.is_regular_file()) files.push_back(e.path());
      if (ec) {
        std::fprintf(stderr, "cannot list %s: %s\n", arg.c_str(), ec.message().c_str());
        ok = false;
      }
      std::sort(files.begin(), files.end());
      for (const auto& p : files) ran += RunFile(p) ? 1 : 0;
    } else if (fsys::is_regular_file(arg, ec)) {
      if (RunFile(arg)) ++ran;
      else ok = false;
    } else {
      std::fprintf(stderr, "no such file or directory: %s\n", arg.c_str());
      ok = false;
    }
  }
  std::fprintf(stderr, "%zu inputs run\n", ran);
  if (ran == 0) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIR... (no inputs found)\n", argv[0]);
    return 1;
  }
  return ok ? 0 : 1;
}
