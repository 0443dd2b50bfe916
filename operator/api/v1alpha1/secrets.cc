// LocalSecretResolver: secrets for `healthgate local` and `healthgate check`.
//
// Lookup order for (namespace, name, key):
//   1. the file DIR/<namespace>/<name>/<key>, the layout of a mounted Secret volume
//      (skipped when DIR is empty);
//   2. the environment variable HEALTHGATE_SECRET_<NAMESPACE>_<NAME>_<KEY>.
// A file's contents are used verbatim except for ONE trailing line break ("\n" or
// "\r\n"), which is stripped: `echo pw > file` and editors add one, and a password
// that really ends in a line break is far rarer than one written that way. A PEM
// bundle is unaffected either way. Environment values are used verbatim.
// Keys "." and ".." (and keys starting with "..", which Kubernetes forbids) are never
// looked up as files, so a key cannot name a directory above the secret.
// Errors name the namespace, secret, key and the places looked at; never a value.
// Thread-safety: Get() only reads the file system and the environment; it is safe to
// call from several threads as long as nobody modifies the environment meanwhile.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "operator/api/v1alpha1/model.h"

namespace healthgate::v1alpha1 {

std::string LocalSecretResolver::EnvName(const std::string& ns, const SecretRef& ref) {
  std::string out = "HEALTHGATE_SECRET_";
  const std::string raw = ns + "_" + ref.name + "_" + ref.key;
  for (const char c : raw) {
    if (c >= 'a' && c <= 'z') {
      out += static_cast<char>(c - 'a' + 'A');
    } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      out += c;
    } else {
      out += '_';
    }
  }
  return out;
}

std::optional<std::string> LocalSecretResolver::Get(const std::string& ns, const SecretRef& ref,
                                                    std::string* error) {
  namespace fs = std::filesystem;
  std::string looked;
  std::string problem;
  const bool safe_key = !ref.key.empty() && ref.key != "." && ref.key.rfind("..", 0) != 0 &&
                        ref.key.find('/') == std::string::npos &&
                        ref.name.find('/') == std::string::npos &&
                        ns.find('/') == std::string::npos && ref.name != "." && ref.name != ".." &&
                        ns != "." && ns != "..";
  if (!dir_.empty() && safe_key) {
    const fs::path file = fs::path(dir_) / ns / ref.name / ref.key;
    looked = "file " + file.string() + ", ";
    std::error_code ec;
    if (fs::is_regular_file(file, ec)) {
      std::ifstream in(file, std::ios::binary);
      std::ostringstream buf;
      if (in) buf << in.rdbuf();
      if (in && !in.bad()) {
        std::string value = buf.str();
        if (!value.empty() && value.back() == '\n') {
          value.pop_back();
          if (!value.empty() && value.back() == '\r') value.pop_back();
        }
        return value;
      }
      problem = " (" + file.string() + " exists but cannot be read: " + std::strerror(errno) + ")";
    }
  }
  const std::string env = EnvName(ns, ref);
  if (const char* v = std::getenv(env.c_str()); v != nullptr) return std::string(v);
  if (error != nullptr) {
    *error = "secret \"" + ref.name + "\" key \"" + ref.key + "\" not found in namespace \"" + ns +
             "\" (looked at " + looked + "environment variable " + env + ")" + problem;
  }
  return std::nullopt;
}

}  // namespace healthgate::v1alpha1
