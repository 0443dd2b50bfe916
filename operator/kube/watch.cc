#include "operator/kube/watch.h"

#include <algorithm>

namespace healthgate::kube {

bool LineFramer::Feed(std::string_view data, const std::function<bool(std::string_view)>& on_line) {
  if (overflowed_) return false;
  auto emit = [&](std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return true;
    return on_line(line);
  };
  while (!data.empty()) {
    const auto nl = data.find('\n');
    if (nl == std::string_view::npos) {
      if (partial_.size() + data.size() > max_line_) {
        overflowed_ = true;
        partial_.clear();
        return false;
      }
      partial_.append(data);
      return true;
    }
    if (partial_.empty()) {
      // Common case: a whole line inside this read, no copy. The limit holds
      // here too, so how reads split the stream never decides whether it is kept.
      if (nl > max_line_) {
        overflowed_ = true;
        return false;
      }
      if (!emit(data.substr(0, nl))) return false;
    } else {
      if (partial_.size() + nl > max_line_) {
        overflowed_ = true;
        partial_.clear();
        return false;
      }
      partial_.append(data.substr(0, nl));
      std::string line;
      line.swap(partial_);
      if (!emit(line)) return false;
    }
    data.remove_prefix(nl + 1);
  }
  return true;
}

const char* WatchEventTypeName(WatchEvent::Type t) {
  switch (t) {
    case WatchEvent::Type::kAdded:
      return "ADDED";
    case WatchEvent::Type::kModified:
      return "MODIFIED";
    case WatchEvent::Type::kDeleted:
      return "DELETED";
    case WatchEvent::Type::kBookmark:
      return "BOOKMARK";
    case WatchEvent::Type::kError:
      return "ERROR";
  }
  return "?";
}

Result<WatchEvent> ParseWatchEvent(std::string_view line) {
  auto doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return DecodeError("watch event is not a JSON object");
  }
  auto type = doc.find("type");
  auto object = doc.find("object");
  if (type == doc.end() || !type->is_string() || object == doc.end() || !object->is_object()) {
    return DecodeError("watch event lacks a string \"type\" or an object \"object\"");
  }
  WatchEvent ev;
  const auto& t = type->get_ref<const std::string&>();
  if (t == "ADDED") {
    ev.type = WatchEvent::Type::kAdded;
  } else if (t == "MODIFIED") {
    ev.type = WatchEvent::Type::kModified;
  } else if (t == "DELETED") {
    ev.type = WatchEvent::Type::kDeleted;
  } else if (t == "BOOKMARK") {
    ev.type = WatchEvent::Type::kBookmark;
  } else if (t == "ERROR") {
    ev.type = WatchEvent::Type::kError;
  } else {
    return DecodeError("unknown watch event type \"" + t + "\"");
  }
  ev.object = std::move(*object);
  return ev;
}

Error ApiErrorFromStatus(long http_code, const nlohmann::json& status) {
  Error e;
  e.kind = ErrorKind::kApi;
  e.http_code = http_code;
  if (status.is_object()) {
    if (auto c = status.find("code"); c != status.end() && c->is_number_integer()) {
      e.http_code = c->get<long>();
    }
    if (auto r = status.find("reason"); r != status.end() && r->is_string()) {
      e.reason_text = r->get<std::string>();
    }
    if (auto m = status.find("message"); m != status.end() && m->is_string()) {
      e.message = m->get<std::string>();
    }
    if (auto d = status.find("details"); d != status.end() && d->is_object()) {
      auto r = d->find("retryAfterSeconds");
      if (r != d->end() && r->is_number_integer() && r->get<long>() > 0)
        e.retry_after = std::chrono::seconds(std::min(r->get<long>(), 86'400L));
    }
  }
  e.reason = ReasonFrom(e.reason_text, e.http_code);
  if (e.message.empty()) e.message = std::string("HTTP ") + std::to_string(e.http_code);
  return e;
}

Error ApiErrorFromBody(long http_code, std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  // Any JSON may come back (a proxy's, a broken server's): "kind" need not be a string.
  const auto kind = doc.is_object() ? doc.find("kind") : doc.end();
  if (!doc.is_discarded() && doc.is_object() && kind != doc.end() && kind->is_string() &&
      kind->get_ref<const std::string&>() == "Status") {
    return ApiErrorFromStatus(http_code, doc);
  }
  Error e = ApiErrorFromStatus(http_code, nlohmann::json());
  // A non-Status body (a proxy's HTML page...): keep a short, printable excerpt.
  std::string excerpt;
  for (char c : body.substr(0, 200)) excerpt.push_back(c >= 0x20 && c < 0x7f ? c : ' ');
  if (!excerpt.empty()) e.message += ": " + excerpt;
  return e;
}

}  // namespace healthgate::kube
