// The body assertion of an HTTP probe: a regular expression in RE2 syntax,
// searched anywhere in the response body.
//
// RE2 matches in time linear in the body and in bounded memory, whatever the
// pattern: a hostile or unlucky body cannot blow the loop thread's stack or block
// it (std::regex recursed per character and backtracked exponentially). The price
// is RE2's syntax: no backreferences and no lookaround; such patterns do not compile.
//
// The pattern is compiled once, when the config is built (the spec is read);
// copies of a config share the compiled form, so attempts never recompile, and
// definitions with the same pattern share one compiled RE2.
// Thread-safety: a compiled RE2 is immutable and may be searched from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace healthgate::probes {

class BodyRegex {
 public:
  // Compiles `pattern`; check ok() (error() says why not). Implicit, so a config can
  // be written as `config.body_regex = "ok"`.
  BodyRegex(std::string pattern);  // NOLINT(google-explicit-constructor)
  BodyRegex(const char* pattern) : BodyRegex(std::string(pattern)) {}  // NOLINT

  const std::string& pattern() const { return pattern_; }
  bool ok() const { return re_ != nullptr; }
  // RE2's reason, e.g. "invalid escape sequence: \1" for a backreference.
  const std::string& error() const { return error_; }
  // Whether the pattern matches somewhere in `text`; false when !ok().
  bool Search(std::string_view text) const;

  // Whether both use one compiled RE2 (copies do, and so do equal patterns
  // compiled while another user of the pattern is alive).
  bool SharesCompiledWith(const BodyRegex& other) const { return re_ && re_ == other.re_; }

  // Two body regexes are the same assertion when their patterns are.
  bool operator==(const BodyRegex& other) const { return pattern_ == other.pattern_; }

 private:
  std::string pattern_;
  std::shared_ptr<const re2::RE2> re_;
  std::string error_;
};

}  // namespace healthgate::probes
