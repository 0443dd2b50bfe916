// Watch stream decoding: the API server sends one JSON object per line
// ({"type": "...", "object": {...}}), and reads may split or join lines at any
// byte. Pure code, no I/O; not thread-safe (one framer per stream).
#pragma once

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "operator/kube/error.h"

namespace healthgate::kube {

// Splits a byte stream into '\n'-terminated lines, buffering only a partial
// tail. A trailing '\r' is dropped; empty lines are skipped.
class LineFramer {
 public:
  explicit LineFramer(std::size_t max_line = std::size_t{64} << 20) : max_line_(max_line) {}

  // Calls `on_line` for each line completed by `data`, in order. Returns false,
  // dropping the rest, when `on_line` returns false or a line grows beyond
  // max_line (the stream must then be abandoned).
  bool Feed(std::string_view data, const std::function<bool(std::string_view)>& on_line);
  std::size_t buffered() const { return partial_.size(); }
  bool overflowed() const { return overflowed_; }

 private:
  std::size_t max_line_;
  std::string partial_;
  bool overflowed_ = false;
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kAdded;
  nlohmann::json object;  // the object; for kError a metav1.Status
};

const char* WatchEventTypeName(WatchEvent::Type t);

// Decodes one line of a watch stream. kDecode error on malformed input.
Result<WatchEvent> ParseWatchEvent(std::string_view line);

// The Error a metav1.Status body stands for (API errors and watch ERROR events).
// `http_code` is used when the Status carries no code.
Error ApiErrorFromStatus(long http_code, const nlohmann::json& status);
// Same, from a raw HTTP error body that may or may not be a Status.
Error ApiErrorFromBody(long http_code, std::string_view body);

}  // namespace healthgate::kube
