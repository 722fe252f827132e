#include "jobs/jobs.h"

#include "common/error.h"
#include "common/error_context.h"
#include "data/token_batches.h"
#include "distributed/communicator.h"
#include "eval/perplexity.h"
#include "eval/perplexity_windows.h"
#include "eval/zero_shot_spec.h"
#include "jobs/activation_calibration.h"
#include "jobs/model_source.h"
#include "jobs/weight_metrics.h"
#include "model/pretrained.h"
#include "model/tokenizer.h"
#include "quant/mix_n_match.h"
#include "quant/mx_format.h"
#include "quant/weight_format.h"
#include "train/pretraining.h"
#include "quant/precision_label.h"
#include "train/nested_checkpoint.h"
#include "train/gptq_calibration.h"
#include "train/omniquant_trainer.h"
#include "sweep/memory_estimate.h"
#include "train/qat_trainer.h"

#include <fmt/format.h>

#include <chrono>
#include <boost/filesystem.hpp>

namespace matquant::jobs {

namespace {

namespace fs = boost::filesystem;

template <typename T>
T get(const nlohmann::json& spec, const std::string& dotted, T fallback) {
  const nlohmann::json* node = &spec;
  size_t start = 0;
  while (true) {
    const size_t dot = dotted.find('.', start);
    const std::string key = dotted.substr(start, dot - start);
    if (!node->is_object() || !node->contains(key)) return fallback;
    node = &(*node)[key];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return node->is_null() ? fallback : node->get<T>();
}

// Training settings whose defaults depend on other fields (lib/sweep/paper_defaults: Appendix B's
// budgets, learning rates, lambdas, LET) are always filled in by the run-spec table before a job
// runs (sweeps, `matquant train`, `matquant eval`); a second set of fallbacks here would drift.
template <typename T>
T resolved(const nlohmann::json& spec, const std::string& dotted) {
  const nlohmann::json missing = nullptr;
  const nlohmann::json value = get<nlohmann::json>(spec, dotted, missing);
  if (value.is_null()) throw Error(ErrorCode::kInternal, "run spec reached a job without '" + dotted + "' resolved");
  return value.get<T>();
}

at::Tensor tokenized_sequences(const std::string& model_dir, const std::string& source, const std::string& split,
                               int64_t seq_len, int64_t max_sequences) {
  const auto tokenizer = model::Tokenizer::load_for_model(model_dir);
  const auto documents = resolve_documents(source, split);
  std::vector<std::vector<int64_t>> tokens;
  // Encode only what the packed rows can use (BOS/EOS add 2 per document): a large corpus would
  // otherwise be tokenized in full by every job that needs a few thousand sequences of it.
  const int64_t needed = max_sequences < 0 ? -1 : max_sequences * (seq_len + 1);
  int64_t encoded = 0;
  for (const auto& d : documents) {
    tokens.push_back(tokenizer.encode(d, false));
    encoded += int64_t(tokens.back().size()) + 2;
    if (needed >= 0 && encoded >= needed) break;
  }
  data::PackOptions pack;
  pack.seq_len = seq_len;
  pack.bos_id = tokenizer.bos_id();
  pack.eos_id = tokenizer.eos_id();
  pack.max_sequences = max_sequences;
  return data::pack_sequences(tokens, pack);
}

void log_line(const JobContext& context, const std::string& line) {
  if (context.log) context.log(line);
}

// Rounds the projections in `scope` to `format` in place (RTN) and returns the weights rows
// (lib/jobs/weight_metrics.h): INT through the MinMax code store served at its full width (so the
// codes are counted as a checkpoint's are), MXINT by replacing each weight with its MX value.
std::vector<MetricRow> round_to_format(model::DecoderModel& net, model::QuantScope scope,
                                       const quant::WeightFormat& format, int64_t group_size, const std::string& label) {
  if (format.kind == quant::WeightFormat::Kind::kInt) {
    model::QuantizerConfig quantizer;
    quantizer.source_bits = format.bits;
    quantizer.group_size = group_size;
    net->enable_quantization(scope, quantizer);
    for (auto& [name, layer, linear] : net->quantized_linears()) linear->freeze_codes();
    net->set_precision(quant::PrecisionPlan::uniform(format.bits));
    return weight_metrics(net, label);
  }
  net->enable_quantization(scope, {});
  double quantized = 0;
  const quant::MxFormat mx{format.bits, format.block_size};
  c10::NoGradGuard no_grad;
  for (auto& [name, layer, linear] : net->quantized_linears()) {
    linear->weight.set_data(quant::mx_fake_quantize(linear->weight, mx));
    quantized += double(linear->weight.numel());
  }
  net->set_precision(std::nullopt);  // the rounded weights are served as they are
  return {{label, "weights", "parameters", double(train::parameter_count(net))},
          {label, "weights", "quantized_parameters", quantized},
          {label, "weights", "effective_bits", format.bits_per_weight()}};
}

// Appends `rows` to the outcome and hands them on as soon as they are measured.
void add_metrics(JobOutcome& outcome, std::vector<MetricRow> rows, const JobContext& context) {
  if (context.on_metrics) context.on_metrics(rows);
  for (auto& row : rows) outcome.metrics.push_back(std::move(row));
}

}  // namespace

std::string precision_label(const std::string& precision, bool extra_precision) {
  return quant::precision_label(precision, extra_precision);
}

JobOutcome run_train_job(const nlohmann::json& spec, const std::string& checkpoint_path,
                         const std::string& state_dir, const JobContext& context) {
  const auto start = std::chrono::steady_clock::now();
  const auto& communicator = context.communicator;
  const bool sharded = communicator && communicator->world_size() > 1;
  const bool writes_checkpoint = !communicator || communicator->rank() == 0;
  // A built-in model is made once, by rank 0; the other ranks then find it in the cache.
  if (sharded && !writes_checkpoint) communicator->barrier();
  const std::string model_dir = resolve_model(get<std::string>(spec, "model", "builtin:tiny-llama"), context.cache_dir, context.device);
  if (sharded && writes_checkpoint) communicator->barrier();
  const std::string base = get<std::string>(spec, "base", "qat");
  const std::string variant = get<std::string>(spec, "variant", "matquant");
  const auto bits = get<std::vector<int>>(spec, "bits", {8, 4, 2});
  const auto lambdas = resolved<std::vector<double>>(spec, "lambdas");
  const std::string distillation = get<std::string>(spec, "distillation", "");
  const int64_t seq_len = get<int64_t>(spec, "train.seq_len", 128);
  const uint64_t seed = get<uint64_t>(spec, "seed", 0);
  const at::Device device(context.device);
  // Each option belongs to one base; asking for it with the other is a mistake, not a no-op.
  const bool let = resolved<bool>(spec, "train.let");
  const bool activation_checkpointing = get<bool>(spec, "train.activation_checkpointing", false);
  const bool offload = get<bool>(spec, "train.offload_optimizer_state", false);
  const bool cuda_graph = get<bool>(spec, "train.cuda_graph", true);
  if ((base == "gptq" || base == "rtn") && !distillation.empty()) throw_invalid(base + " has no teacher outputs to distil from");
  if (let && base != "omniquant") throw_invalid("train.let (OmniQuant's equivalent transformation) needs base omniquant");
  if (sharded && base != "qat") {
    throw_invalid("several processes (--nproc, resources.gpus) train base qat only; OmniQuant calibrates one block "
                  "at a time on one device");
  }
  if (activation_checkpointing && base != "qat") {
    throw_invalid("train.activation_checkpointing applies to base qat (OmniQuant trains one block at a time)");
  }

  model::QuantizerConfig quantizer;
  const bool baseline = variant == "baseline" || variant == "sliced";
  quantizer.source_bits = baseline ? bits.at(0) : get<int>(spec, "source_bits", 8);
  quantizer.group_size = get<int64_t>(spec, "group_size", 0);
  if (get<std::string>(spec, "format", "int") == "mxint") {
    // group_size names the MX block; a dimension not divisible by it ends in a shorter block.
    if (base != "gptq" && base != "rtn") throw_invalid("format mxint applies to the post-training bases gptq and rtn");
    quantizer.mx_block_size = quantizer.group_size;
    quantizer.group_size = 0;
  }
  quantizer.learnable_clipping = base == "omniquant";
  quantizer.slice_mode = variant == "ep" ? quant::SliceMode::kExtraPrecision : quant::SliceMode::kClamped;
  std::map<int, double> lambda_by_bits;
  for (size_t i = 0; i < bits.size(); ++i) lambda_by_bits[bits[i]] = lambdas.at(i);
  const train::Objective objective = distillation.empty()
                                         ? train::Objective::plain(bits, lambdas)
                                         : train::Objective::parse(distillation, lambda_by_bits, quantizer.source_bits);

  // Sharded (or offloaded), the full model is read on the host and only each rank's shards go to
  // its device.
  const bool host_first = (sharded || offload) && device.is_cuda();
  auto net = model::load_pretrained(model_dir, {at::kFloat, host_first ? at::Device(at::kCPU) : device});
  net->enable_quantization(model::parse_quant_scope(get<std::string>(spec, "scope", "ffn")), quantizer);
  JobOutcome outcome;
  nlohmann::json summary;
  if (base == "qat") {
    // Out of memory says what the run was estimated to need (sweep plan printed the same figure).
    const auto estimate = sweep::estimate_qat_memory(sweep::model_shape_from_config(net->config().raw), spec);
    const ErrorContext need(fmt::format("training with QAT (estimated peak {:.1f} GiB per GPU, docs/training.md "
                                        "\"Memory\")",
                                        estimate.bytes / double(1ull << 30)));
    // One pass over steps x batch distinct sequences at most (the trainer wraps around if fewer).
    const int64_t wanted = resolved<int64_t>(spec, "train.steps") * resolved<int64_t>(spec, "train.batch_size");
    const at::Tensor sequences = tokenized_sequences(model_dir, get<std::string>(spec, "data.train", "synthetic"),
                                                     "train", seq_len, wanted);
    train::QatConfig config;
    config.objective = objective;
    config.schedule.peak = resolved<double>(spec, "train.learning_rate");
    config.schedule.warmup_steps = resolved<int64_t>(spec, "train.warmup_steps");
    config.schedule.total_steps = resolved<int64_t>(spec, "train.steps");
    config.batch_size = resolved<int64_t>(spec, "train.batch_size");
    config.seed = seed;
    config.state_dir = state_dir;
    config.save_every = 50;
    config.activation_checkpointing = activation_checkpointing;
    config.selective_checkpointing =
        activation_checkpointing && get<std::string>(spec, "train.activation_checkpointing_policy", "full") == "selective";
    config.cuda_graph = cuda_graph;
    if (sharded) config.communicator = communicator;
    if (host_first) config.shard_device = device;
    config.offload_optimizer_state = offload && device.is_cuda();
    config.on_step = [&](const train::StepReport& r) {
      if (r.step % 20 != 0 && r.step != r.total_steps) return;
      std::string losses;
      for (const auto& [b, l] : r.loss_by_bits) losses += fmt::format(" int{}={:.3f}", b, l);
      const double eta = r.seconds / double(r.step) * double(r.total_steps - r.step);
      log_line(context, fmt::format("step {}/{} lr {:.2e}{} | {:.0f} tok/s | ETA {:.0f} s", r.step, r.total_steps,
                                    r.learning_rate, losses, r.tokens_seen / std::max(r.seconds, 1e-9), eta));
    };
    const auto result = train::train_qat(net, sequences, config);
    if (result.diverged) outcome.status = "diverged";
    if (!result.curve.empty()) {
      for (const auto& [b, l] : result.curve.back().loss_by_bits) {
        outcome.metrics.push_back({"int" + std::to_string(b), "train", "train_loss", l});
      }
    }
    outcome.timings["tokens"] = result.tokens;
    outcome.timings["tokens_per_s"] = result.tokens / std::max(result.seconds, 1e-9);
    summary = {{"steps", result.steps}, {"tokens", result.tokens}, {"resumed", result.resumed}};
  } else if (base == "omniquant") {
    const int64_t samples = resolved<int64_t>(spec, "train.samples");
    const at::Tensor calibration = tokenized_sequences(model_dir, get<std::string>(spec, "data.train", "synthetic"),
                                                       "train", seq_len, samples).slice(1, 0, -1);
    train::OmniQuantConfig config;
    config.objective = objective;
    config.epochs = resolved<int64_t>(spec, "train.epochs");
    config.batch_size = resolved<int64_t>(spec, "train.batch_size");
    config.clipping_learning_rate = resolved<double>(spec, "train.learning_rate");
    config.learnable_equivalent_transformation = let;
    config.let_learning_rate = resolved<double>(spec, "train.let_learning_rate");
    config.on_block = [&](const train::BlockReport& r) {
      std::string losses;
      for (const auto& [b, l] : r.loss_by_bits) losses += fmt::format(" int{}={:.3g}", b, l);
      log_line(context, fmt::format("block {}/{}{} ({:.1f} s)", r.layer + 1, r.layers, losses, r.seconds));
    };
    const auto result = train::calibrate_omniquant(net, calibration, config, device);
    if (result.diverged) outcome.status = "diverged";
    if (!result.blocks.empty()) {
      for (const auto& [b, l] : result.blocks.back().loss_by_bits) {
        outcome.metrics.push_back({"int" + std::to_string(b), "train", "block_loss", l});
      }
    }
    outcome.timings["tokens"] = calibration.numel() * config.epochs;
    summary = {{"blocks", result.blocks.size()}, {"epochs", config.epochs}};
  } else if (base == "gptq" || base == "rtn") {
    const int64_t samples = resolved<int64_t>(spec, "train.samples");
    const at::Tensor calibration = tokenized_sequences(model_dir, get<std::string>(spec, "data.train", "synthetic"),
                                                       "train", seq_len, samples).slice(1, 0, -1);
    train::GptqCalibrationConfig config;
    config.bits = bits;
    config.lambdas = lambdas;
    config.batch_size = resolved<int64_t>(spec, "train.batch_size");
    config.gptq.block_size = get<int64_t>(spec, "gptq.block_size", 128);
    config.gptq.dampening = get<double>(spec, "gptq.dampening", 0.01);
    config.gptq.activation_order = get<bool>(spec, "gptq.act_order", false);
    config.round_to_nearest = base == "rtn";
    config.smoothing = train::parse_smoothing(get<std::string>(spec, "smoothing", "none"));
    config.on_block = [&](const train::GptqBlockReport& r) {
      std::string alphas;
      for (const auto& [pair, alpha] : r.smoothing_alpha) alphas += fmt::format(" {}={:.2f}", pair, alpha);
      // GPTQ's loss; under rtn (no Hessian, U = I) it is the weights' own rounding error.
      log_line(context, fmt::format("block {}/{} {} {:.4g}{} (smoothing {:.1f} s, Hessians {:.1f} s, quantize {:.1f} s, {:.1f} s)",
                                    r.layer + 1, r.layers, base == "rtn" ? "rounding error" : "gptq loss", r.loss, alphas.empty() ? "" : " alpha" + alphas,
                                    r.smoothing_seconds, r.hessian_seconds, r.quantize_seconds, r.seconds));
    };
    const auto result = train::calibrate_gptq(net, calibration, config, device);
    double loss = 0.0, hessian_seconds = 0.0, quantize_seconds = 0.0;
    int64_t fallbacks = 0;
    for (const auto& b : result.blocks) {
      loss += b.loss;
      hessian_seconds += b.hessian_seconds;
      quantize_seconds += b.quantize_seconds;
      fallbacks += b.hessian_fallbacks;
    }
    if (base == "gptq") outcome.metrics.push_back({"int" + std::to_string(result.feed_bits), "train", "gptq_loss", loss});
    outcome.timings["tokens"] = calibration.numel();
    outcome.timings["gptq_hessian_seconds"] = hessian_seconds;
    outcome.timings["gptq_quantize_seconds"] = quantize_seconds;
    summary = {{"blocks", result.blocks.size()}, {"feed_bits", result.feed_bits}, {"hessian_fallbacks", fallbacks}};
  } else {
    throw_invalid("base algorithm '" + base + "' is not one of: qat, omniquant, gptq, rtn");
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  outcome.timings["seconds"] = seconds;
  if (sharded) summary["processes"] = communicator->world_size();
  if (outcome.status == "done" && writes_checkpoint) {
    summary["seconds"] = seconds;
    train::save_nested_checkpoint(net, checkpoint_path, {{"spec", spec}, {"model_dir", model_dir}, {"training", summary}});
    outcome.checkpoint = checkpoint_path;
  }
  return outcome;
}

JobOutcome run_eval_job(const nlohmann::json& spec, const std::string& checkpoint_path,
                        const std::string& precision, const JobContext& context) {
  const auto start = std::chrono::steady_clock::now();
  const at::Device device(context.device);
  const std::string model_dir = resolve_model(get<std::string>(spec, "model", "builtin:tiny-llama"), context.cache_dir, context.device);
  model::DecoderModel net{nullptr};
  bool extra_precision = false;
  std::optional<std::vector<MetricRow>> format_weight_rows;
  if (quant::is_unquantized(precision)) {
    // What is asked runs, on the CPU too (LibTorch's CPU kernels take bfloat16), so a "bf16" row
    // always measures bfloat16 rounding; "fp32" is the float32 reference.
    net = model::load_pretrained(model_dir, {precision == "bf16" ? at::kBFloat16 : at::kFloat, device});
  } else if (quant::is_post_training(precision)) {
    // Round to nearest (seed 004's RTN rows): the base model's projections in scope, rounded to the
    // format, served in float32 like a checkpoint's slices.
    net = model::load_pretrained(model_dir, {at::kFloat, device});
    const auto format = quant::parse_weight_format(precision.substr(4));
    format_weight_rows = round_to_format(net, model::parse_quant_scope(get<std::string>(spec, "scope", "ffn")), format,
                                         get<int64_t>(spec, "group_size", 0), precision_label(precision, false));
  } else {
    auto loaded = train::load_nested_checkpoint(checkpoint_path, at::kFloat, device);
    net = loaded.model;
    extra_precision = loaded.metadata.at("quantizer").value("slice_mode", "clamped") != "clamped";
    net->set_precision(quant::plan_from_text(precision, int(net->layers.size())));
  }
  JobOutcome outcome;
  const std::string label = precision_label(precision, extra_precision);
  const std::string activations = get<std::string>(spec, "eval.activations", "none");
  if (activations != "none" && !quant::is_unquantized(precision)) {
    // Seed 004's A8 rows: the inputs of the quantized projections too (lib/jobs/activation_calibration.h).
    const auto format = quant::parse_weight_format(activations);
    at::Tensor calibration;
    if (format.kind == quant::WeightFormat::Kind::kInt) {
      calibration = tokenized_sequences(model_dir, get<std::string>(spec, "data.train", "synthetic"), "train",
                                        get<int64_t>(spec, "train.seq_len", 128),
                                        get<int64_t>(spec, "eval.activation_samples", 128));
    }
    const int64_t projections = quantize_activations(net, format, calibration, get<int64_t>(spec, "eval.batch_size", 16));
    add_metrics(outcome, {{label, "activations", "effective_bits", format.bits_per_weight()}}, context);
    log_line(context, fmt::format("{}: inputs of {} projections quantized to {}{}", label, projections, format.name(),
                                  calibration.defined() ? fmt::format(" (ranges from {} sequences)", calibration.size(0)) : ""));
  }
  // Perplexity windows: eval.perplexity_seq_len (GPTQ's protocol uses 2048) or the training length.
  const int64_t perplexity_seq_len = get<int64_t>(spec, "eval.perplexity_seq_len", 0);
  const int64_t seq_len = perplexity_seq_len > 0 ? perplexity_seq_len : get<int64_t>(spec, "train.seq_len", 128);
  if (get<bool>(spec, "eval.perplexity", true)) {
    // eval.perplexity_protocol: "chunks" (packed documents), "gptq" (GPTQ's random C4 windows) or
    // "concatenated" (GPTQ's WikiText-2 and c4-new; lib/eval/perplexity_windows.h).
    const std::string protocol = get<std::string>(spec, "eval.perplexity_protocol", "chunks");
    const int64_t samples = get<int64_t>(spec, "eval.perplexity_samples", 256);
    const std::string validation = get<std::string>(spec, "data.validation", "synthetic");
    at::Tensor windows;
    if (protocol == "gptq") {
      windows = eval::gptq_random_windows(resolve_documents(validation, "validation"),
                                          model::Tokenizer::load_for_model(model_dir), seq_len, samples);
    } else if (protocol == "concatenated") {
      // GPTQ's WikiText-2 / c4-new: eval.perplexity_documents first documents joined, tokenized once.
      const int64_t documents = get<int64_t>(spec, "eval.perplexity_documents", 0);
      windows = eval::concatenated_windows(resolve_documents(validation, "validation", documents > 0 ? documents : -1),
                                           model::Tokenizer::load_for_model(model_dir),
                                           get<std::string>(spec, "eval.perplexity_separator", "\n\n"), seq_len, samples);
    } else if (protocol == "chunks") {
      windows = tokenized_sequences(model_dir, validation, "validation", seq_len, samples);
    } else {
      throw_invalid("eval.perplexity_protocol: '" + protocol + "' is not chunks, gptq or concatenated");
    }
    const auto result = eval::evaluate_perplexity(net, windows, 16);
    add_metrics(outcome,
                {{label, "validation", "log_pplx", result.log_perplexity}, {label, "validation", "pplx", result.perplexity}},
                context);
    outcome.timings["eval_tokens_per_s"] = result.tokens / std::max(result.seconds, 1e-9);
    log_line(context, fmt::format("{}: log pplx {:.4f} over {} tokens", label, result.log_perplexity, result.tokens));
  }
  // Parameter counts and effective bits of what is served (lib/jobs/weight_metrics.h).
  add_metrics(outcome, format_weight_rows ? *format_weight_rows : weight_metrics(net, label), context);
  auto zero_shot = eval::zero_shot_options_from_spec(spec);  // eval.tasks: lm-eval's zero-shot scoring
  if (!zero_shot.tasks.empty()) {
    zero_shot.log = [&](const std::string& line) { log_line(context, label + ": " + line); };
    zero_shot.on_task_done = [&](const eval::LoadedTask&, const std::vector<eval::TaskMetric>& metrics) {
      std::vector<MetricRow> rows;
      for (const auto& m : metrics) rows.push_back({label, m.task, m.metric, m.value});
      add_metrics(outcome, std::move(rows), context);
    };
    const auto tokenizer = model::Tokenizer::load_for_model(model_dir);
    if (const std::string warning = tokenizer.normalizer_warning(); !warning.empty()) log_line(context, "warning: " + warning);
    const auto result = eval::evaluate_zero_shot(net, tokenizer, zero_shot);
    for (const auto& failure : result.failures) {
      if (outcome.status != "failed") outcome.error_code = failure.code;
      outcome.status = "failed";
      outcome.error += (outcome.error.empty() ? "" : "; ") + label + " " + failure.task + ": " + failure.message;
    }
  }
  outcome.timings["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return outcome;
}

}  // namespace matquant::jobs
