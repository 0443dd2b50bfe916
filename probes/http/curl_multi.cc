#include "probes/http/curl_multi.h"

#include <sys/socket.h>

#include <stdexcept>

namespace healthgate::probes {

struct CurlMulti::Watch {
  uv_poll_t poll{};
  curl_socket_t fd = CURL_SOCKET_BAD;
  CURL* easy = nullptr;
  CurlMulti* multi = nullptr;
  int events = 0;  // UV_READABLE/UV_WRITABLE curl asked for
};

std::shared_ptr<CurlMulti> CurlMulti::Create(uv_loop_t* loop) {
  return std::shared_ptr<CurlMulti>(new CurlMulti(loop));
}

CurlMulti::CurlMulti(uv_loop_t* loop) : loop_(loop), timer_(new uv_timer_t) {
  // Reference-counted and thread-safe in the libcurl we build against (7.88,
  // "threadsafe" feature); paired with curl_global_cleanup in the destructor.
  curl_global_init(CURL_GLOBAL_DEFAULT);
  multi_ = curl_multi_init();
  if (multi_ == nullptr) throw std::runtime_error("curl_multi_init failed");
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMulti::OnSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMulti::OnTimerSet);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

CurlMulti::~CurlMulti() {
  // Every transfer holds a reference, so none is left in the multi here; deferred
  // discards cannot be pending either (they run before Action returns).
  // Silence the callbacks first: the sockets are closed below, by us.
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, nullptr);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, nullptr);
  curl_multi_cleanup(multi_);
  for (auto& [fd, w] : watches_) {
    uv_poll_stop(&w->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&w->poll),
             [](uv_handle_t* h) { delete static_cast<Watch*>(h->data); });
  }
  watches_.clear();
  uv_timer_stop(timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  curl_global_cleanup();
}

CURLMcode CurlMulti::Add(CURL* easy, CurlTransfer* transfer) {
  curl_easy_setopt(easy, CURLOPT_PRIVATE, transfer);
  CURLMcode rc = curl_multi_add_handle(multi_, easy);
  if (rc == CURLM_OK) active_.insert(easy);
  return rc;
}

void CurlMulti::Discard(CURL* easy, std::function<void()> release) {
  if (depth_ > 0) {
    deferred_.emplace_back(easy, std::move(release));
    return;
  }
  if (active_.erase(easy) > 0) curl_multi_remove_handle(multi_, easy);
  if (release) release();
}

bool CurlMulti::HasConnectedSocket(CURL* easy) const {
  for (const auto& [fd, w] : watches_) {
    if (w->easy != easy) continue;
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0) return true;
  }
  return false;
}

int CurlMulti::OnSocket(CURL* easy, curl_socket_t fd, int what, void* userp, void* socketp) {
  auto* self = static_cast<CurlMulti*>(userp);
  auto* w = static_cast<Watch*>(socketp);
  if (what == CURL_POLL_REMOVE) {
    if (w != nullptr) self->CloseWatch(w);
    return 0;
  }
  if (w == nullptr) {
    // curl reports REMOVE before it closes a socket, so an entry for this fd is
    // stale; never leave a second poll handle on one descriptor.
    auto stale = self->watches_.find(fd);
    if (stale != self->watches_.end()) self->CloseWatch(stale->second);
    w = new Watch;
    w->fd = fd;
    w->easy = easy;
    w->multi = self;
    if (uv_poll_init_socket(self->loop_, &w->poll, fd) != 0) {
      delete w;
      return -1;  // curl fails the transfer that owns this socket
    }
    w->poll.data = w;
    self->watches_[fd] = w;
    curl_multi_assign(self->multi_, fd, w);
  }
  int events = 0;
  if ((what & CURL_POLL_IN) != 0) events |= UV_READABLE;
  if ((what & CURL_POLL_OUT) != 0) events |= UV_WRITABLE;
  w->events = events;
  uv_poll_start(&w->poll, events, &CurlMulti::OnPoll);
  return 0;
}

void CurlMulti::CloseWatch(Watch* w) {
  curl_multi_assign(multi_, w->fd, nullptr);
  watches_.erase(w->fd);
  uv_poll_stop(&w->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll),
           [](uv_handle_t* h) { delete static_cast<Watch*>(h->data); });
}

int CurlMulti::OnTimerSet(CURLM*, long timeout_ms, void* userp) {
  auto* self = static_cast<CurlMulti*>(userp);
  if (timeout_ms < 0) {
    uv_timer_stop(self->timer_);
  } else {
    // Even 0 goes through the loop: curl_multi_socket_action must not be called
    // from inside this callback.
    uv_timer_start(self->timer_, &CurlMulti::OnTimeout, static_cast<std::uint64_t>(timeout_ms), 0);
  }
  return 0;
}

void CurlMulti::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* w = static_cast<Watch*>(handle->data);
  int flags = 0;
  if (status < 0) {
    // libuv reports a socket error (POLLERR, e.g. a reset) as a status and stops
    // the poll. CURL_CSELECT_ERR would make curl fail with "select/poll returned
    // error", hiding the cause; instead let curl do the read or write it waits
    // for, so it meets the error itself (ECONNRESET: "Connection reset by peer").
    events = w->events;
  }
  if ((events & UV_READABLE) != 0) flags |= CURL_CSELECT_IN;
  if ((events & UV_WRITABLE) != 0) flags |= CURL_CSELECT_OUT;
  CurlMulti* multi = w->multi;
  curl_socket_t fd = w->fd;
  // `w` may be closed by curl during the action: copied what is needed first.
  multi->Action(fd, flags);
  if (status < 0) {
    // Still watched (curl did not give up on the socket): restart the poll libuv
    // stopped, so the socket is not left unwatched.
    auto it = multi->watches_.find(fd);
    if (it != multi->watches_.end() && it->second == w) {
      uv_poll_start(&w->poll, w->events, &CurlMulti::OnPoll);
    }
  }
}

void CurlMulti::OnTimeout(uv_timer_t* handle) {
  static_cast<CurlMulti*>(handle->data)->Action(CURL_SOCKET_TIMEOUT, 0);
}

void CurlMulti::Action(curl_socket_t fd, int flags) {
  // A finished transfer's owner may drop the last other reference to us.
  std::shared_ptr<CurlMulti> keep = shared_from_this();
  int running = 0;
  ++depth_;
  curl_multi_socket_action(multi_, fd, flags, &running);
  --depth_;
  RunDeferred();
  DeliverDone();
}

void CurlMulti::RunDeferred() {
  while (!deferred_.empty()) {
    auto batch = std::move(deferred_);
    deferred_.clear();
    for (auto& [easy, release] : batch) Discard(easy, std::move(release));
  }
}

void CurlMulti::DeliverDone() {
  int left = 0;
  // One message at a time: delivering may discard other transfers, and
  // curl_multi_remove_handle drops their pending messages from the queue.
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    CURLcode code = msg->data.result;
    if (active_.erase(easy) == 0) continue;
    curl_multi_remove_handle(multi_, easy);
    CurlTransfer* transfer = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &transfer);
    if (transfer != nullptr) transfer->OnCurlDone(code);
  }
}

}  // namespace healthgate::probes
