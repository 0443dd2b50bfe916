// ParseYaml and LoadPaths: YAML streams and files into Documents. Every document
// goes through ParseJson, so a manifest file and the API server's JSON are judged
// by the same rules.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>

#include "operator/api/v1alpha1/model.h"
#include "operator/api/v1alpha1/yaml_json.h"
#include "probes/text.h"

namespace healthgate::v1alpha1 {

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

// What a non-regular file is, for the message that says it was not read.
const char* FileKind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISDIR(mode)) return "a directory";
  return "not a regular file";
}

std::string TooLarge(std::uint64_t size) {
  return "file is larger than the 4 MiB limit for a manifest (" +
         (size > 0 ? std::to_string(size) + " bytes" : std::string("still growing")) + ")";
}

// Reads a regular file of at most kMaxManifestBytes into `text`; an error
// message otherwise. The type is checked before opening (opening a device may
// have effects) and again on the open descriptor (the path may have been
// replaced in between); O_NONBLOCK keeps a FIFO swapped in from blocking open().
std::optional<std::string> ReadRegularFile(const std::string& path, std::string* text) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::string("cannot read: ") + std::strerror(errno);
  if (!S_ISREG(st.st_mode)) {
    return std::string("not read: ") + FileKind(st.st_mode) + ", only regular files are";
  }
  if (static_cast<std::uint64_t>(st.st_size) > kMaxManifestBytes) {
    return TooLarge(static_cast<std::uint64_t>(st.st_size));
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::string("cannot read: ") + std::strerror(errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::fstat(fd, &st) != 0) return std::string("cannot read: ") + std::strerror(errno);
  if (!S_ISREG(st.st_mode)) {
    return std::string("not read: ") + FileKind(st.st_mode) + ", only regular files are";
  }
  text->clear();
  text->reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::string("cannot read: ") + std::strerror(errno);
    }
    if (n == 0) break;
    if (text->size() + static_cast<std::size_t>(n) > kMaxManifestBytes) return TooLarge(0);
    text->append(buf, static_cast<std::size_t>(n));
  }
  return std::nullopt;
}

// The deepest nesting of a JSON text and the 1-based line where it first
// exceeds `limit` (0 when it does not). Strings are skipped, so brackets inside
// them do not count. nlohmann's parser does not recurse, but what reads the
// result should not meet a 100,000-deep object either.
int JsonTooDeepAt(std::string_view text, int limit) {
  int depth = 0;
  int line = 1;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') ++line;
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return line;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return 0;
}

std::string NestingError(int line) {
  return "nesting deeper than " + std::to_string(kMaxNesting) + " levels at line " +
         std::to_string(line);
}

// yaml-cpp 0.7's LoadAll never returns on a stream where a document would start
// with a flow entry (",a: b"): its parser yields an empty document without
// consuming anything, forever, and memory grows (a 6-byte file hung `healthgate
// check`). A first pass over the events throws when a document starts where
// the previous one did, so LoadAll only ever sees streams that make progress.
class ProgressCheck final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (started_ && mark.pos == last_) {
      throw YAML::ParserException(mark, "a document cannot start with this character");
    }
    started_ = true;
    last_ = mark.pos;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  bool started_ = false;
  int last_ = 0;
};

std::vector<YAML::Node> LoadAllDocuments(const std::string& text) {
  {
    std::istringstream in(text);
    YAML::Parser parser(in);
    ProgressCheck check;
    while (parser.HandleNextDocument(check)) {
    }
  }
  return YAML::LoadAll(text);
}

// ParseYaml; `failed` is set when the stream could not be read as a whole.
std::vector<Document> ParseStream(std::string_view text, const std::string& source,
                                  const ValidationOptions& options, bool* failed) {
  *failed = false;
  std::vector<YAML::Node> nodes;
  try {
    nodes = LoadAllDocuments(std::string(text));
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's parser recurses per level and stops at 2000 with "bad file".
    const int line = e.mark.is_null() ? 0 : e.mark.line + 1;
    Document d = ErrorDocument(source, NestingError(line), line);
    if (line > 0) d.index = DocumentIndexAt(text, line);
    *failed = true;
    return {d};
  } catch (const YAML::Exception& e) {
    const int line = e.mark.is_null() ? 0 : e.mark.line + 1;
    // yaml-cpp quotes the offending input ("unknown escape character: \xff"):
    // made valid UTF-8 without control characters, as it ends up in JSON.
    Document d = ErrorDocument(source, "YAML syntax error: " + probes::SanitizeText(e.msg), line);
    if (line > 0) d.index = DocumentIndexAt(text, line);
    *failed = true;
    return {d};
  }
  std::vector<Document> out;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const YAML::Node& node = nodes[i];
    if (node.IsNull()) continue;  // empty document (e.g. a trailing "---")
    std::vector<ValidationError> conversion;
    bool cut = false;
    const nlohmann::json object = YamlToJson(node, &conversion, &cut);
    Document d = ParseJson(object, source, options);
    d.index = static_cast<int>(i);
    d.line = node.Mark().is_null() ? 0 : node.Mark().line + 1;
    if (cut) {
      // Parts of the document were dropped (too large or too deep): what the
      // validator says of the rest is noise (one "must be a string, not null"
      // per dropped value). Only the identity and the bound are kept.
      d.errors = std::move(conversion);
      d.check.reset();
    } else if (!conversion.empty()) {
      d.errors.insert(d.errors.begin(), conversion.begin(), conversion.end());
      d.check.reset();
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace

std::vector<Document> ParseYaml(std::string_view text, const std::string& source,
                                const ValidationOptions& options) {
  bool failed = false;
  return ParseStream(text, source, options, &failed);
}

ManifestFile ReadManifestFile(const std::string& path, const ValidationOptions& options) {
  ManifestFile out;
  out.path = path;
  const auto fail = [&](std::string message, int line = 0) {
    out.failed = true;
    out.documents = {ErrorDocument(path, std::move(message), line)};
    return out;
  };
  std::string text;
  if (auto err = ReadRegularFile(path, &text)) return fail(*err);
  out.empty = text.empty();
  if (!HasExtension(path, {".json"})) {
    out.documents = ParseStream(text, path, options, &out.failed);
    return out;
  }
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return out;
  if (const int line = JsonTooDeepAt(text, kMaxNesting)) return fail(NestingError(line), line);
  nlohmann::json object;
  try {
    object = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return fail("JSON syntax error: " + probes::SanitizeText(e.what()),
                LineAt(text, e.byte > 0 ? e.byte - 1 : 0));
  }
  Document d = ParseJson(object, path, options);
  d.line = 1;
  out.documents.push_back(std::move(d));
  return out;
}

std::optional<std::vector<std::string>> ListManifestFiles(const std::string& p,
                                                          std::string* error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(p, ec);
  if (ec) {
    *error = "cannot read: " + ec.message();
    return std::nullopt;
  }
  if (!fs::is_directory(st)) return std::vector<std::string>{p};
  std::vector<std::string> files;
  fs::directory_iterator it(p, ec);
  if (ec) {
    *error = "cannot read directory: " + ec.message();
    return std::nullopt;
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& f = it->path();
    if (!HasExtension(f, {".yaml", ".yml", ".json"})) continue;
    std::error_code fec;
    if (fs::is_directory(it->status(fec))) continue;
    files.push_back(f.string());
  }
  if (ec) {
    *error = "cannot read directory: " + ec.message();
    return std::nullopt;
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<Document> LoadPaths(const std::vector<std::string>& paths,
                                const ValidationOptions& options) {
  std::vector<Document> out;
  for (const std::string& p : paths) {
    std::string error;
    auto files = ListManifestFiles(p, &error);
    if (!files) {
      out.push_back(ErrorDocument(p, error));
      continue;
    }
    for (const std::string& f : *files) {
      auto file = ReadManifestFile(f, options);
      out.insert(out.end(), std::make_move_iterator(file.documents.begin()),
                 std::make_move_iterator(file.documents.end()));
    }
  }
  return out;
}

}  // namespace healthgate::v1alpha1
