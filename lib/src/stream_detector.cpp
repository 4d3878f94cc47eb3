// stream_detector (stream_detector.h): each piece is scored by the loop of §6.1
// (score_loop.h) behind the carried context, whose positions are skipped.
#include "tracemark/stream_detector.h"

#include "score_loop.h"
#include "tracemark/error.h"

namespace tracemark {

stream_detector::stream_detector(scheme s, detect_options options) : scheme_(std::move(s)), options_(options) {
  reset();
}

void stream_detector::reset() {
  seen_.clear();
  context_.clear();
  position_ = n_prompt_ = 0;
  body_started_ = false;
  d_ = detection{};
  stat_ = test_statistic{};
  scores_.clear();
  positions_.clear();
}

void stream_detector::push_context(std::span<const int32_t> tokens) {
  const auto h = static_cast<size_t>(scheme_.context_width());
  if (h == 0) return;
  context_.insert(context_.end(), tokens.size() > h ? tokens.end() - static_cast<ptrdiff_t>(h) : tokens.begin(),
                  tokens.end());
  if (context_.size() > h) context_.erase(context_.begin(), context_.end() - static_cast<ptrdiff_t>(h));
}

void stream_detector::add_prompt(std::span<const int32_t> tokens) {
  if (tokens.empty()) return;
  if (body_started_) throw error(errc::invalid_argument, "stream_detector: prompt tokens after the document's text");
  if (options_.keep_trace) d_.trace.insert(d_.trace.end(), tokens.size(), token_mark::prompt);
  const auto n = static_cast<int64_t>(tokens.size());
  d_.n_prompt += n;
  d_.n_tokens += n;
  n_prompt_ += n;
  position_ += n;
  push_context(tokens);
}

void stream_detector::add(std::span<const int32_t> tokens) {
  if (tokens.empty()) return;
  body_started_ = true;
  // Context first: its positions (already counted) are "prompt" to the loop and skipped.
  buffer_.assign(context_.begin(), context_.end());
  buffer_.insert(buffer_.end(), tokens.begin(), tokens.end());
  const auto n_context = static_cast<int64_t>(context_.size());
  const int64_t offset = position_ - n_context;  // document position of buffer_[0]
  detail::score_tokens(scheme_.impl(), buffer_, n_context, options_.dedup, seen_,
                       [&](int64_t i, token_mark mark, double score) {
                         if (i < n_context) return;
                         switch (mark) {
                           case token_mark::green:
                           case token_mark::red:
                             stat_.add(score);
                             if (options_.min_window > 0) {
                               scores_.push_back(score);
                               positions_.push_back(offset + i);
                             }
                             break;
                           case token_mark::repeat: ++d_.n_repeat; break;
                           case token_mark::no_context: ++d_.n_no_context; break;
                           case token_mark::prompt: break;  // not reached: only context positions are prompt here
                         }
                         if (options_.keep_trace) d_.trace.push_back(mark);
                       });
  d_.n_tokens += static_cast<int64_t>(tokens.size());
  position_ += static_cast<int64_t>(tokens.size());
  push_context(tokens);
}

detection stream_detector::finish() const {
  detection d = d_;
  d.test = scheme_.null().test(stat_);
  if (options_.min_window > 0) d.window = best_window(scores_, positions_, scheme_.null(), options_.min_window);
  return d;
}

}  // namespace tracemark
