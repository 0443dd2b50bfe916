// Errors of the Kubernetes API client, as values. An expected failure (NotFound,
// Conflict, a dropped connection, a bad kubeconfig) is never thrown: every call
// returns a Result<T> holding either the value or an Error.
//
// No credential ever appears in an Error: messages are built from the API
// server's Status message, libcurl's error text and file paths only.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <variant>

namespace healthgate::kube {

enum class ErrorKind {
  kConfig,     // kubeconfig / in-cluster files missing or malformed
  kTransport,  // no HTTP answer: DNS, connect, TLS, timeout, connection dropped
  kApi,        // the API server answered with an HTTP error (metav1.Status)
  kDecode,     // the API server answered 2xx with a body that is not the JSON expected
  kStopped,    // the caller asked to stop (watch interrupted)
};

// metav1.StatusReason values the client code branches on. `reason_text` keeps
// the server's own string for anything else.
enum class Reason {
  kUnknown,
  kBadRequest,
  kUnauthorized,
  kForbidden,
  kNotFound,
  kAlreadyExists,
  kConflict,
  kGone,     // HTTP 410, reason "Gone"
  kExpired,  // HTTP 410, reason "Expired" (resourceVersion too old)
  kInvalid,
  kMethodNotAllowed,
  kUnsupportedMediaType,
  kTooManyRequests,
  kTimeout,
  kServerTimeout,
  kInternalError,
  kServiceUnavailable,
};

const char* ReasonName(Reason r);
// Maps a metav1.Status `reason` string; falls back on the HTTP code when empty.
Reason ReasonFrom(const std::string& reason_text, long http_code);

struct Error {
  ErrorKind kind = ErrorKind::kTransport;
  long http_code = 0;  // kApi: the HTTP status (or the Status `code` of a watch ERROR event)
  Reason reason = Reason::kUnknown;
  std::string reason_text;  // the server's reason string, may be empty
  std::string message;      // human-readable, credential-free
  // How long the server asked us to wait before retrying (a Retry-After header
  // or the Status' details.retryAfterSeconds, as sent with 429 and some 5xx);
  // zero when it did not say.
  std::chrono::seconds retry_after{0};

  bool IsNotFound() const { return kind == ErrorKind::kApi && reason == Reason::kNotFound; }
  bool IsConflict() const { return kind == ErrorKind::kApi && reason == Reason::kConflict; }
  bool IsAlreadyExists() const {
    return kind == ErrorKind::kApi && reason == Reason::kAlreadyExists;
  }
  bool IsForbidden() const { return kind == ErrorKind::kApi && reason == Reason::kForbidden; }
  bool IsUnauthorized() const { return kind == ErrorKind::kApi && reason == Reason::kUnauthorized; }
  // The resourceVersion a list/watch asked for is no longer available: relist.
  bool IsGone() const {
    return kind == ErrorKind::kApi &&
           (http_code == 410 || reason == Reason::kGone || reason == Reason::kExpired);
  }
  bool IsStopped() const { return kind == ErrorKind::kStopped; }
  bool IsTooManyRequests() const {
    return kind == ErrorKind::kApi && (http_code == 429 || reason == Reason::kTooManyRequests);
  }
  // Worth retrying later: no answer, 429, or a server-side 5xx / timeout.
  bool IsRetryable() const {
    return kind == ErrorKind::kTransport || IsTooManyRequests() ||
           (kind == ErrorKind::kApi &&
            (http_code >= 500 || reason == Reason::kServerTimeout || reason == Reason::kTimeout));
  }
  // e.g. "api: 404 NotFound: configmaps \"x\" not found"
  std::string ToString() const;
};

Error ConfigError(std::string message);
Error TransportError(std::string message);
Error DecodeError(std::string message);

struct Empty {};

// Either a T or an Error (a small stand-in for C++23 std::expected).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

using Status = Result<Empty>;

}  // namespace healthgate::kube
