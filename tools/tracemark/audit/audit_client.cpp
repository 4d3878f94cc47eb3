#include "audit/audit_client.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <random>
#include <system_error>
#include <thread>

namespace tracemark::cli {

// ------------------------------------------------------------------ cache

completion_cache::completion_cache(std::string path) : path_(std::move(path)) {
  if (path_.empty()) return;
  std::ifstream in(path_, std::ios::binary);
  if (!in) return;  // no cache yet
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  need_newline_ = !content.empty() && content.back() != '\n';
  size_t pos = 0;
  while (pos < content.size()) {
    size_t end = content.find('\n', pos);
    if (end == std::string::npos) end = content.size();
    const std::string line = content.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    try {
      const nlohmann::json rec = nlohmann::json::parse(line);
      entry e;
      e.text = rec.at("text").get<std::string>();
      if (rec.contains("completion_tokens") && rec["completion_tokens"].is_number_integer())
        e.completion_tokens = rec["completion_tokens"].get<int64_t>();
      if (rec.contains("logprobs") && rec["logprobs"].is_object()) e.logprobs = rec["logprobs"];
      if (rec.contains("prompt_token_ids")) e.prompt_token_ids = rec["prompt_token_ids"].get<std::vector<int32_t>>();
      entries_[rec.at("request").dump()] = std::move(e);
    } catch (const nlohmann::json::exception&) {
      ++ignored_lines_;  // torn or foreign line
    }
  }
}

std::optional<completion_cache::entry> completion_cache::find(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

size_t completion_cache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

void completion_cache::store(const std::string& key, const nlohmann::json& request, const entry& e) {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_[key] = e;
  if (path_.empty()) return;
  nlohmann::json rec;
  rec["request"] = request;
  rec["text"] = e.text;
  rec["completion_tokens"] = e.completion_tokens ? nlohmann::json(*e.completion_tokens) : nlohmann::json(nullptr);
  if (!e.logprobs.is_null()) rec["logprobs"] = e.logprobs;
  if (!e.prompt_token_ids.empty()) rec["prompt_token_ids"] = e.prompt_token_ids;
  std::ofstream out(path_, std::ios::binary | std::ios::app);
  if (need_newline_) out << '\n';
  out << rec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  out.flush();
  if (!out) throw std::runtime_error("cannot append to the cache file " + path_);
  need_newline_ = false;
}

nlohmann::json completion_request(const std::string& base_url, const completion_job& job, const completion_params& p) {
  nlohmann::json r;  // std::map-backed: keys are sorted, so dump() is canonical
  r["url"] = base_url;
  r["prompt"] = job.prompt;
  r["max_tokens"] = p.max_tokens;
  r["temperature"] = p.temperature;
  r["top_p"] = p.top_p;
  r["model"] = p.model;
  r["seed"] = job.seed;
  // Only when asked for, so that the keys of audits without them stay what they were.
  if (p.logprobs >= 0) r["logprobs"] = p.logprobs;
  if (p.return_tokens) r["return_tokens"] = true;
  return r;
}

// ------------------------------------------------------------------ client

namespace {

struct parsed_url {
  std::string scheme_host_port;  // for httplib::Client
  std::string path;              // prefix + "/v1/completions"
};

parsed_url parse_base_url(const std::string& url) {
  const size_t sep = url.find("://");
  if (sep == std::string::npos) throw std::invalid_argument("--suspect-url: expected http://host:port[/prefix], got " + url);
  const std::string scheme = url.substr(0, sep);
  if (scheme != "http" && scheme != "https")
    throw std::invalid_argument("--suspect-url: only http:// and https:// URLs are supported, got " + url);
  const size_t slash = url.find('/', sep + 3);
  parsed_url p;
  p.scheme_host_port = slash == std::string::npos ? url : url.substr(0, slash);
  if (p.scheme_host_port.size() <= sep + 3) throw std::invalid_argument("--suspect-url: no host in " + url);
  std::string prefix = slash == std::string::npos ? "" : url.substr(slash);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  p.path = prefix + "/v1/completions";
  return p;
}

// The server's error message for a failed request, short and on one line.
std::string brief_body(const std::string& body) {
  std::string s;
  try {
    const nlohmann::json j = nlohmann::json::parse(body);
    if (j.contains("error")) {
      const nlohmann::json& e = j["error"];
      s = e.is_object() && e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>()
          : e.is_string()                                                   ? e.get<std::string>()
                                                                             : e.dump();
    }
  } catch (const nlohmann::json::exception&) {
  }
  if (s.empty()) s = body;
  if (s.size() > 200) s = s.substr(0, 200) + "...";
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

bool transient_status(int status) { return status == 408 || status == 429 || (status >= 500 && status <= 599); }

}  // namespace

std::vector<completion_result> fetch_completions(const std::vector<completion_job>& jobs, const completion_params& p,
                                                 const client_options& o, completion_cache& cache, fetch_stats& stats) {
  const parsed_url url = parse_base_url(o.base_url);
  std::vector<completion_result> results(jobs.size());
  std::vector<size_t> pending;
  std::vector<nlohmann::json> requests(jobs.size());
  std::vector<std::string> keys(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    requests[i] = completion_request(o.base_url, jobs[i], p);
    keys[i] = requests[i].dump();
    if (const auto hit = cache.find(keys[i])) {
      results[i] = *hit;
      ++stats.cache_hits;
    } else {
      pending.push_back(i);
    }
  }
  if (pending.empty()) return results;

  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> queries{0}, retries{0};
  std::mutex error_mutex;
  std::string first_error;
  auto fail = [&](const std::string& message) {
    std::lock_guard<std::mutex> lock(error_mutex);
    if (first_error.empty()) first_error = message;
    stop = true;
  };

  auto worker_body = [&](unsigned worker_id) {
    httplib::Client client(url.scheme_host_port);
    const auto sec = static_cast<time_t>(o.timeout_s);
    const auto usec = static_cast<time_t>((o.timeout_s - static_cast<double>(sec)) * 1e6);
    client.set_connection_timeout(sec, usec);
    client.set_read_timeout(sec, usec);
    client.set_write_timeout(sec, usec);
    client.set_keep_alive(true);
    httplib::Headers headers;
    if (!o.api_key.empty()) headers.emplace("Authorization", "Bearer " + o.api_key);
    std::mt19937_64 rng(std::random_device{}() ^ (static_cast<uint64_t>(worker_id) << 32));
    std::uniform_real_distribution<double> jitter(0.5, 1.0);

    while (!stop) {
      const size_t k = next++;
      if (k >= pending.size()) break;
      const size_t i = pending[k];
      nlohmann::json body = {{"prompt", jobs[i].prompt}, {"max_tokens", p.max_tokens}, {"temperature", p.temperature},
                             {"top_p", p.top_p},         {"seed", jobs[i].seed},       {"n", 1},
                             {"stream", false}};
      if (!p.model.empty()) body["model"] = p.model;
      if (p.logprobs >= 0) body["logprobs"] = p.logprobs;
      if (p.return_tokens) body["return_tokens"] = true;
      const std::string payload = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);

      std::string last_problem;
      bool done = false;
      for (int attempt = 1; attempt <= o.max_attempts && !done && !stop; ++attempt) {
        if (attempt > 1) {
          ++retries;
          double delay = std::min(o.backoff_max_s, o.backoff_initial_s * std::pow(2.0, attempt - 2));
          delay *= jitter(rng);
          std::this_thread::sleep_for(std::chrono::duration<double>(delay));
        }
        const httplib::Result res = client.Post(url.path, headers, payload, "application/json");
        if (!res) {
          last_problem = "no response (" + httplib::to_string(res.error()) + ")";
          continue;  // connection refused/reset, timeout: transient
        }
        if (res->status != 200) {
          last_problem = "HTTP " + std::to_string(res->status) + ": " + brief_body(res->body);
          if (transient_status(res->status)) {
            if (res->has_header("Retry-After")) {  // seconds (the HTTP-date form is not honoured)
              const std::string ra = res->get_header_value("Retry-After");
              char* end = nullptr;
              const double s = std::strtod(ra.c_str(), &end);
              if (end != ra.c_str() && s > 0)
                std::this_thread::sleep_for(std::chrono::duration<double>(std::min(s, o.backoff_max_s)));
            }
            continue;
          }
          fail("the suspect refused a request: " + last_problem);  // 4xx: retrying will not help
          break;
        }
        try {
          const nlohmann::json j = nlohmann::json::parse(res->body);
          const nlohmann::json& choice = j.at("choices").at(0);
          completion_result r;
          r.text = choice.at("text").get<std::string>();
          if (j.contains("usage") && j["usage"].is_object() && j["usage"].contains("completion_tokens") &&
              j["usage"]["completion_tokens"].is_number_integer())
            r.completion_tokens = j["usage"]["completion_tokens"].get<int64_t>();
          if (p.logprobs >= 0) {
            if (!choice.contains("logprobs") || !choice["logprobs"].is_object()) {
              fail("the suspect answered without \"logprobs\": it does not return log-probabilities "
                   "(--statistic green-mass needs them)");
              break;
            }
            r.logprobs = choice["logprobs"];
          }
          if (choice.contains("prompt_token_ids") && choice["prompt_token_ids"].is_array())
            r.prompt_token_ids = choice["prompt_token_ids"].get<std::vector<int32_t>>();
          cache.store(keys[i], requests[i], r);
          results[i] = std::move(r);
          ++queries;
          done = true;
        } catch (const nlohmann::json::exception& e) {
          last_problem = std::string("unusable response body (") + e.what() + ")";  // maybe a proxy: retry
        } catch (const std::runtime_error& e) {
          fail(e.what());  // the cache cannot be written
          break;
        }
      }
      if (!done && !stop) fail("a request failed after " + std::to_string(o.max_attempts) + " attempts: " + last_problem);
    }
  };
  auto worker = [&](unsigned worker_id) {
    try {
      worker_body(worker_id);
    } catch (const std::exception& e) {  // out of memory and the like: stop the audit, do not terminate
      fail(std::string("internal error in the HTTP client: ") + e.what());
    }
  };

  const unsigned n_workers =
      static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(std::max(1, o.concurrency)), pending.size())));
  std::vector<std::thread> threads;
  threads.reserve(n_workers);
  for (unsigned w = 0; w < n_workers; ++w) {
    try {
      threads.emplace_back(worker, w);
    } catch (const std::system_error&) {  // no more threads: run with those we have
      break;
    }
  }
  if (threads.empty()) worker(0);
  for (std::thread& t : threads) t.join();
  stats.queries += queries;
  stats.retries += retries;
  if (!first_error.empty()) throw fetch_error(first_error);
  return results;
}

}  // namespace tracemark::cli
