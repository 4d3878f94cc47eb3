// The worker pool of `tracemark serve`: N llama.cpp sessions (each its own context) on
// one shared engine, handed out first come, first served, with a bounded wait queue.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "tracemark/llama/engine.h"

namespace tracemark::cli {

class session_pool {
 public:
  // `queue`: how many requests may wait for a session (0: none wait).
  session_pool(const llama_engine& engine, int32_t workers, int32_t queue, int32_t n_ctx, flash_attention fa);
  session_pool(const session_pool&) = delete;
  session_pool& operator=(const session_pool&) = delete;

  // A session held by one request; returned to the pool when destroyed.
  class lease {
   public:
    lease() = default;
    lease(lease&& o) noexcept : pool_(o.pool_), session_(o.session_) { o.pool_ = nullptr, o.session_ = nullptr; }
    lease& operator=(lease&& o) noexcept;
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease() { release(); }
    llama_session& session() const { return *session_; }
    explicit operator bool() const { return session_ != nullptr; }
    void release() noexcept;

   private:
    friend class session_pool;
    session_pool* pool_ = nullptr;
    llama_session* session_ = nullptr;
  };

  enum class status { ok, queue_full, timeout };
  // Takes a free session, or waits (in arrival order) at most `timeout` for one.
  status acquire(std::chrono::milliseconds timeout, lease& out);

  int32_t workers() const { return static_cast<int32_t>(sessions_.size()); }
  int32_t queue_limit() const { return queue_limit_; }
  int32_t busy() const;
  int32_t waiting() const;

 private:
  struct waiter {
    std::condition_variable cv;
    llama_session* granted = nullptr;
  };
  void give_back(llama_session* s) noexcept;

  std::vector<std::unique_ptr<llama_session>> sessions_;
  int32_t queue_limit_;
  mutable std::mutex mu_;
  std::vector<llama_session*> free_;
  std::deque<waiter*> waiters_;
};

}  // namespace tracemark::cli
