#include "operator/kube/error.h"

#include <array>
#include <utility>

namespace healthgate::kube {
namespace {

struct ReasonRow {
  Reason reason;
  const char* name;
};

constexpr std::array<ReasonRow, 17> kReasons{{
    {Reason::kUnknown, "Unknown"},
    {Reason::kBadRequest, "BadRequest"},
    {Reason::kUnauthorized, "Unauthorized"},
    {Reason::kForbidden, "Forbidden"},
    {Reason::kNotFound, "NotFound"},
    {Reason::kAlreadyExists, "AlreadyExists"},
    {Reason::kConflict, "Conflict"},
    {Reason::kGone, "Gone"},
    {Reason::kExpired, "Expired"},
    {Reason::kInvalid, "Invalid"},
    {Reason::kMethodNotAllowed, "MethodNotAllowed"},
    {Reason::kUnsupportedMediaType, "UnsupportedMediaType"},
    {Reason::kTooManyRequests, "TooManyRequests"},
    {Reason::kTimeout, "Timeout"},
    {Reason::kServerTimeout, "ServerTimeout"},
    {Reason::kInternalError, "InternalError"},
    {Reason::kServiceUnavailable, "ServiceUnavailable"},
}};

Reason FromCode(long code) {
  switch (code) {
    case 400:
      return Reason::kBadRequest;
    case 401:
      return Reason::kUnauthorized;
    case 403:
      return Reason::kForbidden;
    case 404:
      return Reason::kNotFound;
    case 405:
      return Reason::kMethodNotAllowed;
    case 409:
      return Reason::kConflict;
    case 410:
      return Reason::kGone;
    case 415:
      return Reason::kUnsupportedMediaType;
    case 422:
      return Reason::kInvalid;
    case 429:
      return Reason::kTooManyRequests;
    case 500:
      return Reason::kInternalError;
    case 503:
      return Reason::kServiceUnavailable;
    case 504:
      return Reason::kTimeout;
    default:
      return Reason::kUnknown;
  }
}

}  // namespace

const char* ReasonName(Reason r) {
  for (const auto& row : kReasons) {
    if (row.reason == r) return row.name;
  }
  return "Unknown";
}

Reason ReasonFrom(const std::string& reason_text, long http_code) {
  if (!reason_text.empty()) {
    for (const auto& row : kReasons) {
      if (reason_text == row.name) return row.reason;
    }
  }
  return FromCode(http_code);
}

std::string Error::ToString() const {
  std::string out;
  switch (kind) {
    case ErrorKind::kConfig:
      out = "config: ";
      break;
    case ErrorKind::kTransport:
      out = "transport: ";
      break;
    case ErrorKind::kDecode:
      out = "decode: ";
      break;
    case ErrorKind::kStopped:
      out = "stopped: ";
      break;
    case ErrorKind::kApi:
      out = "api: " + std::to_string(http_code) + " " +
            (reason_text.empty() ? ReasonName(reason) : reason_text) + ": ";
      break;
  }
  return out + message;
}

Error ConfigError(std::string message) {
  return Error{ErrorKind::kConfig, 0, Reason::kUnknown, "", std::move(message)};
}
Error TransportError(std::string message) {
  return Error{ErrorKind::kTransport, 0, Reason::kUnknown, "", std::move(message)};
}
Error DecodeError(std::string message) {
  return Error{ErrorKind::kDecode, 0, Reason::kUnknown, "", std::move(message)};
}

}  // namespace healthgate::kube
