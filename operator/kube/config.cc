#include "operator/kube/config.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace healthgate::kube {
namespace {

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return path;
  return base_dir + "/" + path;
}

std::string DirName(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// The entry named `name` in a kubeconfig list (clusters, users, contexts).
YAML::Node FindNamed(const YAML::Node& list, const std::string& name) {
  if (!list || !list.IsSequence()) return YAML::Node(YAML::NodeType::Undefined);
  for (const auto& item : list) {
    if (item.IsMap() && item["name"] && item["name"].IsScalar() &&
        item["name"].as<std::string>() == name) {
      return item;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::string Scalar(const YAML::Node& map, const char* key) {
  if (!map || !map.IsMap()) return "";
  const YAML::Node v = map[key];
  if (!v || !v.IsScalar()) return "";
  return v.as<std::string>();
}

bool Bool(const YAML::Node& map, const char* key) {
  const std::string v = Scalar(map, key);
  return v == "true" || v == "True" || v == "TRUE" || v == "yes" || v == "on";
}

// Either the base64 `<field>-data` or the file `<field>`; `what` names the
// field in errors. Empty string when neither is set.
Result<std::string> DataOrFile(const YAML::Node& map, const std::string& field,
                               const std::string& base_dir, const std::string& where) {
  const std::string data = Scalar(map, (field + "-data").c_str());
  if (!data.empty()) {
    auto decoded = DecodeBase64(data);
    if (!decoded) return ConfigError(where + ": " + field + "-data is not valid base64");
    return *decoded;
  }
  const std::string file = Scalar(map, field.c_str());
  if (!file.empty()) {
    auto content = ReadFile(Resolve(base_dir, file));
    if (!content) return ConfigError(where + ": " + field + ": " + content.error().message);
    return std::move(content).value();
  }
  return std::string();
}

std::string TrimTrailingSlashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

NowFn SteadyNow() {
  return [] { return std::chrono::steady_clock::now(); };
}

GetenvFn ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read-only use
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ConfigError("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return ConfigError("error reading " + path);
  return ss.str();
}

std::optional<std::string> DecodeBase64(std::string_view in) {
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  int pad = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=') {
      ++pad;
      continue;
    } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      continue;
    } else {
      return std::nullopt;
    }
    if (pad > 0) return std::nullopt;  // data after padding
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (bits >= 6 || pad > 2) return std::nullopt;  // a lone trailing character
  return out;
}

FileTokenSource::FileTokenSource(std::string path, NowFn now, std::chrono::seconds refresh)
    : path_(std::move(path)), now_(std::move(now)), refresh_(refresh) {}

Result<std::string> FileTokenSource::Token() {
  std::lock_guard<std::mutex> lock(mu_);
  struct stat st {};
  const bool stat_ok = ::stat(path_.c_str(), &st) == 0;
  const auto now = now_();
  bool reread = token_.empty() || now - read_at_ >= refresh_;
  if (stat_ok && (st.st_mtim.tv_sec != mtime_.tv_sec || st.st_mtim.tv_nsec != mtime_.tv_nsec ||
                  st.st_ino != ino_ || st.st_size != size_)) {
    reread = true;
  }
  if (!reread) return token_;
  auto content = ReadFile(path_);
  std::string token = content ? Trim(content.value()) : std::string();
  if (token.empty()) {
    if (!token_.empty()) return token_;  // keep the last good token during a rotation hiccup
    return content ? ConfigError("token file " + path_ + " is empty") : content.error();
  }
  token_ = std::move(token);
  read_at_ = now;
  if (stat_ok) {
    mtime_ = st.st_mtim;
    ino_ = st.st_ino;
    size_ = st.st_size;
  }
  return token_;
}

Result<Config> LoadInClusterConfig(const InClusterPaths& paths, const GetenvFn& env, NowFn now) {
  auto host = env("KUBERNETES_SERVICE_HOST");
  auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    return ConfigError(
        "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be "
        "set (or pass --kubeconfig / set KUBECONFIG)");
  }
  Config cfg;
  const bool ipv6 = host->find(':') != std::string::npos;
  cfg.server = "https://" + (ipv6 ? "[" + *host + "]" : *host) + ":" + *port;
  auto ca = ReadFile(paths.ca);
  if (!ca) return ConfigError("in-cluster CA: " + ca.error().message);
  cfg.ca_pem = std::move(ca).value();
  auto source = std::make_shared<FileTokenSource>(paths.token, std::move(now));
  auto first = source->Token();
  if (!first) return ConfigError("in-cluster token: " + first.error().message);
  cfg.token = std::move(source);
  if (auto ns = ReadFile(paths.namespace_file); ns && !Trim(ns.value()).empty()) {
    cfg.default_namespace = Trim(ns.value());
  }
  cfg.description = "in-cluster (" + cfg.server + ")";
  return cfg;
}

Result<Config> ParseKubeconfig(std::string_view yaml, const std::string& base_dir,
                               const std::string& context, NowFn now) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return ConfigError(std::string("kubeconfig is not valid YAML: ") + e.what());
  }
  if (!root.IsMap()) return ConfigError("kubeconfig is not a YAML mapping");

  std::string ctx_name = context.empty() ? Scalar(root, "current-context") : context;
  if (ctx_name.empty()) return ConfigError("kubeconfig has no current-context and none was chosen");
  const YAML::Node ctx_entry = FindNamed(root["contexts"], ctx_name);
  if (!ctx_entry) return ConfigError("kubeconfig has no context named \"" + ctx_name + "\"");
  const YAML::Node ctx = ctx_entry["context"];
  const std::string cluster_name = Scalar(ctx, "cluster");
  const std::string user_name = Scalar(ctx, "user");

  const YAML::Node cluster_entry = FindNamed(root["clusters"], cluster_name);
  if (!cluster_entry) {
    return ConfigError("context \"" + ctx_name + "\" refers to unknown cluster \"" + cluster_name +
                       "\"");
  }
  const YAML::Node cluster = cluster_entry["cluster"];
  Config cfg;
  cfg.server = TrimTrailingSlashes(Scalar(cluster, "server"));
  if (cfg.server.empty()) return ConfigError("cluster \"" + cluster_name + "\" has no server");
  if (cfg.server.rfind("https://", 0) != 0 && cfg.server.rfind("http://", 0) != 0) {
    return ConfigError("cluster \"" + cluster_name + "\": server must be an http(s) URL");
  }
  cfg.insecure_skip_tls_verify = Bool(cluster, "insecure-skip-tls-verify");
  const std::string where_cluster = "cluster \"" + cluster_name + "\"";
  auto ca = DataOrFile(cluster, "certificate-authority", base_dir, where_cluster);
  if (!ca) return ca.error();
  cfg.ca_pem = std::move(ca).value();

  if (!user_name.empty()) {
    const YAML::Node user_entry = FindNamed(root["users"], user_name);
    if (!user_entry) {
      return ConfigError("context \"" + ctx_name + "\" refers to unknown user \"" + user_name +
                         "\"");
    }
    const YAML::Node user = user_entry["user"];
    const std::string where = "user \"" + user_name + "\"";
    if (user && user.IsMap()) {
      if (user["exec"]) return ConfigError(where + ": exec credential plugins are not supported");
      if (user["auth-provider"]) {
        return ConfigError(where + ": auth-provider plugins are not supported");
      }
      const std::string token = Scalar(user, "token");
      const std::string token_file = Scalar(user, "tokenFile");
      if (!token.empty()) {
        cfg.token = std::make_shared<StaticTokenSource>(token);
      } else if (!token_file.empty()) {
        auto source = std::make_shared<FileTokenSource>(Resolve(base_dir, token_file), now);
        auto first = source->Token();
        if (!first) return ConfigError(where + ": tokenFile: " + first.error().message);
        cfg.token = std::move(source);
      }
      auto cert = DataOrFile(user, "client-certificate", base_dir, where);
      if (!cert) return cert.error();
      auto key = DataOrFile(user, "client-key", base_dir, where);
      if (!key) return key.error();
      if (cert.value().empty() != key.value().empty()) {
        return ConfigError(where + ": client-certificate and client-key must be given together");
      }
      cfg.client_cert_pem = std::move(cert).value();
      cfg.client_key_pem = std::move(key).value();
    }
  }
  const std::string ns = Scalar(ctx, "namespace");
  if (!ns.empty()) cfg.default_namespace = ns;
  cfg.description = "context \"" + ctx_name + "\" (" + cfg.server + ")";
  return cfg;
}

Result<Config> LoadKubeconfigFile(const std::string& path, const std::string& context, NowFn now) {
  auto text = ReadFile(path);
  if (!text) return text.error();
  auto cfg = ParseKubeconfig(text.value(), DirName(path), context, std::move(now));
  if (!cfg) return ConfigError("kubeconfig " + path + ": " + cfg.error().message);
  cfg->description = "kubeconfig " + path + ", " + cfg->description;
  return cfg;
}

Result<Config> LoadConfig(const std::string& kubeconfig_flag, const GetenvFn& env, NowFn now,
                          const InClusterPaths& paths) {
  if (!kubeconfig_flag.empty()) return LoadKubeconfigFile(kubeconfig_flag, "", std::move(now));
  if (auto list = env("KUBECONFIG"); list && !list->empty()) {
    std::string first;
    std::stringstream ss(*list);
    while (std::getline(ss, first, ':')) {
      if (!first.empty()) break;
    }
    if (!first.empty()) return LoadKubeconfigFile(first, "", std::move(now));
  }
  return LoadInClusterConfig(paths, env, std::move(now));
}

}  // namespace healthgate::kube
