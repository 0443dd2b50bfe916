// ParseYaml and LoadPaths: YAML streams and files into Documents. Every document
// goes through ParseJson, so a manifest file and the API server's JSON are judged
// by the same rules.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include "operator/spec/model.h"
#include "operator/spec/yaml_json.h"

namespace healthgate::spec {

namespace {

// Best-effort index of the document that holds 1-based `line`: the number of "---"
// separators before it that follow some content. Used only to label a syntax error,
// since yaml-cpp rejects the whole stream at the first one.
int DocumentIndexAt(std::string_view text, int line) {
  int index = 0;
  bool content = false;
  int n = 1;
  std::size_t pos = 0;
  while (pos <= text.size() && n < line) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(pos, end - pos);
    const bool separator =
        l.substr(0, 3) == "---" && (l.size() == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\r');
    if (separator) {
      if (content) ++index;
      content = l.find_first_not_of(" \t\r", 3) != std::string_view::npos;
    } else {
      const std::size_t first = l.find_first_not_of(" \t\r");
      if (first != std::string_view::npos && l[first] != '#' && l[first] != '%') content = true;
    }
    pos = end + 1;
    ++n;
  }
  return index;
}

Document ErrorDocument(const std::string& source, std::string message, int line = 0) {
  Document d;
  d.source = source;
  d.ns = "default";
  d.line = line;
  d.errors.push_back({"", std::move(message)});
  return d;
}

// 1-based line of a byte offset.
int LineAt(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + static_cast<int>(std::count(text.begin(),
                                         text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
}

bool HasExtension(const std::filesystem::path& p, std::initializer_list<const char*> exts) {
  const std::string ext = p.extension().string();
  return std::any_of(exts.begin(), exts.end(), [&](const char* e) { return ext == e; });
}

std::vector<Document> LoadFile(const std::filesystem::path& path) {
  const std::string source = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return {ErrorDocument(source, std::string("cannot read: ") + std::strerror(errno))};
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return {ErrorDocument(source, "cannot read: I/O error")};
  const std::string text = buf.str();
  if (!HasExtension(path, {".json"})) return ParseYaml(text, source);
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return {};
  nlohmann::json object;
  try {
    object = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return {ErrorDocument(source, std::string("JSON syntax error: ") + e.what(),
                          LineAt(text, e.byte > 0 ? e.byte - 1 : 0))};
  }
  Document d = ParseJson(object, source);
  d.line = 1;
  return {d};
}

}  // namespace

std::vector<Document> ParseYaml(std::string_view text, const std::string& source) {
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    const int line = e.mark.is_null() ? 0 : e.mark.line + 1;
    Document d = ErrorDocument(source, "YAML syntax error: " + e.msg, line);
    if (line > 0) d.index = DocumentIndexAt(text, line);
    return {d};
  }
  std::vector<Document> out;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const YAML::Node& node = nodes[i];
    if (node.IsNull()) continue;  // empty document (e.g. a trailing "---")
    std::vector<ValidationError> conversion;
    const nlohmann::json object = YamlToJson(node, &conversion);
    Document d = ParseJson(object, source);
    d.index = static_cast<int>(i);
    d.line = node.Mark().is_null() ? 0 : node.Mark().line + 1;
    if (!conversion.empty()) {
      d.errors.insert(d.errors.begin(), conversion.begin(), conversion.end());
      d.check.reset();
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<Document> LoadPaths(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<Document> out;
  for (const std::string& p : paths) {
    std::error_code ec;
    const fs::file_status st = fs::status(p, ec);
    if (ec) {
      out.push_back(ErrorDocument(p, "cannot read: " + ec.message()));
      continue;
    }
    if (!fs::is_directory(st)) {
      auto docs = LoadFile(p);
      out.insert(out.end(), std::make_move_iterator(docs.begin()),
                 std::make_move_iterator(docs.end()));
      continue;
    }
    std::vector<fs::path> files;
    fs::directory_iterator it(p, ec);
    if (ec) {
      out.push_back(ErrorDocument(p, "cannot read directory: " + ec.message()));
      continue;
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      const fs::path& f = it->path();
      if (!HasExtension(f, {".yaml", ".yml", ".json"})) continue;
      std::error_code fec;
      if (fs::is_directory(it->status(fec))) continue;
      files.push_back(f);
    }
    if (ec) {
      out.push_back(ErrorDocument(p, "cannot read directory: " + ec.message()));
      continue;
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      auto docs = LoadFile(f);
      out.insert(out.end(), std::make_move_iterator(docs.begin()),
                 std::make_move_iterator(docs.end()));
    }
  }
  return out;
}

}  // namespace healthgate::spec
