// kubeconfig documents (ParseKubeconfig). The fuzzer supplies the document and
// the one file it may name: file fields (certificate-authority, client-certificate,
// client-key, tokenFile) resolve against a private temporary directory holding
// "f", and documents whose file fields name anything but a plain file name there
// are skipped, so no other file is ever read. Invariants: loading never throws; a
// config has an http(s) server without a trailing '/'; a certificate comes with
// its key; the description is made of the context name and the server only.
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "operator/kube/config.h"

namespace kube = healthgate::kube;

namespace {

const std::string& Dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/kubeconfig-fuzz-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) std::abort();
    return std::string(tmpl);
  }();
  return dir;
}

bool IsFileField(const std::string& key) {
  return key == "certificate-authority" || key == "client-certificate" || key == "client-key" ||
         key == "tokenFile";
}

// A file field may only name "f" or a missing plain name in Dir().
bool SafeName(const std::string& v) {
  if (v.empty() || v == "." || v == "..") return v.empty();
  for (char c : v) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool ReadsOnlyDir(const YAML::Node& node, int depth) {
  if (depth > 64) return false;
  if (node.IsSequence()) {
    for (const auto& item : node)
      if (!ReadsOnlyDir(item, depth + 1)) return false;
  } else if (node.IsMap()) {
    for (const auto& kv : node) {
      if (kv.first.IsScalar() && IsFileField(kv.first.Scalar())) {
        if (!kv.second.IsScalar() && !kv.second.IsNull()) continue;  // not read as a name
        if (kv.second.IsScalar() && !SafeName(kv.second.Scalar())) return false;
      }
      if (!ReadsOnlyDir(kv.first, depth + 1) || !ReadsOnlyDir(kv.second, depth + 1)) return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::string file = in.ConsumeRandomLengthString(256);
  const std::string context = in.ConsumeBool() ? in.ConsumeRandomLengthString(16) : "";
  const std::string yaml = in.ConsumeRemainingBytesAsString();
  try {
    if (!ReadsOnlyDir(YAML::Load(yaml), 0)) return 0;
  } catch (const YAML::Exception&) {
    // ParseKubeconfig reports it; it reads no file then.
  }
  {
    std::ofstream out(Dir() + "/f", std::ios::binary | std::ios::trunc);
    out << file;
  }
  auto now = [] { return std::chrono::steady_clock::time_point{}; };
  auto cfg = kube::ParseKubeconfig(yaml, Dir(), context, now);
  if (!cfg.ok()) {
    if (cfg.error().message.empty()) __builtin_trap();
    return 0;
  }
  const kube::Config& c = cfg.value();
  if (!c.server.starts_with("https://") && !c.server.starts_with("http://")) __builtin_trap();
  if (c.server.size() > 1 && c.server.back() == '/') __builtin_trap();
  if (c.client_cert_pem.empty() != c.client_key_pem.empty()) __builtin_trap();
  // The description names the context and the server only: no token or key.
  if (!c.description.starts_with("context \"") || !c.description.ends_with(" (" + c.server + ")"))
    __builtin_trap();
  return 0;
}
