// One libcurl multi handle driven by a libuv loop: curl tells us which sockets to
// watch (CURLMOPT_SOCKETFUNCTION -> uv_poll) and when to wake it
// (CURLMOPT_TIMERFUNCTION -> uv_timer); we call curl_multi_socket_action from those
// libuv callbacks. Nothing here blocks the loop thread.
//
// Thread-safety: every member is used on the loop thread only.
//
// Lifetime: shared by the prober and every transfer that holds an easy handle in
// it, so the multi outlives the last transfer whichever is destroyed first. It
// must be destroyed before the uv loop is closed (its handles are closed
// asynchronously and freed in their close callbacks).
#pragma once

#include <curl/curl.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace healthgate::probes {

// Receives the end of one transfer. Called on the loop thread, outside every curl
// call (so it may add or discard any transfer, including its own), after the easy
// handle has been removed from the multi.
class CurlTransfer {
 public:
  virtual ~CurlTransfer() = default;
  virtual void OnCurlDone(CURLcode code) = 0;
};

class CurlMulti : public std::enable_shared_from_this<CurlMulti> {
 public:
  static std::shared_ptr<CurlMulti> Create(uv_loop_t* loop);
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  // Starts `easy`; `transfer` hears about its end unless it is discarded first.
  // Sets the easy handle's CURLOPT_PRIVATE.
  CURLMcode Add(CURL* easy, CurlTransfer* transfer);

  // Takes `easy` out of the multi if it is still in it, then runs `release` (which
  // typically frees the easy handle and its owner). Safe from anywhere on the
  // loop thread: called from inside a curl callback, the removal and `release` are
  // deferred until curl has returned, because curl_multi_remove_handle must not be
  // called from its own callbacks.
  void Discard(CURL* easy, std::function<void()> release);

  // Whether one of the sockets curl watches for `easy` has completed its TCP
  // connect (curl only reports the connect time once the whole connection,
  // TLS included, is up). For the timeout message.
  bool HasConnectedSocket(CURL* easy) const;

 private:
  struct Watch;  // one uv_poll per socket curl asked us to watch

  explicit CurlMulti(uv_loop_t* loop);
  static int OnSocket(CURL* easy, curl_socket_t fd, int what, void* userp, void* socketp);
  static int OnTimerSet(CURLM* multi, long timeout_ms, void* userp);
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnTimeout(uv_timer_t* handle);
  void CloseWatch(Watch* w);
  // Runs curl, then deferred discards, then finished transfers.
  void Action(curl_socket_t fd, int flags);
  void RunDeferred();
  void DeliverDone();

  uv_loop_t* loop_;
  CURLM* multi_ = nullptr;
  uv_timer_t* timer_;  // freed in its close callback
  std::unordered_map<curl_socket_t, Watch*> watches_;
  std::unordered_set<CURL*> active_;  // easy handles currently in multi_
  int depth_ = 0;                     // > 0 while inside curl_multi_socket_action
  std::vector<std::pair<CURL*, std::function<void()>>> deferred_;
};

}  // namespace healthgate::probes
