#include "sweep/spec_fields.h"

#include <algorithm>

namespace matquant::sweep {
namespace {

using nlohmann::json;

std::vector<SpecField> make_fields() {
  using T = FieldType;
  return {
      {"name", T::kString, "", {}, "display name (not part of the run key); derived from the sweep axes when empty"},
      {"model", T::kString, "builtin:tiny-llama", {}, "Hugging Face directory, or builtin:tiny-llama / builtin:small-llama"},
      {"base", T::kString, "qat", {"qat", "omniquant", "gptq", "rtn"},
       "base algorithm: qat, omniquant, or post-training gptq / rtn (round to nearest) with an optional smoothing "
       "(docs/quant.md \"GPTQ\")"},
      {"smoothing", T::kString, "none", {"none", "smoothquant", "awq"},
       "bases gptq and rtn: SmoothQuant (alpha 0.5) or AWQ's searched scales folded in before quantizing"},
      {"format", T::kString, "int", {"int", "mxint"},
       "weight grid of bases gptq and rtn: int (affine, Eq. 1, per channel or group_size) or mxint (MXINT "
       "elements in blocks of group_size values sharing a power-of-two scale; seed 004)"},
      {"variant", T::kString, "matquant", {"baseline", "matquant", "sp", "ep", "sliced"},
       "baseline (plain r-bit), matquant, sp (Single-Precision MatQuant), ep (Extra-Precision), sliced (int8 baseline sliced)"},
      {"bits", T::kIntList, json::array({8, 4, 2}), {}, "R, the trained precisions (baseline, sp, sliced: one entry)"},
      {"source_bits", T::kInt, 8, {}, "c, the stored code width (baseline: bits[0])"},
      {"lambdas", T::kNumberList, nullptr, {},
       "lambda_r, one per bits entry; sqrt(2) accepted. Default (Appendix B): matquant 1 for the lowest precision "
       "and 0.1 for the others, [8, 4, 2] -> [0.1, 0.1, 1]; ep all 1; baseline, sp, sliced [1]"},
      {"distillation", T::kString, "", {}, "co-distillation config, e.g. [8, 4, 2, 8->2]; empty = none"},
      {"scope", T::kString, "ffn", {"ffn", "ffn+attn"}, "which projections are quantized"},
      {"group_size", T::kInt, 0, {}, "quantization group size; 0 = per output channel"},
      {"data.train", T::kString, "synthetic", {}, "training / calibration text: a C4 json.gz, JSONL or text file, or synthetic"},
      {"data.validation", T::kString, "synthetic", {}, "held-out text for log-perplexity"},
      {"train.steps", T::kInt, nullptr, {},
       "QAT optimizer steps. Default: Appendix B's 100M tokens in steps of 16 x 8192 = 763; scope ffn+attn 3x "
       "(300M) = 2289. A value given is used as is"},
      {"train.batch_size", T::kInt, nullptr, {}, "sequences per step (default: QAT 16, OmniQuant 4)"},
      {"train.seq_len", T::kInt, 128, {}, "tokens per sequence (training and perplexity windows)"},
      {"train.learning_rate", T::kNumber, nullptr, {},
       "QAT peak learning rate (default 1e-5) or OmniQuant's constant clipping rate (default 1e-3, Appendix B)"},
      {"train.warmup_steps", T::kInt, 150, {}, "QAT linear warm-up steps"},
      {"train.epochs", T::kInt, nullptr, {},
       "OmniQuant epochs over the calibration set. Default: Appendix B's 10M tokens over 128 x 2048 = 38; "
       "int2 baseline 2x (20M) = 76; co-distillation 0.83x (8.3M) = 32. A value given is used as is"},
      {"train.samples", T::kInt, 128, {}, "OmniQuant and GPTQ calibration sequences"},
      {"gptq.block_size", T::kInt, 128, {}, "GPTQ: columns between two updates of the rest of the weight (b1)"},
      {"gptq.dampening", T::kNumber, 0.01, {}, "GPTQ: fraction of mean(diag H) added to the diagonal (percdamp)"},
      {"gptq.act_order", T::kBool, false, {}, "GPTQ: round columns in order of decreasing diag(H)"},
      {"train.let", T::kBool, nullptr, {},
       "OmniQuant: learnable equivalent transformation (Eq. 4); default on for omniquant, off for qat"},
      {"train.let_learning_rate", T::kNumber, nullptr, {}, "OmniQuant: LET learning rate (default: train.learning_rate)"},
      {"train.activation_checkpointing", T::kBool, false, {}, "QAT: recompute block activations in backward"},
      {"train.activation_checkpointing_policy", T::kString, "full", {"full", "selective"},
       "with activation_checkpointing: full recomputes each block; selective keeps the projections' outputs "
       "and the quantized bf16 weights from the first pass (more memory, less recomputed, the same "
       "gradients; single-process QAT on CUDA; docs/training.md). Not part of job keys"},
      {"train.cuda_graph", T::kBool, true, {},
       "QAT on CUDA: capture each step's forward and backward passes once as a CUDA graph and replay it (the same "
       "kernels without the host between them; docs/training.md); false runs them eagerly. Not part of job keys"},
      {"resources.gpus", T::kInt, 1, {},
       "GPUs (one process each) for the training job: QAT sharded across them (docs/training.md); the runner "
       "gives it that many distinct GPUs of --gpus, Slurm that many on one node; not part of job keys"},
      {"train.offload_optimizer_state", T::kBool, false, {},
       "QAT: AdamW moments in pinned host memory, streamed through the GPU per layer (a model too large for its "
       "GPU); the same update, so not part of job keys"},
      {"eval.precisions", T::kStringList, nullptr, {},
       "bf16 (fp32: the float32 model), r (8, 4, 2, 6, 3), a per-layer list 2,4,8,8, STRATEGY@BITS (pyramid@3.5), or "
       "rtn:FORMAT (rtn:int4, rtn:mxint4-128: the base model rounded, no training); default 8 4 2 6 3 "
       "(baseline: its own bits)"},
      {"eval.activations", T::kString, "none", {},
       "quantize every quantized projection's input too (seed 004's A8 rows): none, intD (static per-channel "
       "affine, MinMax over eval.activation_samples sequences of data.train) or mxintD-B (dynamic MXINT); "
       "bf16/fp32 rows stay unquantized"},
      {"eval.activation_samples", T::kInt, 128, {}, "calibration sequences (train.seq_len tokens) for intD activations"},
      {"eval.perplexity", T::kBool, true, {}, "held-out log-perplexity"},
      {"eval.perplexity_protocol", T::kString, "chunks", {"chunks", "gptq", "concatenated"},
       "perplexity windows: chunks (documents packed with BOS/EOS), gptq (GPTQ's random C4 windows) or concatenated "
       "(GPTQ's WikiText-2 / c4-new: documents joined by eval.perplexity_separator, tokenized once; docs/eval.md)"},
      {"eval.perplexity_separator", T::kString, "\n\n", {}, "concatenated: text between documents (WikiText-2 \\n\\n, c4-new a space)"},
      {"eval.perplexity_documents", T::kInt, 0, {}, "concatenated: the first N documents only (c4-new: 1100); 0 = all"},
      {"eval.perplexity_samples", T::kInt, 256, {}, "perplexity windows scored"},
      {"eval.perplexity_seq_len", T::kInt, 0, {}, "tokens per perplexity window; 0 = train.seq_len (GPTQ's protocol: 2048)"},
      {"eval.tasks", T::kStringList, json::array(), {}, "zero-shot tasks (arc_challenge, arc_easy, boolq, hellaswag, piqa, winogrande, openbookqa, siqa) and wikitext"},
      {"eval.task_dir", T::kString, "", {}, "directory holding the task files (docs/data.md)"},
      {"eval.task_files", T::kStringList, json::array(), {},
       "TASK=PATH entries: a task's file given directly, instead of its place under eval.task_dir"},
      {"eval.task_limit", T::kInt, 0, {}, "examples per task; 0 = all"},
      {"eval.batch_size", T::kInt, 16, {}, "sequences per scoring batch"},
      {"eval.max_length", T::kInt, 0, {}, "context window for task scoring and wikitext's rolling windows; 0 = the model's, capped at 2048"},
      {"eval.save_requests", T::kString, "", {}, "write per-request log-likelihoods to this JSONL file (not part of job keys)"},
      {"seed", T::kInt, 0, {}, "replicate seed"},
  };
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

const std::vector<SpecField>& spec_fields() {
  static const std::vector<SpecField> fields = make_fields();
  return fields;
}

const SpecField* find_spec_field(const std::string& key) {
  for (const auto& field : spec_fields()) {
    if (field.key == key) return &field;
  }
  return nullptr;
}

std::string type_name(FieldType type) {
  switch (type) {
    case FieldType::kString: return "string";
    case FieldType::kInt: return "integer";
    case FieldType::kNumber: return "number";
    case FieldType::kBool: return "true/false";
    case FieldType::kIntList: return "list of integers";
    case FieldType::kNumberList: return "list of numbers";
    case FieldType::kStringList: return "list of strings";
  }
  return "?";
}

bool is_spec_section(const std::string& key) {
  for (const auto& field : spec_fields()) {
    if (field.key.size() > key.size() && field.key.compare(0, key.size(), key) == 0 && field.key[key.size()] == '.') {
      return true;
    }
  }
  return false;
}

std::string closest_spec_key(const std::string& key) {
  std::string best;
  size_t best_distance = std::max<size_t>(3, key.size() / 3) + 1;
  for (const auto& field : spec_fields()) {
    // Compare with the whole dotted key and with its last part, so "eval.task" and "stpes" both match.
    const std::string& candidate = field.key;
    const size_t dot = candidate.rfind('.');
    size_t distance = edit_distance(key, candidate);
    if (dot != std::string::npos && key.find('.') == std::string::npos) {
      distance = std::min(distance, edit_distance(key, candidate.substr(dot + 1)) + 1);
    }
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

}  // namespace matquant::sweep
