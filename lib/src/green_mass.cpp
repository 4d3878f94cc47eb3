// The green-mass test (green_mass.h): a Chernoff bound with the exact moment generating
// function of a weighted sum of independent Bernoulli(gamma) variables, minimised over the
// tilt by a safeguarded Newton iteration on a convex function.
#include "tracemark/green_mass.h"

#include <cmath>
#include <limits>

#include "tracemark/error.h"

namespace tracemark {

namespace {

void check_gamma(double gamma) {
  if (!(gamma > 0.0 && gamma < 1.0)) throw error(errc::invalid_argument, "green mass: gamma must lie in (0, 1)");
}

// The Chernoff exponent for weights w_i >= 0 and a threshold s, with T = sum w_i and
// slack = T - s:
//
//   F(lambda) = -lambda s + sum_i ln(1 - gamma + gamma e^{lambda w_i})
//             = lambda slack + sum_i ln(gamma + (1 - gamma) e^{-lambda w_i}),
//
// the second form having no overflow and no cancellation at large lambda (slack is passed
// in, so a caller that knows it exactly, as the sum of the red weights, loses nothing).
// F is convex, F(0) = 0, F'(0) = slack - (1 - gamma) T = gamma T - s.
template <class Weight>
class chernoff_exponent {
 public:
  chernoff_exponent(size_t n, Weight weight, double gamma, double slack)
      : n_(n), weight_(weight), gamma_(gamma), slack_(slack) {}

  double value(double lambda) const {
    double f = lambda * slack_;
    for (size_t i = 0; i < n_; ++i) f += std::log1p((1.0 - gamma_) * std::expm1(-lambda * weight_(i)));
    return f;
  }
  // F'(lambda) and F''(lambda).
  void derivatives(double lambda, double& d1, double& d2) const {
    d1 = slack_;
    d2 = 0.0;
    for (size_t i = 0; i < n_; ++i) {
      const double w = weight_(i);
      const double e = (1.0 - gamma_) * std::exp(-lambda * w);
      const double r = e / (gamma_ + e);  // the tilted probability of "red" for this term
      d1 -= w * r;
      d2 += w * w * r * (1.0 - r);
    }
  }

  // min over lambda >= 0 of F, and the minimiser. Any lambda >= 0 gives a valid bound, so
  // stopping early only makes the bound looser.
  double minimum(double& lambda_out) const {
    lambda_out = 0.0;
    if (slack_ < 0.0) return -std::numeric_limits<double>::infinity();  // s beyond the largest sum
    double d1 = 0.0, d2 = 0.0;
    derivatives(0.0, d1, d2);
    if (d1 >= 0.0) return 0.0;  // s <= E[S]: the bound is trivial
    if (slack_ == 0.0) {        // every term green: the infimum is at lambda -> infinity
      double f = 0.0;
      for (size_t i = 0; i < n_; ++i)
        if (weight_(i) > 0.0) f += std::log(gamma_);
      lambda_out = std::numeric_limits<double>::infinity();
      return f;
    }
    // Bracket the root of F' (F' rises from F'(0) < 0 towards slack > 0).
    double lo = 0.0, hi = 1.0;
    for (int k = 0; k < 1000; ++k) {
      derivatives(hi, d1, d2);
      if (d1 >= 0.0) break;
      lo = hi;
      hi *= 2.0;
      if (!(hi < 1e300)) break;
    }
    if (d1 < 0.0) {  // no sign change found: the bound at the last point is still valid
      lambda_out = hi;
      return std::min(0.0, value(hi));
    }
    double lambda = 0.5 * (lo + hi);
    for (int k = 0; k < 200; ++k) {
      derivatives(lambda, d1, d2);
      if (d1 < 0.0) lo = lambda;
      else hi = lambda;
      if (d1 == 0.0 || hi - lo <= 1e-14 * hi) break;
      double next = d2 > 0.0 ? lambda - d1 / d2 : 0.5 * (lo + hi);
      if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
      if (std::fabs(next - lambda) <= 1e-15 * lambda) break;
      lambda = next;
    }
    lambda_out = lambda;
    return std::min(0.0, value(lambda));
  }

 private:
  size_t n_;
  Weight weight_;
  double gamma_, slack_;
};

template <class Weight>
chernoff_exponent<Weight> make_exponent(size_t n, Weight w, double gamma, double slack) {
  return chernoff_exponent<Weight>(n, w, gamma, slack);
}

}  // namespace

double chernoff_ln_tail_bound(std::span<const double> weights, double gamma, double s) {
  check_gamma(gamma);
  double total = 0.0;
  for (double w : weights) {
    if (!(w >= 0.0 && std::isfinite(w))) throw error(errc::invalid_argument, "green mass: weights must be finite and >= 0");
    total += w;
  }
  double lambda = 0.0;
  return make_exponent(weights.size(), [&](size_t i) { return weights[i]; }, gamma, total - s).minimum(lambda);
}

green_mass_test::green_mass_test(double gamma) : gamma_(gamma) { check_gamma(gamma); }

void green_mass_test::add(double p, bool green) {
  if (!(p >= 0.0 && p <= 1.0)) throw error(errc::invalid_argument, "green mass: a probability must lie in [0, 1]");
  if (p > 0.0) terms_.push_back(green ? p : -p);  // a zero term changes neither S nor its law
}

green_mass_result green_mass_test::result(size_t n_terms, int64_t n_contexts) const {
  if (n_terms > terms_.size()) throw error(errc::invalid_argument, "green mass: more terms asked for than added");
  green_mass_result r;
  r.contexts = n_contexts;
  r.terms = static_cast<int64_t>(n_terms);
  double red = 0.0, squares = 0.0;
  for (size_t i = 0; i < n_terms; ++i) {
    const double t = terms_[i];
    if (t > 0.0) r.green_mass += t;
    else red -= t;
    squares += t * t;
  }
  r.mass = r.green_mass + red;
  r.expected = gamma_ * r.mass;
  r.variance = gamma_ * (1.0 - gamma_) * squares;
  r.z = r.variance > 0.0 ? (r.green_mass - r.expected) / std::sqrt(r.variance) : 0.0;
  const double* t = terms_.data();
  const double ln_p = make_exponent(n_terms, [t](size_t i) { return std::fabs(t[i]); }, gamma_, red).minimum(r.lambda);
  r.log10_p = ln_p / std::log(10.0);
  return r;
}

}  // namespace tracemark
