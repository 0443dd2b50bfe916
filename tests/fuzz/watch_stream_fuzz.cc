// The watch stream's framing and decoding: bytes split into reads at
// fuzzer-chosen points, fed to LineFramer, each line through ParseWatchEvent.
// Invariants: the lines a framer emits are the same whatever the split (the
// input fed whole is the reference), none holds '\n' or is empty or is over
// the limit, the buffer never exceeds the limit, and decoding never throws.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "operator/kube/watch.h"

namespace kube = healthgate::kube;

namespace {

constexpr std::size_t kMaxLine = 512;  // small, so overflow is reachable

struct Run {
  std::vector<std::string> lines;
  bool ok = true;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::size_t splits = in.ConsumeIntegralInRange<std::size_t>(0, 32);
  std::vector<std::size_t> cuts;
  for (std::size_t i = 0; i < splits; ++i) cuts.push_back(in.ConsumeIntegral<std::uint16_t>());
  const std::string stream = in.ConsumeRemainingBytesAsString();

  auto collect = [](Run& run) {
    return [&run](std::string_view line) {
      // One trailing '\r' is dropped ("a\r\r\n" is the line "a\r").
      if (line.empty() || line.find('\n') != std::string_view::npos || line.size() > kMaxLine) {
        __builtin_trap();
      }
      run.lines.emplace_back(line);
      auto ev = kube::ParseWatchEvent(line);
      if (ev.ok() && !ev.value().object.is_object()) __builtin_trap();
      return true;
    };
  };

  Run whole;
  kube::LineFramer reference(kMaxLine);
  whole.ok = reference.Feed(stream, collect(whole));

  Run pieces;
  kube::LineFramer framer(kMaxLine);
  std::size_t pos = 0;
  for (std::size_t cut : cuts) {
    if (!pieces.ok || pos >= stream.size()) break;
    const std::size_t n = cut % (stream.size() - pos + 1);
    pieces.ok = framer.Feed(std::string_view(stream).substr(pos, n), collect(pieces));
    if (framer.buffered() > kMaxLine) __builtin_trap();
    pos += n;
  }
  if (pieces.ok && pos < stream.size()) {
    pieces.ok = framer.Feed(std::string_view(stream).substr(pos), collect(pieces));
  }
  if (framer.buffered() > kMaxLine) __builtin_trap();
  // Lines are complete only at '\n', so both runs agree on what they emitted
  // as long as neither overflowed (an overflow depends on where reads end).
  if (whole.ok && pieces.ok &&
      (whole.lines != pieces.lines || framer.buffered() != reference.buffered())) {
    __builtin_trap();
  }
  return 0;
}
