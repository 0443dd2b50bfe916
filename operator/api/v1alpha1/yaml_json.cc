#include "operator/api/v1alpha1/yaml_json.h"

#include <re2/re2.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <set>
#include <string>

namespace healthgate::v1alpha1 {

using nlohmann::json;

bool IsUtf8(std::string_view text) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

namespace {

constexpr int kMaxDepth = kMaxNesting;
constexpr std::size_t kMaxNodes = 20000;

const std::set<std::string>& TrueWords() {
  static const std::set<std::string> k = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                          "True", "TRUE", "on",  "On",  "ON"};
  return k;
}
const std::set<std::string>& FalseWords() {
  static const std::set<std::string> k = {"n",     "N",     "no",  "No",  "NO", "false",
                                          "False", "FALSE", "off", "Off", "OFF"};
  return k;
}

bool IsNullWord(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

// go-yaml v2: strconv.ParseInt(s, 0, 64), then ParseUint, after removing '_'.
std::optional<json> ResolveInt(std::string s) {
  std::erase(s, '_');
  if (s.empty()) return std::nullopt;
  std::size_t i = 0;
  bool negative = false;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    i = 1;
  }
  int base = 10;
  if (s.size() > i + 1 && s[i] == '0') {
    const char p = s[i + 1];
    if (p == 'x' || p == 'X') {
      base = 16;
      i += 2;
    } else if (p == 'o' || p == 'O') {
      base = 8;
      i += 2;
    } else if (p == 'b' || p == 'B') {
      base = 2;
      i += 2;
    } else {
      base = 8;
      i += 1;
    }
  }
  if (i >= s.size()) return std::nullopt;
  std::uint64_t value = 0;
  bool overflow = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    if (d >= base) return std::nullopt;
    const auto ud = static_cast<std::uint64_t>(d);
    const auto ub = static_cast<std::uint64_t>(base);
    if (value > (std::numeric_limits<std::uint64_t>::max() - ud) / ub) overflow = true;
    value = value * ub + ud;
  }
  if (overflow) return std::nullopt;  // falls through to float, as in go-yaml
  constexpr auto kMaxPos = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (negative) {
    if (value > kMaxPos + 1) return std::nullopt;
    if (value == kMaxPos + 1) return json(std::numeric_limits<std::int64_t>::min());
    return json(-static_cast<std::int64_t>(value));
  }
  if (value <= kMaxPos) return json(static_cast<std::int64_t>(value));
  return json(value);
}

// Whether `s` has go-yaml v2's float syntax. RE2 matches in linear time without
// recursion: std::regex recursed once per character and overflowed the stack on a
// long number (a 300 KB scalar crashed the process).
bool IsFloatSyntax(std::string_view s) {
  static const re2::RE2 kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  return re2::RE2::FullMatch(re2::StringPiece(s.data(), s.size()), kFloat);
}

std::optional<json> ResolveFloat(const std::string& s) {
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf" || s == "+.Inf" || s == "+.INF") {
    return json(std::numeric_limits<double>::infinity());
  }
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") {
    return json(-std::numeric_limits<double>::infinity());
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    return json(std::numeric_limits<double>::quiet_NaN());
  }
  std::string plain = s;
  std::erase(plain, '_');
  if (!IsFloatSyntax(plain)) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(plain.c_str(), &end);
  if (end == plain.c_str()) return std::nullopt;
  return json(v);
}

json ResolvePlain(const std::string& s) {
  if (IsNullWord(s)) return json(nullptr);
  if (TrueWords().contains(s)) return json(true);
  if (FalseWords().contains(s)) return json(false);
  if (auto i = ResolveInt(s)) return *i;
  if (auto f = ResolveFloat(s)) return *f;
  return json(s);
}

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

class Converter {
 public:
  explicit Converter(std::vector<ValidationError>* errors) : errors_(errors) {}
  bool cut() const { return cut_; }

  json Convert(const YAML::Node& node, const std::string& path, int depth) {
    if (++nodes_ > kMaxNodes) {
      if (!too_many_reported_) {
        Error(path, "document too large (more than 20000 values after expanding aliases)");
        too_many_reported_ = true;
      }
      cut_ = true;
      return json(nullptr);
    }
    if (depth > kMaxDepth) {
      if (!too_deep_reported_) {
        const int line = node.Mark().is_null() ? 0 : node.Mark().line + 1;
        Error(path, "nesting deeper than " + std::to_string(kMaxDepth) + " levels at line " +
                        std::to_string(line));
        too_deep_reported_ = true;
      }
      cut_ = true;
      return json(nullptr);
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return json(nullptr);
      case YAML::NodeType::Scalar:
        return Scalar(node, path);
      case YAML::NodeType::Sequence: {
        json out = json::array();
        std::size_t i = 0;
        for (const YAML::Node& item : node) {
          out.push_back(Convert(item, path + "[" + std::to_string(i) + "]", depth + 1));
          ++i;
        }
        return out;
      }
      case YAML::NodeType::Map: {
        json out = json::object();
        for (const auto& kv : node) {
          std::string key = Key(kv.first, path);
          const std::string child = Join(path, key);
          if (out.contains(key)) {
            Error(child, "duplicate key");
            continue;
          }
          out[key] = Convert(kv.second, child, depth + 1);
        }
        return out;
      }
    }
    return json(nullptr);
  }

 private:
  void Error(const std::string& path, std::string message) {
    errors_->push_back({path, std::move(message)});
  }

  std::string Key(const YAML::Node& key, const std::string& path) {
    if (!key.IsScalar()) {
      Error(path, "mapping keys must be strings");
      return "<non-scalar key>";
    }
    const std::string& text = key.Scalar();
    if (!IsUtf8(text)) {
      Error(path, "a key is not valid UTF-8");
      return "<invalid UTF-8>";
    }
    return text;
  }

  json Scalar(const YAML::Node& node, const std::string& path) {
    // Non-UTF-8 text stays as it is: the validator rejects it where it reads a
    // string, with the field's path, and ignores it where the field is ignored.
    const std::string& text = node.Scalar();
    const std::string& tag = node.Tag();
    if (tag == "!" || tag == "tag:yaml.org,2002:str") return json(text);
    if (tag == "?" || tag.empty()) return ResolvePlain(text);
    if (tag == "tag:yaml.org,2002:int") {
      if (auto v = ResolveInt(text)) return *v;
      Error(path, "!!int value is not an integer");
      return json(nullptr);
    }
    if (tag == "tag:yaml.org,2002:float") {
      if (auto v = ResolveInt(text)) return json(v->get<double>());
      if (auto v = ResolveFloat(text)) return *v;
      Error(path, "!!float value is not a number");
      return json(nullptr);
    }
    if (tag == "tag:yaml.org,2002:bool") {
      if (TrueWords().contains(text)) return json(true);
      if (FalseWords().contains(text)) return json(false);
      Error(path, "!!bool value is not a boolean");
      return json(nullptr);
    }
    if (tag == "tag:yaml.org,2002:null") return json(nullptr);
    Error(path, "unsupported YAML tag " + tag);
    return json(nullptr);
  }

  std::vector<ValidationError>* errors_;
  std::size_t nodes_ = 0;
  bool too_many_reported_ = false;
  bool too_deep_reported_ = false;
  bool cut_ = false;  // a bound dropped part of the document
};

}  // namespace

json YamlToJson(const YAML::Node& node, std::vector<ValidationError>* errors, bool* cut) {
  Converter converter(errors);
  json out = converter.Convert(node, "", 0);
  if (cut != nullptr) *cut = converter.cut();
  return out;
}

}  // namespace healthgate::v1alpha1
