#include "probes/http/body_regex.h"

#include <re2/re2.h>

#include <cstdint>

namespace healthgate::probes {
namespace {

// Memory RE2 may use for one pattern (its DFA caches); past it, RE2 falls back to
// its NFA, which is slower but still linear. The default (8 MB) per pattern is
// more than a probe needs when thousands of definitions are loaded.
constexpr std::int64_t kMaxMemory = 2 << 20;

}  // namespace

BodyRegex::BodyRegex(std::string pattern) : pattern_(std::move(pattern)) {
  RE2::Options options;
  options.set_log_errors(false);  // the error is returned, not written to stderr
  options.set_max_mem(kMaxMemory);
  auto re = std::make_shared<const RE2>(pattern_, options);
  if (re->ok()) {
    re_ = std::move(re);
  } else {
    error_ = re->error();
  }
}

bool BodyRegex::Search(std::string_view text) const {
  if (!re_) return false;
  return RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *re_);
}

}  // namespace healthgate::probes
