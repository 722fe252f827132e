#include "sweep/run_spec.h"

#include "common/error.h"
#include "common/task_names.h"
#include "model/builtin_model_names.h"
#include "quant/mix_n_match.h"
#include "quant/precision_label.h"
#include "quant/weight_format.h"
#include "sweep/paper_defaults.h"
#include "sweep/spec_fields.h"
#include "train/objective.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string_view>

namespace matquant::sweep {
namespace {

using nlohmann::json;

// lib/eval's task registry owns the definitions; the sweep only needs the names to reject typos
// before anything runs (it must not link the LibTorch evaluation code).
const std::set<std::string>& kZeroShotTasks = evaluation_task_names();

constexpr std::string_view kBuiltinPrefix = "builtin:";
constexpr int64_t kMaxSequenceTokens = int64_t(1) << 20;

std::string prefix(const std::string& origin) { return origin.empty() ? "" : origin + ": "; }

// A value quoted in a message, cut short: an alias-built value can be megabytes long.
std::string shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 80) text = text.substr(0, 60) + "... (" + std::to_string(text.size()) + " characters)";
  return text;
}

// Integral doubles become integers so 1 and 1.0 give the same canonical text (and run key).
json normalise_number(double value) {
  if (std::isfinite(value) && std::floor(value) == value && std::fabs(value) < 9.0e15) return json(int64_t(value));
  return json(value);
}

bool to_number(const json& in, json& out) {
  if (in.is_number()) {
    out = normalise_number(in.get<double>());
    return true;
  }
  if (!in.is_string()) return false;
  const std::string text = in.get<std::string>();
  // The paper's Table 3 weights include sqrt(2); accept sqrt(X) so YAML can say it exactly.
  if (text.size() > 6 && text.compare(0, 5, "sqrt(") == 0 && text.back() == ')') {
    try {
      size_t used = 0;
      const std::string inner = text.substr(5, text.size() - 6);
      const double x = std::stod(inner, &used);
      if (used != inner.size() || x < 0) return false;
      out = normalise_number(std::sqrt(x));
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }
  return false;
}

// 2^63 is exactly representable; every double below it in magnitude converts without overflow.
bool fits_int64(double v) { return v >= -9223372036854775808.0 && v < 9223372036854775808.0; }

bool to_int(const json& in, json& out) {
  if (in.is_number_integer()) {
    out = in.get<int64_t>();
    return true;
  }
  if (in.is_number_float()) {
    const double v = in.get<double>();
    if (std::floor(v) != v || !fits_int64(v)) return false;
    out = int64_t(v);
    return true;
  }
  return false;
}

bool to_text(const json& in, json& out) {
  if (in.is_string()) {
    out = in;
    return true;
  }
  if (in.is_number_integer()) {
    out = std::to_string(in.get<int64_t>());
    return true;
  }
  if (in.is_number_float()) {
    out = normalise_number(in.get<double>()).dump();
    return true;
  }
  return false;
}

bool coerce_scalar(FieldType type, const json& in, json& out) {
  switch (type) {
    case FieldType::kString:
    case FieldType::kStringList: return to_text(in, out);
    case FieldType::kInt:
    case FieldType::kIntList: return to_int(in, out);
    case FieldType::kNumber:
    case FieldType::kNumberList: return to_number(in, out);
    case FieldType::kBool:
      if (!in.is_boolean()) return false;
      out = in;
      return true;
  }
  return false;
}

bool is_list(FieldType type) {
  return type == FieldType::kIntList || type == FieldType::kNumberList || type == FieldType::kStringList;
}

void set_dotted(json& spec, const std::string& dotted, const json& value) {
  json* node = &spec;
  size_t start = 0;
  for (size_t dot = dotted.find('.'); dot != std::string::npos; dot = dotted.find('.', start)) {
    node = &(*node)[dotted.substr(start, dot - start)];
    start = dot + 1;
  }
  (*node)[dotted.substr(start)] = value;
}

// A precision to evaluate: bf16, r, a per-layer list, or STRATEGY@BITS. Returns "" when valid.
std::string check_precision(const std::string& text, int max_bits) {
  if (quant::is_unquantized(text)) return "";
  if (quant::is_post_training(text)) {
    try {
      quant::parse_weight_format(text.substr(4));
      return "";
    } catch (const Error& e) {
      return e.what();
    }
  }
  try {
    const auto at = text.find('@');
    if (at != std::string::npos) {
      quant::parse_mix_strategy(text.substr(0, at));
      size_t used = 0;
      const std::string bits_text = text.substr(at + 1);
      const double bits = std::stod(bits_text, &used);
      if (used != bits_text.size() || bits < 2 || bits > 8) return "target bits must be a number in [2, 8]";
      if (max_bits < 8) return "Mix'n'Match plans use int8 layers; this run stores only " + std::to_string(max_bits) + " bits";
      return "";
    }
    const auto plan = quant::PrecisionPlan::parse(text);
    std::vector<int> widths = plan.is_uniform() ? std::vector<int>{plan.uniform_bits()} : plan.layers();
    for (int r : widths) {
      if (r > max_bits) return "int" + std::to_string(r) + " cannot be sliced from a " + std::to_string(max_bits) + "-bit checkpoint";
    }
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

struct Completion {
  const FlatSpec& flat;
  const std::string& run_origin;
  std::vector<std::string>& errors;
  json spec = json::object();

  std::string origin_of(const std::string& key) const {
    const auto it = flat.find(key);
    return it == flat.end() ? run_origin : it->second.origin;
  }
  bool given(const std::string& key) const { return flat.count(key) > 0; }
  void fail(const std::string& key, const std::string& message) {
    errors.push_back(prefix(origin_of(key)) + key + ": " + message);
  }
};

}  // namespace

bool coerce_field_value(const std::string& key, SpecValue& value, std::vector<std::string>& errors) {
  const SpecField* field = find_spec_field(key);
  if (field == nullptr) {
    const std::string suggestion = closest_spec_key(key);
    errors.push_back(prefix(value.origin) + key + ": unknown field" +
                     (suggestion.empty() ? "" : " (did you mean '" + suggestion + "'?)"));
    return false;
  }
  const auto bad = [&](const std::string& what) {
    errors.push_back(prefix(value.origin) + key + ": expected " + type_name(field->type) + ", got " + what);
    return false;
  };
  // 99999999999999999999 reads as a double; say it is too large rather than "not an integer".
  const auto out_of_range = [&](const json& item) {
    const bool integer_field = field->type == FieldType::kInt || field->type == FieldType::kIntList;
    if (!integer_field || !item.is_number_float() || fits_int64(item.get<double>())) return false;
    errors.push_back(prefix(value.origin) + key + ": " + shown(item) + " is out of range (integers are at most " +
                     std::to_string(std::numeric_limits<int64_t>::max()) + ")");
    return true;
  };
  if (is_list(field->type)) {
    const json items = value.value.is_array() ? value.value : json::array({value.value});
    json out = json::array();
    for (const auto& item : items) {
      json converted;
      if (out_of_range(item)) return false;
      if (!coerce_scalar(field->type, item, converted)) return bad(shown(item));
      out.push_back(converted);
    }
    value.value = out;
  } else {
    json converted;
    if (out_of_range(value.value)) return false;
    if (value.value.is_array() || value.value.is_object() || !coerce_scalar(field->type, value.value, converted)) {
      return bad(shown(value.value));
    }
    value.value = converted;
  }
  if (!field->choices.empty()) {
    const std::string text = value.value.get<std::string>();
    if (std::find(field->choices.begin(), field->choices.end(), text) == field->choices.end()) {
      std::string list;
      for (const auto& c : field->choices) list += (list.empty() ? "" : ", ") + c;
      errors.push_back(prefix(value.origin) + key + ": '" + text + "' is not one of: " + list);
      return false;
    }
  }
  return true;
}

json complete_spec(const FlatSpec& flat, const std::string& run_origin, std::vector<std::string>& errors) {
  Completion c{flat, run_origin, errors};
  const size_t errors_before = errors.size();
  std::map<std::string, json> values;
  for (const auto& [key, given] : flat) {
    SpecValue copy = given;
    if (coerce_field_value(key, copy, errors)) values[key] = copy.value;
  }
  if (errors.size() != errors_before) return json();
  for (const auto& field : spec_fields()) {
    if (!values.count(field.key) && !field.fallback.is_null()) values[field.key] = field.fallback;
  }

  const std::string base = values["base"].get<std::string>();
  const std::string variant = values["variant"].get<std::string>();
  const bool single = variant == "baseline" || variant == "sp" || variant == "sliced";
  if (!c.given("bits")) {
    if (variant == "baseline" || variant == "sliced") values["bits"] = json::array({8});
    if (variant == "sp") values["bits"] = json::array({2});
  }
  auto bits = values["bits"].get<std::vector<int>>();
  if (variant == "baseline" && !bits.empty()) {
    if (c.given("source_bits") && values["source_bits"].get<int>() != bits[0]) {
      c.fail("source_bits", "a baseline stores its own bits (source_bits must equal bits[0] or be left out)");
    }
    values["source_bits"] = bits[0];
  }
  const int source_bits = values["source_bits"].get<int>();
  if (source_bits < 1 || source_bits > 8) c.fail("source_bits", "must be between 1 and 8");
  if (bits.empty()) c.fail("bits", "must name at least one precision");
  if (single && bits.size() != 1) c.fail("bits", "variant '" + variant + "' trains one precision; give one entry");
  if (variant == "sliced" && !bits.empty() && bits[0] != source_bits) {
    c.fail("bits", "a sliced run is the int" + std::to_string(source_bits) + " baseline: bits must be [" +
                       std::to_string(source_bits) + "]");
  }
  for (int r : bits) {
    if (r < 1 || r > source_bits) c.fail("bits", "int" + std::to_string(r) + " is outside 1.." + std::to_string(source_bits));
  }
  if (std::set<int>(bits.begin(), bits.end()).size() != bits.size()) c.fail("bits", "repeats a precision");

  if (!values.count("lambdas")) {
    values["lambdas"] = json::array();
    for (double l : default_lambdas(variant, bits)) values["lambdas"].push_back(normalise_number(l));
  }
  const auto lambdas = values["lambdas"].get<std::vector<double>>();
  if (lambdas.size() != bits.size()) {
    c.fail("lambdas", "has " + std::to_string(lambdas.size()) + " entries for " + std::to_string(bits.size()) + " bits");
  }
  for (double l : lambdas) {
    if (!(l >= 0)) c.fail("lambdas", "weights must be >= 0");
  }

  const std::string distillation = values["distillation"].get<std::string>();
  if (!distillation.empty()) {
    try {
      std::map<int, double> by_bits;
      for (size_t i = 0; i < bits.size() && i < lambdas.size(); ++i) by_bits[bits[i]] = lambdas[i];
      train::Objective::parse(distillation, by_bits, source_bits);
    } catch (const Error& e) {
      c.fail("distillation", e.what());
    }
    if (single) c.fail("distillation", "needs several precisions; variant '" + variant + "' trains one");
  }

  // Appendix B's settings (paper_defaults.h). The resolved values are written into the spec, so
  // the run key hashes what the run uses and an omitted field keys like the same value written.
  if (!values.count("train.learning_rate")) values["train.learning_rate"] = normalise_number(default_learning_rate(base));
  if (!values.count("train.let_learning_rate")) values["train.let_learning_rate"] = values["train.learning_rate"];
  if (!values.count("train.batch_size")) values["train.batch_size"] = default_batch_size(base);
  if (!values.count("train.let")) values["train.let"] = default_let(base);
  const RunShape shape{base, variant, bits, values["scope"].get<std::string>(), distillation};
  if (!values.count("train.epochs")) values["train.epochs"] = default_epochs(shape);
  if (!values.count("train.steps")) values["train.steps"] = default_steps(shape);
  for (const char* key : {"train.steps", "train.batch_size", "train.seq_len", "train.epochs", "train.samples",
                          "eval.perplexity_samples", "eval.batch_size"}) {
    if (values[key].get<int64_t>() < 1) c.fail(key, "must be at least 1");
  }
  for (const char* key : {"train.warmup_steps", "group_size", "eval.task_limit", "eval.perplexity_seq_len",
                          "eval.max_length", "seed"}) {
    if (values[key].get<int64_t>() < 0) c.fail(key, "must not be negative");
  }
  // Lengths a run allocates per token: past a million tokens nothing fits, and a typo is likelier.
  for (const char* key : {"train.seq_len", "eval.perplexity_seq_len", "eval.max_length"}) {
    if (values[key].get<int64_t>() > kMaxSequenceTokens) c.fail(key, "must be at most " + std::to_string(kMaxSequenceTokens));
  }
  for (const char* key : {"train.learning_rate", "train.let_learning_rate"}) {
    if (!(values[key].get<double>() > 0)) c.fail(key, "must be positive");
  }
  if (values["train.let"].get<bool>() && base != "omniquant") c.fail("train.let", "LET is part of OmniQuant (base: omniquant)");
  if (values["gptq.block_size"].get<int64_t>() < 1) c.fail("gptq.block_size", "must be at least 1");
  if (!(values["gptq.dampening"].get<double>() >= 0)) c.fail("gptq.dampening", "must not be negative");
  const bool post_training = base == "gptq" || base == "rtn";
  if (post_training && !distillation.empty()) {
    c.fail("distillation", base + " has no teacher outputs to distil from (base: qat or omniquant)");
  }
  if (values["gptq.act_order"].get<bool>() && base != "gptq") {
    c.fail("gptq.act_order", "orders GPTQ's columns by the Hessian (base: gptq)");
  }
  if (values["smoothing"].get<std::string>() != "none" && !post_training) {
    c.fail("smoothing", "applies to the post-training bases gptq and rtn (OmniQuant has its own LET: train.let)");
  }
  if (values["format"].get<std::string>() == "mxint") {
    if (!post_training) c.fail("format", "mxint is a post-training grid (base: gptq or rtn)");
    const int64_t block = values["group_size"].get<int64_t>();
    if (block < 1) c.fail("group_size", "format mxint needs the MX block size here (seed 004: 128 or 16)");
    if (variant == "ep") c.fail("format", "Extra-Precision slicing (Eq. 8) is defined for the affine grid; mxint slices by rounding");
    if (source_bits < 2 || std::any_of(bits.begin(), bits.end(), [](int r) { return r < 2; })) {
      c.fail("bits", "MXINT elements have 2 to 8 bits");
    }
    if (values["gptq.act_order"].get<bool>()) {
      c.fail("gptq.act_order", "an MX block's scale comes from its current columns, so they cannot be reordered");
    }
  }
  const std::string activations = values["eval.activations"].get<std::string>();
  if (activations != "none") {
    try {
      quant::parse_weight_format(activations);
    } catch (const Error& e) {
      c.fail("eval.activations", std::string(e.what()) + " (or none)");
    }
  }
  if (values["eval.activation_samples"].get<int64_t>() < 1) c.fail("eval.activation_samples", "must be at least 1");
  const int64_t gpus = values["resources.gpus"].get<int64_t>();
  if (gpus < 1 || gpus > 64) c.fail("resources.gpus", "must be between 1 and 64");
  if (gpus > 1 && base != "qat") c.fail("resources.gpus", "several GPUs train base qat only (OmniQuant calibrates one block at a time)");
  if (values["train.offload_optimizer_state"].get<bool>() && base != "qat") {
    c.fail("train.offload_optimizer_state", "applies to QAT's AdamW (base: qat)");
  }
  if (values["train.activation_checkpointing"].get<bool>() && base != "qat") {
    c.fail("train.activation_checkpointing", "applies to QAT's end-to-end backward (base: qat)");
  }
  if (values["train.activation_checkpointing_policy"].get<std::string>() == "selective") {
    if (!values["train.activation_checkpointing"].get<bool>()) {
      c.fail("train.activation_checkpointing_policy", "selective needs train.activation_checkpointing: true");
    } else if (gpus > 1 || values["train.offload_optimizer_state"].get<bool>()) {
      c.fail("train.activation_checkpointing_policy",
             "selective applies to single-process QAT (the sharded trainer, used by resources.gpus > 1 and "
             "train.offload_optimizer_state, recomputes whole blocks)");
    }
  }
  const std::string model = values["model"].get<std::string>();
  if (model.empty()) c.fail("model", "must not be empty");
  if (model.rfind(kBuiltinPrefix, 0) == 0) {
    const auto& known = model::builtin_model_name_list();
    if (std::find(known.begin(), known.end(), model.substr(kBuiltinPrefix.size())) == known.end()) {
      std::string list;
      for (const auto& name : known) list += (list.empty() ? "" : ", ") + std::string(kBuiltinPrefix) + name;
      c.fail("model", "unknown built-in model '" + model + "' (known: " + list + ")");
    }
  }

  if (!values.count("eval.precisions")) {
    values["eval.precisions"] = variant == "baseline" ? json::array({std::to_string(bits.empty() ? 8 : bits[0])})
                                                      : json::array({"8", "4", "2", "6", "3"});
    if (source_bits < 8 && variant != "baseline") {
      json kept = json::array();
      for (const auto& p : values["eval.precisions"]) {
        if (std::stoi(p.get<std::string>()) <= source_bits) kept.push_back(p);
      }
      values["eval.precisions"] = kept;
    }
  }
  std::set<std::string> seen;
  for (const auto& p : values["eval.precisions"]) {
    const std::string text = p.get<std::string>();
    const std::string problem = check_precision(text, source_bits);
    if (!problem.empty()) c.fail("eval.precisions", "'" + text + "': " + problem);
    if (!seen.insert(text).second) c.fail("eval.precisions", "'" + text + "' is listed twice");
  }
  const auto tasks = values["eval.tasks"].get<std::vector<std::string>>();
  for (const auto& task : tasks) {
    if (!kZeroShotTasks.count(task)) {
      std::string known;
      for (const auto& t : kZeroShotTasks) known += (known.empty() ? "" : ", ") + t;
      c.fail("eval.tasks", "unknown task '" + task + "' (known: " + known + ")");
    }
  }
  std::set<std::string> tasks_with_files;
  for (const auto& entry : values["eval.task_files"].get<std::vector<std::string>>()) {
    const size_t equals = entry.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == entry.size()) {
      c.fail("eval.task_files", "'" + entry + "' is not TASK=PATH");
      continue;
    }
    const std::string task = entry.substr(0, equals);
    if (std::find(tasks.begin(), tasks.end(), task) == tasks.end()) {
      c.fail("eval.task_files", "'" + task + "' is not one of eval.tasks");
    } else if (!tasks_with_files.insert(task).second) {
      c.fail("eval.task_files", "task '" + task + "' is given more than one file");
    }
  }
  std::string without_file;
  for (const auto& task : tasks) {
    if (!tasks_with_files.count(task)) without_file += (without_file.empty() ? "" : ", ") + task;
  }
  if (!without_file.empty() && values["eval.task_dir"].get<std::string>().empty()) {
    c.fail("eval.task_dir", "zero-shot tasks need the directory holding their files (or eval.task_files entries); "
                            "no file for: " + without_file);
  }
  if (errors.size() != errors_before) return json();
  for (const auto& [key, value] : values) set_dotted(c.spec, key, value);
  return c.spec;
}

FlatSpec flatten_json_spec(const json& spec, const std::string& origin, std::vector<std::string>& errors) {
  FlatSpec flat;
  if (!spec.is_object()) {
    errors.push_back(prefix(origin) + "a run spec must be a JSON object");
    return flat;
  }
  std::vector<std::pair<std::string, const json*>> pending;
  for (const auto& [key, value] : spec.items()) pending.emplace_back(key, &value);
  while (!pending.empty()) {
    const auto [key, value] = pending.back();
    pending.pop_back();
    if (value->is_object() && is_spec_section(key)) {
      for (const auto& [child, child_value] : value->items()) pending.emplace_back(key + "." + child, &child_value);
    } else {
      flat[key] = {*value, origin};
    }
  }
  return flat;
}

const json& spec_at(const json& spec, const std::string& dotted) {
  static const json kNull;
  const json* node = &spec;
  size_t start = 0;
  while (true) {
    const size_t dot = dotted.find('.', start);
    const std::string key = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!node->is_object() || !node->contains(key)) return kNull;
    node = &(*node)[key];
    if (dot == std::string::npos) return *node;
    start = dot + 1;
  }
}

}  // namespace matquant::sweep
