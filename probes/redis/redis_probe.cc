#include "probes/redis/redis_probe.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#include "probes/reply_limit.h"
#include "probes/text.h"

namespace healthgate::probes {
namespace {

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

// --- hiredis event adapter for libuv -----------------------------------------
// Our own instead of <hiredis/adapters/libuv.h>: that adapter ignores poll
// errors, and libuv reports a refused connect as a poll error (POLLERR), so a
// refused connection would hang until the deadline instead of failing as
// kConnect. Here a poll error is handed to hiredis, which then reads the socket
// error itself. The struct is freed in the handle's close callback; hiredis
// calls Cleanup before it closes the fd, so the fd is never closed while polled.
struct UvEvents {
  uv_poll_t handle{};
  redisAsyncContext* ac = nullptr;  // null after Cleanup
  int events = 0;
  bool halted = false;  // the attempt failed on its reply limit: never poll again
};

// Called after every read hiredis did on the socket (outside any hiredis
// callback): false when the reply limit is exceeded and the attempt failed.
bool WithinReplyLimit(UvEvents* p);

void OnEventsPoll(uv_poll_t* h, int status, int events) {
  auto* p = static_cast<UvEvents*>(h->data);
  if (status < 0) {
    // libuv stopped the handle; let hiredis find the error, then resume.
    if (p->ac != nullptr) {
      if ((p->ac->c.flags & REDIS_CONNECTED) == 0) {
        redisAsyncHandleWrite(p->ac);
      } else {
        redisAsyncHandleRead(p->ac);
        if (!WithinReplyLimit(p)) return;
      }
    }
    if (p->ac != nullptr && p->events != 0) uv_poll_start(&p->handle, p->events, &OnEventsPoll);
    return;
  }
  if (p->ac != nullptr && (events & UV_READABLE) != 0) {
    redisAsyncHandleRead(p->ac);
    if (!WithinReplyLimit(p)) return;
  }
  if (p->ac != nullptr && (events & UV_WRITABLE) != 0) redisAsyncHandleWrite(p->ac);
}

void UpdateEvents(UvEvents* p, int events) {
  if (p->halted) events = 0;
  p->events = events;
  if (events != 0) {
    uv_poll_start(&p->handle, events, &OnEventsPoll);
  } else {
    uv_poll_stop(&p->handle);
  }
}

bool AttachToLoop(redisAsyncContext* ac, uv_loop_t* loop) {
  auto* events = new UvEvents;
  if (uv_poll_init(loop, &events->handle, ac->c.fd) != 0) {
    delete events;
    return false;
  }
  events->handle.data = events;
  events->ac = ac;
  ac->ev.data = events;
  ac->ev.addRead = [](void* d) {
    auto* p = static_cast<UvEvents*>(d);
    UpdateEvents(p, p->events | UV_READABLE);
  };
  ac->ev.delRead = [](void* d) {
    auto* p = static_cast<UvEvents*>(d);
    UpdateEvents(p, p->events & ~UV_READABLE);
  };
  ac->ev.addWrite = [](void* d) {
    auto* p = static_cast<UvEvents*>(d);
    UpdateEvents(p, p->events | UV_WRITABLE);
  };
  ac->ev.delWrite = [](void* d) {
    auto* p = static_cast<UvEvents*>(d);
    UpdateEvents(p, p->events & ~UV_WRITABLE);
  };
  ac->ev.cleanup = [](void* d) {
    auto* p = static_cast<UvEvents*>(d);
    p->ac = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&p->handle),
             [](uv_handle_t* h) { delete static_cast<UvEvents*>(h->data); });
  };
  return true;
}

// --- the probe ------------------------------------------------------------------

enum class Step { kAuth, kSelect, kCommand, kRole };

const char* StepName(Step s) {
  switch (s) {
    case Step::kAuth:
      return "auth";
    case Step::kSelect:
      return "select";
    case Step::kCommand:
      return "command";
    case Step::kRole:
      return "role";
  }
  return "command";
}

bool IsAuthError(const std::string& e) {
  return e.rfind("NOAUTH", 0) == 0 || e.rfind("WRONGPASS", 0) == 0 || e.rfind("NOPERM", 0) == 0;
}

// Lifetime: the session owns the state until it is destroyed; then a zero-delay
// timer (`reaper`) frees the hiredis context outside any hiredis callback (it
// may not be freed from inside one) and deletes the state in the timer's close
// callback. So the state outlives every hiredis call stack that can reach it.
// hiredis frees the context by itself after a failed connect and after a
// disconnect; `ac` is cleared at those points.
struct RedisState {
  Loop* loop = nullptr;
  const Clock* clock = nullptr;
  RedisConfig config;
  DoneFn done;
  std::unique_ptr<ResolveHandle> resolving;
  redisAsyncContext* ac = nullptr;
  uv_timer_t reaper{};
  std::vector<Step> steps;
  std::size_t answered = 0;
  std::string phase = "dns";
  std::string role_seen;
  MonoTime start{};
  Timings timings;

  void Finish(Result r) {
    r.timings = timings;
    DoneFn fn = std::move(done);
    done = nullptr;
    if (fn) fn(std::move(r));  // may destroy the session; the state lives until the reaper runs
  }

  void Reap() {
    resolving.reset();
    done = nullptr;
    reaper.data = this;
    uv_timer_start(
        &reaper,
        [](uv_timer_t* t) {
          auto* s = static_cast<RedisState*>(t->data);
          if (s->ac != nullptr) {
            redisAsyncContext* context = s->ac;
            s->ac = nullptr;
            redisAsyncFree(context);  // pending callbacks run with NULL replies and are ignored
          }
          uv_close(reinterpret_cast<uv_handle_t*>(&s->reaper),
                   [](uv_handle_t* h) { delete static_cast<RedisState*>(h->data); });
        },
        0, 0);
  }

  static void OnConnect(const redisAsyncContext* ac, int status) {
    auto* s = static_cast<RedisState*>(ac->data);
    if (s == nullptr) return;
    if (status != REDIS_OK) {
      s->ac = nullptr;  // hiredis frees it when this callback returns
      if (!s->done) return;
      s->last_error = "connect " + s->where + ": " + ac->errstr;
      if (s->next_address >= s->addresses.size()) {
        s->Finish(Result::Failure(Reason::kConnect, s->last_error));
        return;
      }
      // The next address is tried from a fresh loop turn, outside hiredis. A
      // destroyed session re-arms the same timer for the reaper instead.
      uv_timer_start(
          &s->reaper, [](uv_timer_t* t) { static_cast<RedisState*>(t->data)->ConnectNext(); }, 0,
          0);
      return;
    }
    if (!s->done) return;
    s->timings.connect = s->clock->Now() - s->start;
    s->SendAll();
  }

  // The server may send at most config.max_reply_bytes in this attempt. hiredis
  // 0.14 buffers a bulk or array reply until all of it has arrived and has no
  // limit of its own, so the bytes received on the socket are counted after
  // every read (hiredis reads at most 16 KiB per call); a reply whose header
  // announces more than the limit fails at once. Failing stops the poll, so
  // nothing more is read before the reaper frees the context.
  bool CheckReplyLimit(UvEvents* p) {
    if (!done || ac == nullptr) return true;
    const std::uint64_t limit = config.max_reply_bytes;
    std::optional<std::uint64_t> received = BytesReceived(ac->c.fd);
    const redisReader* reader = ac->c.reader;
    std::size_t buffered = 0;
    if (reader != nullptr && reader->buf != nullptr && reader->len >= reader->pos) {
      buffered = reader->len - reader->pos;
    }
    std::string why;
    if (received && *received > limit) {
      why = "the server sent more than maxReplyBytes (" + std::to_string(limit) + " bytes)";
    } else if (buffered > limit) {
      why = "a reply exceeds maxReplyBytes (" + std::to_string(limit) + " bytes)";
    } else if (auto announced = Announced(reader); announced && *announced > limit) {
      why = "a reply announces " + std::to_string(*announced) +
            " bytes, more than maxReplyBytes (" + std::to_string(limit) + " bytes)";
    } else {
      return true;
    }
    p->halted = true;
    UpdateEvents(p, 0);
    Finish(Result::Failure(Reason::kProtocol, why + " during " + phase));
    return false;
  }

  // The length in the header of the (incomplete) bulk string or array the
  // reader waits for, if its cursor is at one. hiredis leaves the cursor at
  // the start of an item until all of it has arrived. An array's elements take
  // at least 3 bytes each, so its count is a lower bound of its size.
  static std::optional<std::uint64_t> Announced(const redisReader* reader) {
    if (reader == nullptr || reader->buf == nullptr || reader->pos >= reader->len) {
      return std::nullopt;
    }
    const char* at = reader->buf + reader->pos;
    const std::size_t avail = reader->len - reader->pos;
    if (at[0] != '$' && at[0] != '*') return std::nullopt;
    std::uint64_t n = 0;
    for (std::size_t i = 1; i < avail && i < 21; ++i) {
      const char c = at[i];
      if (c == '\r') return at[0] == '*' ? n * 3 : n;
      if (c < '0' || c > '9') return std::nullopt;  // e.g. $-1: nil
      if (n > 1'000'000'000'000'000ULL) return n;   // absurd; and no overflow below
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return std::nullopt;
  }

  static void OnDisconnect(const redisAsyncContext* ac, int) {
    auto* s = static_cast<RedisState*>(ac->data);
    if (s != nullptr) s->ac = nullptr;  // hiredis frees it when this callback returns
  }

  // Pipelines every step: one round trip. A failed AUTH makes the later
  // commands fail too, but the first failure decides.
  void SendAll() {
    if (!config.password.empty()) steps.push_back(Step::kAuth);
    if (config.db != 0) steps.push_back(Step::kSelect);
    steps.push_back(Step::kCommand);
    if (config.role) steps.push_back(Step::kRole);
    phase = StepName(steps.front());
    for (std::size_t i = 0; i < steps.size(); ++i) {
      std::vector<std::string> args;
      switch (steps[i]) {
        case Step::kAuth:
          args.push_back("AUTH");
          if (!config.username.empty()) args.push_back(config.username);
          args.push_back(config.password.reveal());
          break;
        case Step::kSelect:
          args = {"SELECT", std::to_string(config.db)};
          break;
        case Step::kCommand:
          args = config.command.empty() ? std::vector<std::string>{"PING"} : config.command;
          break;
        case Step::kRole:
          args = {"ROLE"};
          break;
      }
      std::vector<const char*> argv;
      std::vector<std::size_t> lens;
      for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      if (redisAsyncCommandArgv(
              ac, &RedisState::OnReply, reinterpret_cast<void*>(static_cast<std::uintptr_t>(i)),
              static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK) {
        Finish(Result::Failure(Reason::kConnect, "cannot send the command"));
        return;
      }
    }
  }

  static void OnReply(redisAsyncContext* ac, void* raw, void* privdata) {
    auto* s = static_cast<RedisState*>(ac->data);
    if (s == nullptr) return;
    auto* reply = static_cast<redisReply*>(raw);
    if (reply == nullptr) {
      // Only called so while hiredis frees the context (error or our free).
      s->ac = nullptr;
      if (!s->done) return;
      if (ac->err == REDIS_ERR_PROTOCOL) {
        s->Finish(
            Result::Failure(Reason::kProtocol, std::string("not a Redis server: ") + ac->errstr));
      } else {
        s->Finish(Result::Failure(
            Reason::kConnect, std::string("connection lost during ") + s->phase +
                                  (ac->errstr[0] != '\0' ? std::string(": ") + ac->errstr : "")));
      }
      return;
    }
    if (!s->done) return;
    // A reply that arrived whole in one read is judged here, before it counts.
    if (std::optional<std::uint64_t> received = BytesReceived(ac->c.fd);
        received && *received > s->config.max_reply_bytes) {
      s->Finish(Result::Failure(Reason::kProtocol, "the server sent more than maxReplyBytes (" +
                                                       std::to_string(s->config.max_reply_bytes) +
                                                       " bytes) during " + s->phase));
      return;
    }
    if (!s->timings.first_byte) s->timings.first_byte = s->clock->Now() - s->start;
    auto index = static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(privdata));
    s->answered = index + 1;
    if (s->answered < s->steps.size()) s->phase = StepName(s->steps[s->answered]);
    std::optional<Result> verdict = s->Check(s->steps[index], *reply);
    if (verdict) {
      s->Finish(std::move(*verdict));
    } else if (s->answered == s->steps.size()) {
      s->Finish(Result::Success(s->SuccessMessage()));
    }
  }

  std::string SuccessMessage() const {
    std::string m = last_reply_.empty() ? "ok" : "reply " + QuoteValue(last_reply_);
    if (config.role) m += ", role " + role_seen;
    return m;
  }

  // nullopt: this step passed.
  std::optional<Result> Check(Step step, const redisReply& r) {
    std::string text = r.str != nullptr ? std::string(r.str, r.len) : "";
    if (r.type == REDIS_REPLY_ERROR) {
      Reason reason = step == Step::kAuth || IsAuthError(text) ? Reason::kAuth : Reason::kAssertion;
      return Result::Failure(reason, std::string(StepName(step)) + ": " + text);
    }
    switch (step) {
      case Step::kAuth:
      case Step::kSelect:
        return std::nullopt;
      case Step::kCommand:
        return CheckCommand(r, text);
      case Step::kRole:
        return CheckRole(r);
    }
    return std::nullopt;
  }

  std::optional<Result> CheckCommand(const redisReply& r, const std::string& text) {
    std::optional<std::string> got;
    if (r.type == REDIS_REPLY_STATUS || r.type == REDIS_REPLY_STRING) got = text;
    if (r.type == REDIS_REPLY_INTEGER) got = std::to_string(r.integer);
    if (got) last_reply_ = *got;
    std::optional<std::string> want = config.expect;
    bool bare_ping = config.command.empty() ||
                     (config.command.size() == 1 && Upper(config.command[0]) == "PING");
    if (!want && bare_ping) want = "PONG";
    if (!want) return std::nullopt;
    if (got == want) return std::nullopt;
    std::string shown = got                         ? QuoteValue(*got)
                        : r.type == REDIS_REPLY_NIL ? "nil"
                                                    : "a non-string reply";
    return Result::Failure(Reason::kAssertion,
                           "reply " + shown + ", expected " + QuoteValue(*want));
  }

  std::optional<Result> CheckRole(const redisReply& r) {
    if (r.type != REDIS_REPLY_ARRAY || r.elements == 0 || r.element[0]->str == nullptr) {
      return Result::Failure(Reason::kProtocol, "unexpected reply to ROLE");
    }
    std::string role(r.element[0]->str, r.element[0]->len);
    if (role == "slave") role = "replica";
    role_seen = role;
    if (role != *config.role) {
      return Result::Failure(Reason::kAssertion, "role is " + role + ", expected " + *config.role);
    }
    return std::nullopt;
  }

  void OnResolved(Resolution r) {
    timings.dns = clock->Now() - start;
    if (r.addresses.empty()) {
      Finish(Result::Failure(Reason::kDns, r.error));
      return;
    }
    addresses = std::move(r.addresses);
    ConnectNext();
  }

  // Tries the resolved addresses in turn (e.g. ::1, then 127.0.0.1 for
  // localhost). hiredis is given numeric addresses so that it never resolves
  // (synchronously) itself. Never called from inside a hiredis callback.
  void ConnectNext() {
    phase = "connect";
    while (next_address < addresses.size()) {
      const Address& a = addresses[next_address++];
      where = a.ip() + ":" + std::to_string(a.port());
      redisAsyncContext* c = redisAsyncConnect(a.ip().c_str(), a.port());
      if (c == nullptr) {
        last_error = "connect " + where + ": out of memory";
        continue;
      }
      if (c->err != 0) {
        last_error = "connect " + where + ": " + c->errstr;
        redisAsyncFree(c);
        continue;
      }
      if (!AttachToLoop(c, loop->raw())) {
        last_error = "connect " + where + ": cannot watch the socket";
        redisAsyncFree(c);
        continue;
      }
      c->data = this;
      ac = c;
      // The adapter must be attached first: setting the connect callback arms
      // the write event that reports the finished connect.
      redisAsyncSetConnectCallback(c, &RedisState::OnConnect);
      redisAsyncSetDisconnectCallback(c, &RedisState::OnDisconnect);
      return;
    }
    Finish(Result::Failure(Reason::kConnect, last_error));
  }

  std::vector<Address> addresses;
  std::size_t next_address = 0;
  std::string where;
  std::string last_error;

 private:
  std::string last_reply_;
};

bool WithinReplyLimit(UvEvents* p) {
  if (p->ac == nullptr) return true;
  auto* s = static_cast<RedisState*>(p->ac->data);
  return s == nullptr || s->CheckReplyLimit(p);
}

class RedisSession final : public ProbeSession {
 public:
  explicit RedisSession(RedisState* s) : s_(s) {}
  ~RedisSession() override { s_->Reap(); }
  std::string_view Phase() const override { return s_->phase; }

 private:
  RedisState* s_;
};

}  // namespace

RedisProber::RedisProber(Loop& loop, Resolver& resolver, AddressPolicy policy)
    : loop_(loop), resolver_(resolver), policy_(std::move(policy)) {}
RedisProber::~RedisProber() = default;

std::unique_ptr<ProbeSession> RedisProber::Start(const RedisConfig& config, DoneFn done) {
  auto* s = new RedisState;
  s->loop = &loop_;
  s->clock = &loop_.clock();
  s->config = config;
  s->done = std::move(done);
  s->start = loop_.clock().Now();
  uv_timer_init(loop_.raw(), &s->reaper);
  s->reaper.data = s;
  auto session = std::make_unique<RedisSession>(s);
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
