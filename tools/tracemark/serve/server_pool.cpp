#include "serve/server_pool.h"

#include <algorithm>

namespace tracemark::cli {

session_pool::session_pool(const llama_engine& engine, int32_t workers, int32_t queue, int32_t n_ctx,
                           flash_attention fa)
    : queue_limit_(queue) {
  for (int32_t i = 0; i < workers; ++i) {
    sessions_.push_back(std::make_unique<llama_session>(engine, n_ctx, /*n_threads=*/1, fa));
    free_.push_back(sessions_.back().get());
  }
}

session_pool::lease& session_pool::lease::operator=(lease&& o) noexcept {
  if (this != &o) {
    release();
    pool_ = o.pool_;
    session_ = o.session_;
    o.pool_ = nullptr;
    o.session_ = nullptr;
  }
  return *this;
}

void session_pool::lease::release() noexcept {
  if (pool_ && session_) pool_->give_back(session_);
  pool_ = nullptr;
  session_ = nullptr;
}

session_pool::status session_pool::acquire(std::chrono::milliseconds timeout, lease& out) {
  out.release();
  std::unique_lock lock(mu_);
  if (!free_.empty() && waiters_.empty()) {
    out.pool_ = this;
    out.session_ = free_.back();
    free_.pop_back();
    return status::ok;
  }
  if (static_cast<int32_t>(waiters_.size()) >= queue_limit_) return status::queue_full;
  waiter w;
  waiters_.push_back(&w);
  const bool granted = w.cv.wait_for(lock, timeout, [&] { return w.granted != nullptr; });
  if (!granted) {
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &w));
    return status::timeout;
  }
  out.pool_ = this;
  out.session_ = w.granted;
  return status::ok;
}

void session_pool::give_back(llama_session* s) noexcept {
  std::lock_guard lock(mu_);
  if (!waiters_.empty()) {
    waiter* w = waiters_.front();
    waiters_.pop_front();
    w->granted = s;
    w->cv.notify_one();  // under the lock: `w` lives on the waiter's stack until it wakes
    return;
  }
  free_.push_back(s);
}

int32_t session_pool::busy() const {
  std::lock_guard lock(mu_);
  return static_cast<int32_t>(sessions_.size() - free_.size());
}

int32_t session_pool::waiting() const {
  std::lock_guard lock(mu_);
  return static_cast<int32_t>(waiters_.size());
}

}  // namespace tracemark::cli
