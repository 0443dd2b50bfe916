// JSON-lines logging: one object per line with `ts`, `level`, `msg` and context
// fields. Passed in where needed (no global logger). Thread-safe.
#pragma once

#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace healthgate {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

std::optional<LogLevel> ParseLogLevel(std::string_view text);

class Logger {
 public:
  // Writes to `out` (not owned, e.g. stdout); `clock` stamps `ts` (RFC 3339, UTC, ms).
  Logger(LogLevel level, std::FILE* out, const healthgate::Clock& clock);

  bool Enabled(LogLevel level) const { return level >= level_; }
  void Log(LogLevel level, std::string_view msg,
           const nlohmann::json& fields = nlohmann::json::object());
  void Debug(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) {
    Log(LogLevel::kDebug, msg, f);
  }
  void Info(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) {
    Log(LogLevel::kInfo, msg, f);
  }
  void Warn(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) {
    Log(LogLevel::kWarn, msg, f);
  }
  void Error(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) {
    Log(LogLevel::kError, msg, f);
  }

 private:
  LogLevel level_;
  std::FILE* out_;
  const healthgate::Clock& clock_;
  std::mutex mu_;
};

}  // namespace healthgate
