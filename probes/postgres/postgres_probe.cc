#include "probes/postgres/postgres_probe.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "probes/reply_limit.h"
#include "probes/text.h"

namespace healthgate::probes {
namespace {

bool IsSqlState(std::string_view s) {
  if (s.size() != 5) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c)) &&
        !std::isupper(static_cast<unsigned char>(c)))
      return false;
  }
  return true;
}

// A libpq connection error in verbose form ("... failed: FATAL:  28P01: password
// authentication failed ...\nLOCATION:  ...") split into a one-line message for
// humans ("... failed: FATAL:  password authentication failed ... (SQLSTATE
// 28P01)") and the SQLSTATE of the last server error, if the server sent one.
struct ConnError {
  std::string message;
  std::string sqlstate;
};

ConnError ParseConnError(const char* raw) {
  ConnError out;
  std::string text = raw != nullptr ? raw : "";
  std::string line;
  std::vector<std::string> lines;
  for (std::size_t start = 0; start <= text.size();) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  std::string joined;
  for (auto& l : lines) {
    // Verbose mode adds source locations of the server; they help nobody here.
    if (l.rfind("LOCATION:", 0) == 0) continue;
    for (const char* sev : {"FATAL:  ", "ERROR:  ", "PANIC:  "}) {
      std::size_t p = l.find(sev);
      if (p == std::string::npos) continue;
      std::size_t code_at = p + std::string_view(sev).size();
      std::string_view rest(l);
      rest.remove_prefix(code_at);
      if (rest.size() >= 7 && IsSqlState(rest.substr(0, 5)) && rest.substr(5, 2) == ": ") {
        out.sqlstate = std::string(rest.substr(0, 5));
        l = l.substr(0, code_at) + std::string(rest.substr(7)) + " (SQLSTATE " + out.sqlstate + ")";
      }
      break;
    }
    std::size_t b = l.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    if (!joined.empty()) joined += ' ';
    joined += l.substr(b);
  }
  out.message = joined.empty() ? "connection failed" : joined;
  return out;
}

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// See postgres_probe.h for the meaning of each reason. libpq's own (client-side)
// messages have no SQLSTATE, so those are told apart by their text; libpq's
// messages are English unless a translation is installed for the process locale.
Reason ClassifyConnError(const ConnError& e, bool reached_server) {
  const std::string& s = e.sqlstate;
  if (!s.empty()) {
    if (s.rfind("28", 0) == 0) return Reason::kAuth;
    if (s == "3D000") return Reason::kAssertion;
    if (s.rfind("08", 0) == 0 || s.rfind("53", 0) == 0 || s.rfind("57", 0) == 0)
      return Reason::kConnect;
    return Reason::kAssertion;
  }
  const std::string& m = e.message;
  if (Contains(m, "invalid response to SSL negotiation") ||
      Contains(m, "expected authentication request") || Contains(m, "unexpected message") ||
      Contains(m, "invalid message") || Contains(m, "protocol"))
    return Reason::kProtocol;
  if (Contains(m, "SSL") || Contains(m, "certificate") || Contains(m, "TLS")) return Reason::kTls;
  if (Contains(m, "password") || Contains(m, "authentication") || Contains(m, "SCRAM"))
    return Reason::kAuth;
  if (!reached_server || Contains(m, "server closed the connection")) return Reason::kConnect;
  return Reason::kProtocol;
}

struct PgState;

// One uv_poll_t per wait on libpq's socket. libpq may close its socket and open
// another (next address, SSL fallback) inside PQconnectPoll, and may close it
// on errors inside PQconsumeInput; libuv forbids closing a polled fd. So the
// handle is closed before every libpq call and a fresh one is made on whatever
// PQsocket() says afterwards. Freed in its close callback.
struct PollBox {
  uv_poll_t handle{};
  PgState* state = nullptr;  // null once closed: the callback must not reach the state
};

// Owned by the session; deleted synchronously when the session is destroyed
// (its only asynchronous resource, the poll handle, has its own lifetime).
struct PgState {
  Loop* loop = nullptr;
  const Clock* clock = nullptr;
  PostgresConfig config;
  DoneFn done;
  std::unique_ptr<ResolveHandle> resolving;
  PGconn* conn = nullptr;
  PollBox* poll = nullptr;
  std::string ca_path;
  bool querying = false;
  // The query phase's relay (see Interpose): the server's TCP socket, and our
  // end of the socket pair whose other end libpq now reads as its socket.
  int server_fd = -1;
  int relay_fd = -1;
  std::uint64_t relayed = 0;  // bytes of the server's reply handed to libpq
  std::string pending_in;     // read from the server, not yet taken by libpq (<= 16 KiB)
  bool reached_server = false;
  std::string phase = "dns";
  MonoTime start{};
  Timings timings;

  ~PgState() { Release(); }

  // Stops polling before libpq closes the socket (PQfinish), then drops the CA file.
  void Release() {
    resolving.reset();
    ClosePoll();
    if (conn != nullptr) PQfinish(conn);
    conn = nullptr;
    if (server_fd >= 0) close(server_fd);
    if (relay_fd >= 0) close(relay_fd);
    server_fd = relay_fd = -1;
    if (!ca_path.empty()) std::remove(ca_path.c_str());
    ca_path.clear();
  }

  void Finish(Result r) {
    r.timings = timings;
    DoneFn fn = std::move(done);
    done = nullptr;
    Release();
    if (fn) fn(std::move(r));  // may destroy the session and this state: touch nothing after
  }

  void ClosePoll() {
    if (poll == nullptr) return;
    poll->state = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&poll->handle),
             [](uv_handle_t* h) { delete static_cast<PollBox*>(h->data); });
    poll = nullptr;
  }

  void Wait(int events) {
    int fd = server_fd >= 0 ? server_fd : PQsocket(conn);
    if (fd < 0) {
      Finish(Result::Failure(Reason::kConnect, "connection has no socket"));
      return;
    }
    auto* box = new PollBox;
    box->state = this;
    box->handle.data = box;
    int rc = uv_poll_init(loop->raw(), &box->handle, fd);
    if (rc != 0) {
      delete box;
      Finish(Result::Failure(Reason::kConnect, std::string("poll: ") + uv_strerror(rc)));
      return;
    }
    poll = box;
    uv_poll_start(&box->handle, events, &PgState::OnPoll);
  }

  static void OnPoll(uv_poll_t* h, int status, int events) {
    PgState* s = static_cast<PollBox*>(h->data)->state;
    if (s == nullptr || !s->done) return;
    s->ClosePoll();
    // An error on the socket (status < 0) is for libpq to find and report.
    if (status < 0) events = UV_READABLE | UV_WRITABLE;
    if (s->querying) {
      s->OnQueryIo(events);
    } else {
      PostgresPollingStatusType st = PQconnectPoll(s->conn);
      if (s->OverReplyLimit()) return;
      s->Connect(st);
    }
  }

  // During connection startup, the bytes received on the socket are counted
  // after every PQconnectPoll (libpq bounds most startup messages itself); the
  // query phase goes through the relay (Interpose), which counts exactly.
  bool OverReplyLimit() {
    if (conn == nullptr || !done) return false;
    std::optional<std::uint64_t> received = BytesReceived(PQsocket(conn));
    if (!received || *received <= config.max_reply_bytes) return false;
    Finish(Result::Failure(Reason::kProtocol, "the server sent more than maxReplyBytes (" +
                                                  std::to_string(config.max_reply_bytes) +
                                                  " bytes) during " + phase));
    return true;
  }

  void TrackPhase() {
    switch (PQstatus(conn)) {
      case CONNECTION_BAD:
        return;
      case CONNECTION_STARTED:
        phase = "connect";
        return;
      case CONNECTION_SSL_STARTUP:
      case CONNECTION_GSS_STARTUP:
        phase = "tls";
        break;
      case CONNECTION_MADE:
        phase = "connect";
        break;
      case CONNECTION_AWAITING_RESPONSE:
      case CONNECTION_AUTH_OK:
        phase = "auth";
        break;
      default:
        phase = "startup";
        break;
    }
    if (!reached_server) {
      reached_server = true;
      timings.connect = clock->Now() - start;
    }
  }

  void Connect(PostgresPollingStatusType st) {
    TrackPhase();
    switch (st) {
      case PGRES_POLLING_READING:
        Wait(UV_READABLE);
        return;
      case PGRES_POLLING_WRITING:
        Wait(UV_WRITABLE);
        return;
      case PGRES_POLLING_OK:
        StartQuery();
        return;
      default: {
        ConnError e = ParseConnError(PQerrorMessage(conn));
        Finish(Result::Failure(ClassifyConnError(e, reached_server), e.message));
        return;
      }
    }
  }

  void StartQuery() {
    if (PQsslInUse(conn)) timings.tls = clock->Now() - start;
    phase = "query";
    querying = true;
    if (!Interpose()) {
      Finish(Result::Failure(Reason::kConnect, "cannot relay the connection"));
      return;
    }
    if (PQsetnonblocking(conn, 1) != 0 || PQsendQuery(conn, config.query.c_str()) == 0) {
      ConnError e = ParseConnError(PQerrorMessage(conn));
      Finish(Result::Failure(Reason::kConnect, "sending the query: " + e.message));
      return;
    }
    Flush();
  }

  // libpq has no limit on a reply: it grows its input buffer to the length a
  // message announces (a 1.5 GB DataRow included), and once it has, one
  // PQconsumeInput keeps reading for as long as the socket has data (85 MB in
  // one call was measured on loopback), so counting between calls is not
  // enough. For the query phase, libpq's socket number is therefore moved onto
  // one end of a local socket pair (dup3) and the probe relays the server's
  // bytes to the other end itself, at most 16 KiB per loop turn and counted:
  // libpq can never read more than the probe handed it, and the attempt fails
  // once the reply passes max_reply_bytes. TLS records pass through unchanged
  // (libpq's TLS runs on top of its socket). The relay stops with the attempt.
  bool Interpose() {
    const int fd = PQsocket(conn);
    if (fd < 0) return false;
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) return false;
    server_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (server_fd < 0 || dup3(pair[0], fd, O_CLOEXEC) < 0) {
      close(pair[0]);
      close(pair[1]);
      return false;
    }
    close(pair[0]);
    relay_fd = pair[1];
    relayed = BytesReceived(server_fd).value_or(0);  // startup counts too
    return true;
  }

  // What libpq wrote (the query; TLS records) goes on to the server. The query
  // is at most 4 KiB, far below the sockets' buffers, so nothing waits here.
  bool RelayOut() {
    char buf[16384];
    for (;;) {
      ssize_t n = recv(relay_fd, buf, sizeof buf, 0);
      if (n <= 0) return n == 0 || errno == EAGAIN || errno == EWOULDBLOCK;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = send(server_fd, buf + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
        if (w <= 0) return false;
        off += w;
      }
    }
  }

  // Hands at most one read of the server's reply to libpq, once libpq has taken
  // the previous one. False: the attempt has failed.
  bool RelayIn() {
    if (!HandOver()) return false;
    if (!pending_in.empty()) return true;  // libpq reads first (PQconsumeInput next)
    char buf[16384];
    ssize_t n = recv(server_fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
    if (n <= 0) {
      shutdown(relay_fd, SHUT_WR);  // libpq sees the server's end of the connection
      return true;
    }
    relayed += static_cast<std::uint64_t>(n);
    if (relayed > config.max_reply_bytes) {
      Finish(Result::Failure(Reason::kProtocol, "the server sent more than maxReplyBytes (" +
                                                    std::to_string(config.max_reply_bytes) +
                                                    " bytes) during " + phase));
      return false;
    }
    pending_in.assign(buf, static_cast<std::size_t>(n));
    return HandOver();
  }

  // Writes what is pending to libpq's end as far as the pair takes it now.
  bool HandOver() {
    while (!pending_in.empty()) {
      ssize_t w = send(relay_fd, pending_in.data(), pending_in.size(), MSG_NOSIGNAL);
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
      if (w <= 0) {
        Finish(Result::Failure(Reason::kConnect, "relaying the reply failed"));
        return false;
      }
      pending_in.erase(0, static_cast<std::size_t>(w));
    }
    return true;
  }

  // Writes what libpq has buffered; waits for readability in any case, since the
  // server may answer (or fail) before the whole query is written.
  void Flush() {
    int rc = PQflush(conn);
    if (rc < 0 || !RelayOut()) {
      ConnError e = ParseConnError(PQerrorMessage(conn));
      Finish(Result::Failure(Reason::kConnect, "sending the query: " + e.message));
      return;
    }
    Wait(rc == 1 ? (UV_READABLE | UV_WRITABLE) : UV_READABLE);
  }

  void OnQueryIo(int events) {
    if ((events & UV_READABLE) != 0 && !RelayIn()) return;
    if ((events & UV_READABLE) != 0 && PQconsumeInput(conn) == 0) {
      ConnError e = ParseConnError(PQerrorMessage(conn));
      Finish(Result::Failure(Reason::kConnect, "reading the reply: " + e.message));
      return;
    }
    if (PQisBusy(conn)) {
      Flush();
      return;
    }
    // The first result decides; PQfinish discards whatever follows.
    PGresult* res = PQgetResult(conn);
    if (res == nullptr) {
      Finish(Result::Failure(Reason::kProtocol, "the server returned no result"));
      return;
    }
    timings.first_byte = clock->Now() - start;
    Result r = Evaluate(res);
    PQclear(res);
    Finish(std::move(r));
  }

  Result Evaluate(const PGresult* res) const {
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
      const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      std::string msg = "query failed: ";
      msg += primary != nullptr ? primary : PQresStatus(st);
      if (state != nullptr) msg += std::string(" (SQLSTATE ") + state + ")";
      return Result::Failure(Reason::kAssertion, msg);
    }
    bool has_value = st == PGRES_TUPLES_OK && PQntuples(res) > 0 && PQnfields(res) > 0;
    std::string value;
    if (has_value) value = PQgetisnull(res, 0, 0) ? "NULL" : PQgetvalue(res, 0, 0);
    if (config.expect) {
      if (!has_value)
        return Result::Failure(Reason::kAssertion,
                               "query returned no rows, expected " + QuoteValue(*config.expect));
      if (value != *config.expect)
        return Result::Failure(Reason::kAssertion, "query returned " + QuoteValue(value) +
                                                       ", expected " + QuoteValue(*config.expect));
    }
    return Result::Success(has_value ? "query returned " + QuoteValue(value) : "query ok");
  }

  // Writes the CA bundle for libpq (which only reads sslrootcert from a file) to
  // a fresh private file (mkstemp: mode 0600), removed when the attempt ends.
  // A few hundred bytes to the temp dir; cheap enough for the loop thread.
  bool WriteCa(std::string* error) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "healthgate-pg-ca-XXXXXX").string();
    int fd = mkstemp(tmpl.data());
    if (fd < 0) {
      *error = "cannot write the CA file";
      return false;
    }
    ca_path = tmpl;
    const std::string& pem = config.ca_pem.reveal();
    std::size_t off = 0;
    while (off < pem.size()) {
      ssize_t n = write(fd, pem.data() + off, pem.size() - off);
      if (n <= 0) {
        close(fd);
        *error = "cannot write the CA file";
        return false;
      }
      off += static_cast<std::size_t>(n);
    }
    close(fd);
    return true;
  }

  void OnResolved(Resolution r) {
    timings.dns = clock->Now() - start;
    if (r.addresses.empty()) {
      Finish(Result::Failure(Reason::kDns, r.error));
      return;
    }
    // libpq tries every listed host in turn; `host` names each one so that
    // verify-full checks the certificate against the name the user wrote.
    std::string hostaddr;
    std::string host;
    for (const Address& a : r.addresses) {
      if (!hostaddr.empty()) {
        hostaddr += ',';
        host += ',';
      }
      hostaddr += a.ip();
      host += config.host;
    }
    std::string error;
    if (!config.ca_pem.empty() && !WriteCa(&error)) {
      Finish(Result::Failure(Reason::kTls, error));
      return;
    }
    std::string port = std::to_string(config.port);
    std::vector<const char*> keys;
    std::vector<const char*> values;
    auto add = [&](const char* k, const std::string& v) {
      keys.push_back(k);
      values.push_back(v.c_str());
    };
    static const std::string kAppName = "healthgate";
    static const std::string kDisable = "disable";
    add("host", host);
    add("hostaddr", hostaddr);
    add("port", port);
    add("dbname", config.database);
    add("user", config.user);
    if (!config.password.empty()) add("password", config.password.reveal());
    add("sslmode", config.ssl_mode);
    if (!ca_path.empty()) add("sslrootcert", ca_path);
    add("application_name", kAppName);
    // The backend's work is bounded by the probe's timeout on the server side
    // too: a probe that timed out closes its connection, but a backend waiting
    // on a lock (or running a slow query) would not notice before it next writes
    // to the socket, so each timed-out attempt would leave one behind until
    // max_connections runs out. These settings travel in the startup packet (no
    // round trip) and exist since PostgreSQL 9.6; client_connection_check_interval
    // (14+) is not set, since an older server refuses an unknown one. No
    // PQcancel: libpq 15's is blocking (it connects synchronously, on the loop
    // thread), and statement_timeout already ends the backend's statement when
    // the probe gives up; the backend then finds the socket closed and exits.
    // The session is read-only: a probe has no business writing.
    std::string options = "-c default_transaction_read_only=on";
    if (config.server_timeout.count() > 0) {
      const std::string ms = std::to_string(config.server_timeout.count());
      options += " -c statement_timeout=" + ms + " -c lock_timeout=" + ms +
                 " -c idle_in_transaction_session_timeout=" + ms;
    }
    add("options", options);
    // No Kerberos here: GSS negotiation would cost round trips (and may read
    // credential caches) for nothing.
    add("gssencmode", kDisable);
    keys.push_back(nullptr);
    values.push_back(nullptr);
    phase = "connect";
    conn = PQconnectStartParams(keys.data(), values.data(), 0);
    if (conn == nullptr) {
      Finish(Result::Failure(Reason::kConnect, "out of memory starting the connection"));
      return;
    }
    // Verbose errors carry the SQLSTATE, which tells auth failures from others.
    PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
    if (PQstatus(conn) == CONNECTION_BAD) {
      ConnError e = ParseConnError(PQerrorMessage(conn));
      Finish(Result::Failure(ClassifyConnError(e, false), e.message));
      return;
    }
    // As documented for PQconnectStart: behave as if PQconnectPoll had last
    // returned PGRES_POLLING_WRITING.
    Connect(PGRES_POLLING_WRITING);
  }
};

class PostgresSession final : public ProbeSession {
 public:
  explicit PostgresSession(std::unique_ptr<PgState> s) : s_(std::move(s)) {}
  ~PostgresSession() override { s_->done = nullptr; }  // ~PgState releases everything
  std::string_view Phase() const override { return s_->phase; }

 private:
  std::unique_ptr<PgState> s_;
};

}  // namespace

PostgresProber::PostgresProber(Loop& loop, Resolver& resolver, AddressPolicy policy)
    : loop_(loop), resolver_(resolver), policy_(std::move(policy)) {}
PostgresProber::~PostgresProber() = default;

std::unique_ptr<ProbeSession> PostgresProber::Start(const PostgresConfig& config, DoneFn done) {
  auto state = std::make_unique<PgState>();
  PgState* s = state.get();
  s->loop = &loop_;
  s->clock = &loop_.clock();
  s->config = config;
  s->done = std::move(done);
  s->start = loop_.clock().Now();
  auto session = std::make_unique<PostgresSession>(std::move(state));
  s->resolving = resolver_.Resolve(config.host, config.port, [s, this](Resolution r) {
    // Only addresses the policy allows reach the client library.
    std::string denied = RemoveRefused(policy_, &r.addresses);
    if (r.addresses.empty() && !denied.empty()) {
      s->timings.dns = s->clock->Now() - s->start;
      s->Finish(Result::Failure(Reason::kConnect, denied));
      return;
    }
    s->OnResolved(std::move(r));
  });
  return session;
}

}  // namespace healthgate::probes
