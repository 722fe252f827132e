#include "train/objective.h"

#include "common/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace matquant::train {

namespace {

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

[[noreturn]] void fail(const std::string& text, const std::string& message) {
  throw_invalid(fmt::format("distillation config '{}': {}", text, message));
}

int parse_bits(const std::string& text, const std::string& token, int source_bits) {
  const std::string t = trim(token);
  if (t.empty() || !std::all_of(t.begin(), t.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    fail(text, fmt::format("'{}' is not a bit width", t));
  }
  const int bits = std::stoi(t);
  if (bits < 1 || bits > source_bits) {
    fail(text, fmt::format("bit width {} is outside 1..{}", bits, source_bits));
  }
  return bits;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return parts;
}

}  // namespace

Objective Objective::plain(const std::vector<int>& bits, const std::vector<double>& lambdas) {
  if (bits.empty()) throw_invalid("the set of trained precisions R is empty");
  if (!lambdas.empty() && lambdas.size() != bits.size()) {
    throw_invalid(fmt::format("{} lambda weights for {} precisions", lambdas.size(), bits.size()));
  }
  Objective objective;
  std::set<int> seen;
  for (size_t i = 0; i < bits.size(); ++i) {
    if (!seen.insert(bits[i]).second) throw_invalid(fmt::format("precision {} is listed twice", bits[i]));
    PrecisionTarget target;
    target.bits = bits[i];
    target.lambda = lambdas.empty() ? 1.0 : lambdas[i];
    if (target.lambda < 0.0) throw_invalid(fmt::format("lambda for {} bits is negative", bits[i]));
    objective.targets_.push_back(target);
  }
  return objective;
}

Objective Objective::parse(const std::string& text, const std::map<int, double>& lambdas,
                           int source_bits) {
  std::string body = trim(text);
  if (!body.empty() && body.front() == '[') {
    if (body.back() != ']') fail(text, "missing closing ']'");
    body = body.substr(1, body.size() - 2);
  }
  if (trim(body).empty()) fail(text, "no precisions listed");
  std::vector<int> order;
  std::map<int, PrecisionTarget> targets;
  auto entry = [&](int bits) -> PrecisionTarget& {
    auto it = targets.find(bits);
    if (it == targets.end()) {
      PrecisionTarget t;
      t.bits = bits;
      t.ground_truth = false;
      auto l = lambdas.find(bits);
      t.lambda = l == lambdas.end() ? 1.0 : l->second;
      it = targets.emplace(bits, t).first;
      order.push_back(bits);
    }
    return it->second;
  };
  std::vector<std::pair<int, int>> arrows;  // teacher, student
  for (const std::string& raw : split(body, ',')) {
    const std::string item = trim(raw);
    if (item.empty()) fail(text, "empty entry between commas");
    const size_t arrow = item.find("->");
    if (arrow == std::string::npos) {
      PrecisionTarget& t = entry(parse_bits(text, item, source_bits));
      if (t.ground_truth) fail(text, fmt::format("precision {} is listed twice", t.bits));
      t.ground_truth = true;
      continue;
    }
    const int teacher = parse_bits(text, item.substr(0, arrow), source_bits);
    const std::string right = item.substr(arrow + 2);
    if (right.find("->") != std::string::npos) fail(text, fmt::format("'{}' chains arrows", item));
    for (const std::string& student_text : split(right, ';')) {
      arrows.emplace_back(teacher, parse_bits(text, student_text, source_bits));
    }
  }
  for (const auto& [teacher, student] : arrows) {
    if (teacher <= student) {
      fail(text, fmt::format("{}->{}: the teacher must have more bits than the student", teacher, student));
    }
    PrecisionTarget& s = entry(student);
    if (s.teacher) fail(text, fmt::format("precision {} has two teachers", student));
    s.teacher = teacher;
  }
  for (const auto& [teacher, student] : arrows) {
    if (!targets.count(teacher) || !targets.at(teacher).ground_truth) {
      fail(text, fmt::format("teacher {} is not itself trained on the ground truth (list it as a plain "
                             "precision)", teacher));
    }
  }
  for (const auto& [bits, lambda] : lambdas) {
    if (!targets.count(bits)) fail(text, fmt::format("a lambda is given for {} bits, which is not trained", bits));
  }
  Objective objective;
  // Teachers first: plain (ground-truth-only) precisions keep their listed order, students follow.
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return !targets.at(a).teacher && targets.at(b).teacher;
  });
  for (int bits : order) objective.targets_.push_back(targets.at(bits));
  return objective;
}

std::vector<int> Objective::bits() const {
  std::vector<int> out;
  for (const auto& t : targets_) out.push_back(t.bits);
  return out;
}

bool Objective::uses_distillation() const {
  return std::any_of(targets_.begin(), targets_.end(), [](const auto& t) { return t.teacher.has_value(); });
}

std::string Objective::to_string() const {
  std::vector<std::string> items;
  std::map<int, std::vector<int>> students;
  for (const auto& t : targets_) {
    if (t.ground_truth) items.push_back(std::to_string(t.bits));
    if (t.teacher) students[*t.teacher].push_back(t.bits);
  }
  for (const auto& [teacher, list] : students) {
    std::vector<std::string> names;
    for (int s : list) names.push_back(std::to_string(s));
    items.push_back(fmt::format("{}->{}", teacher, fmt::join(names, ";")));
  }
  return fmt::format("[{}]", fmt::join(items, ", "));
}

}  // namespace matquant::train
