#include "probes/http/body_regex.h"

#include <re2/re2.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <mutex>
#include <unordered_map>

namespace healthgate::probes {
namespace {

// Memory RE2 may use for one pattern (its DFA caches); past it, RE2 falls back to
// its NFA, which is slower but still linear. The default (8 MB) per pattern is
// more than a probe needs when thousands of definitions are loaded.
constexpr std::int64_t kMaxMemory = 2 << 20;

// Compiled patterns by text, so the many probes that share a pattern (typically
// "ok" or a status field) share one RE2 (2-7 KB each, more with its DFA cache)
// instead of one per definition. Entries expire with their last user. Specs are
// read on several threads, hence the lock; it is never held while compiling.
class Interned {
 public:
  std::shared_ptr<const RE2> Get(const std::string& pattern, std::string* error) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = cache_.find(pattern);
      if (it != cache_.end()) {
        if (auto re = it->second.lock()) return re;
      }
    }
    RE2::Options options;
    options.set_log_errors(false);  // the error is returned, not written to stderr
    options.set_max_mem(kMaxMemory);
    auto re = std::make_shared<const RE2>(pattern, options);
    if (!re->ok()) {
      *error = re->error();
      return nullptr;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (cache_.size() >= sweep_at_) {
      for (auto it = cache_.begin(); it != cache_.end();) {
        it = it->second.expired() ? cache_.erase(it) : std::next(it);
      }
      sweep_at_ = std::max<std::size_t>(64, 2 * cache_.size());
    }
    auto& slot = cache_[pattern];
    if (auto other = slot.lock()) return other;  // compiled meanwhile on another thread
    slot = re;
    return re;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::weak_ptr<const RE2>> cache_;
  std::size_t sweep_at_ = 64;
};

Interned& Cache() {
  static auto* cache = new Interned;  // never destroyed: no exit-order questions
  return *cache;
}

}  // namespace

BodyRegex::BodyRegex(std::string pattern) : pattern_(std::move(pattern)) {
  re_ = Cache().Get(pattern_, &error_);
}

bool BodyRegex::Search(std::string_view text) const {
  if (!re_) return false;
  return RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *re_);
}

}  // namespace healthgate::probes
