#include "tests/support/servers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "tests/support/net.h"

namespace healthgate::testing {
namespace {

using std::chrono::seconds;

// Debian's postgresql-15 server binaries.
constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin/";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

RunResult MustRun(const std::vector<std::string>& argv, const std::string& what,
                  std::chrono::milliseconds timeout = seconds(60)) {
  RunResult r = Run(argv, timeout);
  if (r.exit_code != 0) {
    throw std::runtime_error(what + " failed (exit " + std::to_string(r.exit_code) + "):\n" +
                             r.output);
  }
  return r;
}

// PostgreSQL refuses to run as root: its files belong to the `postgres` user.
void GiveToPostgres(const std::string& path) {
  passwd* pw = getpwnam("postgres");
  if (pw == nullptr) throw std::runtime_error("no `postgres` user: is postgresql-15 installed?");
  if (chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    throw std::runtime_error("chown " + path + " failed");
  }
}

// Runs in "/" as the postgres user: the caller's working directory (the build
// tree of a checkout in a 0700 directory, as `mktemp -d` makes) may be closed to
// that user, and psql would then prefix its output with "could not change
// directory to ...: Permission denied".
std::vector<std::string> AsPostgres(std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--", "env", "--chdir=/"});
  return argv;
}

// initdb takes seconds; it runs once per process into a template directory
// that every PostgresServer copies.
const std::string& PostgresTemplate() {
  static std::mutex mu;
  static std::unique_ptr<TempDir> dir;
  static std::string data;
  std::lock_guard<std::mutex> lock(mu);
  if (dir) return data;
  auto d = std::make_unique<TempDir>();
  GiveToPostgres(d->path());
  std::string path = d->path() + "/data";
  MustRun(AsPostgres({std::string(kPgBin) + "initdb", "-D", path, "-U", "postgres", "-A", "trust",
                      "-E", "UTF8", "--no-locale", "--no-sync"}),
          "initdb");
  dir = std::move(d);
  data = path;
  return data;
}

}  // namespace

// --- TestCa ----------------------------------------------------------------------

TestCa::TestCa(const std::string& common_name) {
  const std::string& d = dir_.path();
  MustRun({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-keyout", d + "/ca.key", "-out", d + "/ca.crt", "-days", "2", "-subj",
           "/CN=" + common_name},
          "openssl (CA)");
  cert_pem_ = ReadFile(d + "/ca.crt");
}

void TestCa::IssueServerCert(const std::string& cert_path, const std::string& key_path) const {
  const std::string& d = dir_.path();
  WriteFile(d + "/server.ext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
            "basicConstraints=CA:FALSE\n"
            "keyUsage=digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n");
  MustRun({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-keyout", key_path, "-out", d + "/server.csr", "-subj", "/CN=localhost"},
          "openssl (server key)");
  MustRun({"openssl", "x509", "-req", "-in", d + "/server.csr", "-CA", d + "/ca.crt", "-CAkey",
           d + "/ca.key", "-CAcreateserial", "-out", cert_path, "-days", "2", "-extfile",
           d + "/server.ext"},
          "openssl (sign)");
}

// --- PostgresServer ------------------------------------------------------------

PostgresServer::PostgresServer(PostgresOptions options) : options_(std::move(options)) {
  const std::string& base = PostgresTemplate();
  const std::string& d = dir_.path();
  GiveToPostgres(d);
  data_ = d + "/data";
  MustRun({"cp", "-a", base, data_}, "copying the initdb template");

  // Local (unix socket) connections stay trusted for Sql(); TCP uses the method under test.
  std::string host = options_.ssl_only ? "hostssl" : "host";
  std::string hba = "local all all trust\n";
  for (const char* net : {"127.0.0.1/32", "::1/128"}) {
    hba += host + " all all " + net + " " + options_.auth + "\n";
  }
  WriteFile(data_ + "/pg_hba.conf", hba);
  GiveToPostgres(data_ + "/pg_hba.conf");

  std::string conf =
      "listen_addresses = '127.0.0.1'\n"
      "unix_socket_directories = '" +
      d +
      "'\n"
      "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
      "max_connections = 300\nshared_buffers = 16MB\n";
  if (options_.ssl) {
    ca_ = std::make_unique<TestCa>();
    ca_->IssueServerCert(d + "/server.crt", d + "/server.key");
    GiveToPostgres(d + "/server.crt");
    GiveToPostgres(d + "/server.key");
    chmod((d + "/server.key").c_str(), 0600);
    conf +=
        "ssl = on\nssl_cert_file = '" + d + "/server.crt'\nssl_key_file = '" + d + "/server.key'\n";
  }
  std::ofstream(data_ + "/postgresql.conf", std::ios::app) << conf;

  port_ = FreePort();
  Start();
  if (!options_.password.empty()) {
    std::string quoted;
    for (char ch : options_.password) quoted += ch == '\'' ? std::string("''") : std::string(1, ch);
    Sql("ALTER ROLE postgres PASSWORD '" + quoted + "'");
  }
}

PostgresServer::~PostgresServer() {
  try {
    Stop();
  } catch (...) {
    // A destructor cannot fail; the temp dir goes away regardless.
  }
}

void PostgresServer::Start() {
  if (running_) return;
  RunResult r =
      Run(AsPostgres({std::string(kPgBin) + "pg_ctl", "-D", data_, "-l", dir_.path() + "/log", "-w",
                      "-t", "60", "-o", "-p " + std::to_string(port_), "start"}),
          seconds(90));
  if (r.exit_code != 0) {
    throw std::runtime_error("PostgreSQL did not start on port " + std::to_string(port_) + ":\n" +
                             r.output + "\n--- server log ---\n" + Log());
  }
  running_ = true;
}

void PostgresServer::Stop() {
  if (!running_) return;
  running_ = false;
  MustRun(AsPostgres({std::string(kPgBin) + "pg_ctl", "-D", data_, "-m", "fast", "-w", "stop"}),
          "pg_ctl stop");
}

std::string PostgresServer::Sql(const std::string& sql) const {
  return MustRun(AsPostgres({std::string(kPgBin) + "psql", "-h", dir_.path(), "-p",
                             std::to_string(port_), "-U", "postgres", "-d", "postgres", "-v",
                             "ON_ERROR_STOP=1", "-At", "-c", sql}),
                 "psql")
      .output;
}

std::string PostgresServer::Log() const { return ReadFile(dir_.path() + "/log"); }

// --- RedisServer -----------------------------------------------------------------

RedisServer::RedisServer(RedisOptions options) : options_(std::move(options)) {
  port_ = FreePort();
  std::string conf = "bind 127.0.0.1\nport " + std::to_string(port_) +
                     "\nsave \"\"\nappendonly no\ndaemonize no\ndir " + dir_.path() + "\n";
  if (!options_.requirepass.empty()) conf += "requirepass " + options_.requirepass + "\n";
  if (!options_.acl_user.empty()) {
    conf += "user " + options_.acl_user + " on >" + options_.acl_password + " ~* &* +@all\n";
  }
  if (options_.replica_of) {
    conf += "replicaof 127.0.0.1 " + std::to_string(*options_.replica_of) + "\n";
    if (!options_.master_password.empty()) conf += "masterauth " + options_.master_password + "\n";
  }
  WriteFile(dir_.path() + "/redis.conf", conf);
  Start();
}

RedisServer::~RedisServer() { Stop(); }

void RedisServer::Start() {
  if (process_.running()) return;
  std::string log = dir_.path() + "/log";
  std::size_t before = ReadFile(log).size();  // the log is appended across restarts
  process_ = Process({"redis-server", dir_.path() + "/redis.conf"}, log);
  bool ready = WaitFor(
      [&] {
        return !process_.running() ||
               ReadFile(log).find("Ready to accept connections", before) != std::string::npos;
      },
      seconds(20));
  if (!ready || !process_.running()) {
    process_.Stop();
    throw std::runtime_error("Redis did not start on port " + std::to_string(port_) +
                             ":\n--- server log ---\n" + Log());
  }
}

void RedisServer::Stop() { process_.Stop(); }

std::string RedisServer::Cli(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"redis-cli", "-h", "127.0.0.1", "-p", std::to_string(port_)};
  if (!options_.requirepass.empty()) {
    argv.insert(argv.end(), {"-a", options_.requirepass, "--no-auth-warning"});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return MustRun(argv, "redis-cli").output;
}

std::string RedisServer::Log() const { return ReadFile(dir_.path() + "/log"); }

// --- WrongProtocolServer ----------------------------------------------------------

WrongProtocolServer::WrongProtocolServer() {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(fd_, 512) != 0 ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
      pipe2(stop_, O_CLOEXEC) != 0) {
    throw std::runtime_error("WrongProtocolServer: cannot listen");
  }
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] {
    for (;;) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents != 0) return;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      static constexpr char kReply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
      // Read the client's first bytes before answering, and drain after: closing
      // with unread data would reset the connection instead of showing the reply.
      char buf[4096];
      pollfd in{c, POLLIN, 0};
      if (poll(&in, 1, 1000) > 0) {
        ssize_t r = recv(c, buf, sizeof buf, 0);
        (void)r;
      }
      ssize_t n = send(c, kReply, sizeof kReply - 1, MSG_NOSIGNAL);
      (void)n;
      shutdown(c, SHUT_WR);
      while (poll(&in, 1, 1000) > 0 && recv(c, buf, sizeof buf, 0) > 0) {
      }
      close(c);
    }
  });
}

WrongProtocolServer::~WrongProtocolServer() {
  ssize_t n = write(stop_[1], "x", 1);
  (void)n;
  thread_.join();
  close(fd_);
  close(stop_[0]);
  close(stop_[1]);
}

}  // namespace healthgate::testing
