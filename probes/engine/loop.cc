#include "probes/engine/loop.h"

#include <algorithm>
#include <stdexcept>

namespace healthgate::probes {

Loop::Loop(const Clock& clock) : clock_(clock) {
  if (uv_loop_init(&loop_) != 0) throw std::runtime_error("uv_loop_init failed");
  loop_.data = this;
  uv_async_init(&loop_, &async_, &Loop::OnAsync);
  async_.data = this;
  uv_timer_init(&loop_, &heartbeat_);
  heartbeat_.data = this;
  uv_timer_start(&heartbeat_, &Loop::OnHeartbeat, 0, 250);
  // The referenced async handle keeps the loop running until Stop(), in both
  // Start() and RunHere(); the heartbeat never keeps it alive on its own.
  uv_unref(reinterpret_cast<uv_handle_t*>(&heartbeat_));
  heartbeat_ns_ = clock_.Now().time_since_epoch().count();
}

Loop::~Loop() {
  Stop();
  CloseAll();
  // Let every close callback run, then free the loop.
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

void Loop::CloseAll() {
  if (closed_) return;
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&heartbeat_), nullptr);
}

void Loop::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    posted_.push_back(std::move(fn));
  }
  uv_async_send(&async_);
}

void Loop::OnAsync(uv_async_t* handle) { static_cast<Loop*>(handle->data)->Drain(); }

void Loop::Drain() {
  std::vector<std::function<void()>> batch;
  bool stop;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(posted_);
    stop = stopping_;
  }
  for (auto& fn : batch) fn();
  if (stop) uv_stop(&loop_);
}

void Loop::OnHeartbeat(uv_timer_t* handle) {
  auto* self = static_cast<Loop*>(handle->data);
  self->heartbeat_ns_ = self->clock_.Now().time_since_epoch().count();
}

void Loop::Start() {
  thread_ = std::thread([this] {
    thread_id_ = std::this_thread::get_id();
    uv_run(&loop_, UV_RUN_DEFAULT);
  });
}

void Loop::RunHere() {
  thread_id_ = std::this_thread::get_id();
  uv_run(&loop_, UV_RUN_DEFAULT);
}

void Loop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  if (!closed_) uv_async_send(&async_);
  if (thread_.joinable()) thread_.join();
}

UvTimers::UvTimers(Loop& loop) : loop_(loop), timer_(new uv_timer_t) {
  uv_timer_init(loop_.raw(), timer_);
  timer_->data = this;
}

UvTimers::~UvTimers() {
  uv_close(reinterpret_cast<uv_handle_t*>(timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

TimerId UvTimers::Arm(MonoTime at, std::function<void()> fn) {
  TimerId id = q_.Add(at, std::move(fn));
  if (!firing_) Rearm();
  return id;
}

void UvTimers::Cancel(TimerId id) {
  q_.Remove(id);
  // A cancelled head only costs one early wake-up: Rearm lazily on the next fire.
}

void UvTimers::OnTimer(uv_timer_t* handle) {
  auto* self = static_cast<UvTimers*>(handle->data);
  self->firing_ = true;
  uv_update_time(self->loop_.raw());
  const MonoTime now = self->loop_.clock().Now();
  MonoTime due;
  if (!self->q_.Next(&due)) due = MonoTime::max();
  const MonoTime expected = std::min(due, self->wake_at_);
  if (expected != MonoTime::max()) self->meter_.OnFire(expected, now);
  self->q_.RunDue(now);
  self->firing_ = false;
  self->Rearm();
}

void UvTimers::Rearm() {
  MonoTime at;
  if (!q_.Next(&at)) {
    uv_timer_stop(timer_);
    wake_at_ = MonoTime::max();
    return;
  }
  const MonoTime now = loop_.clock().Now();
  auto delta = at - now;
  // Round up so a timer never fires before its deadline.
  std::int64_t ms = delta.count() <= 0 ? 0 : (delta.count() + 999'999) / 1'000'000;
  ms = std::min(ms, kWatchMs);
  wake_at_ = now + std::chrono::milliseconds(ms);
  uv_timer_start(timer_, &UvTimers::OnTimer, static_cast<std::uint64_t>(ms), 0);
}

}  // namespace healthgate::probes
