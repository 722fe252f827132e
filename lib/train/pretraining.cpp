#include "train/pretraining.h"

#include "common/error.h"
#include "model/config.h"
#include "data/token_batches.h"
#include "model/initialization.h"

#include <fmt/format.h>

#include <iostream>

namespace matquant::train {

namespace {

struct Shape {
  int64_t hidden, intermediate, layers, heads, kv_heads;
};

Shape preset_shape(const std::string& size) {
  // head_dim 64 at "small" (as the real models); "tiny" only has to run in seconds on a CPU.
  if (size == "tiny") return {64, 192, 2, 4, 2};
  if (size == "small") return {256, 768, 6, 4, 2};
  throw Error(ErrorCode::kUsage, "unknown pretraining size '" + size + "' (known: tiny, small)");
}

}  // namespace

nlohmann::json pretraining_config(const std::string& family, const std::string& size, int64_t vocab_size) {
  const Shape s = preset_shape(size);
  const int64_t head_dim = s.hidden / s.heads;
  if (family == "llama") {
    return {{"model_type", "llama"}, {"architectures", {"LlamaForCausalLM"}}, {"vocab_size", vocab_size},
            {"hidden_size", s.hidden}, {"intermediate_size", s.intermediate}, {"num_hidden_layers", s.layers},
            {"num_attention_heads", s.heads}, {"num_key_value_heads", s.kv_heads}, {"max_position_embeddings", 2048},
            {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0}, {"tie_word_embeddings", false},
            {"hidden_act", "silu"}, {"bos_token_id", 1}, {"eos_token_id", 2}, {"torch_dtype", "float32"}};
  }
  if (family == "gemma2") {
    // Gemma-2's own choices at small scale: tied embeddings, soft-capping, alternating
    // sliding-window (every other layer) and global attention.
    return {{"model_type", "gemma2"}, {"architectures", {"Gemma2ForCausalLM"}}, {"vocab_size", vocab_size},
            {"hidden_size", s.hidden}, {"intermediate_size", s.intermediate}, {"num_hidden_layers", s.layers},
            {"num_attention_heads", s.heads}, {"num_key_value_heads", s.kv_heads}, {"head_dim", head_dim},
            {"query_pre_attn_scalar", head_dim}, {"sliding_window", 256}, {"attn_logit_softcapping", 50.0},
            {"final_logit_softcapping", 30.0}, {"max_position_embeddings", 2048}, {"rms_norm_eps", 1e-6},
            {"rope_theta", 10000.0}, {"hidden_activation", "gelu_pytorch_tanh"}, {"tie_word_embeddings", true},
            {"bos_token_id", 1}, {"eos_token_id", 2}, {"pad_token_id", 0}, {"torch_dtype", "float32"}};
  }
  throw Error(ErrorCode::kUsage, "unknown pretraining family '" + family + "' (known: llama, gemma2)");
}

model::DecoderModel new_random_model(const nlohmann::json& config, const std::string& source, at::Device device,
                                     uint64_t seed) {
  model::DecoderModel net(model::parse_config(config, source));
  model::initialize_random(net, 0.02, seed);
  net->to(device);
  return net;
}

at::Tensor pack_documents(const std::vector<std::vector<int64_t>>& documents, int64_t seq_len, int64_t bos_id,
                          int64_t eos_id, int64_t max_rows) {
  data::PackOptions pack;
  pack.seq_len = seq_len;
  pack.bos_id = bos_id;
  pack.eos_id = eos_id;
  pack.max_sequences = max_rows;
  return data::pack_sequences(documents, pack);
}

TrainingSummary pretrain(model::DecoderModel& model, const at::Tensor& sequences, const PretrainingOptions& o) {
  if (o.steps <= 0 || o.batch_size <= 0) throw Error(ErrorCode::kUsage, "pretraining needs steps > 0 and batch > 0");
  if (sequences.size(0) == 0) throw Error(ErrorCode::kInvalidInput, "no training sequences (corpus too small for seq_len?)");
  QatConfig config;
  config.quantize = false;
  config.schedule.peak = o.learning_rate;
  config.schedule.warmup_steps = o.warmup_steps >= 0 ? o.warmup_steps : o.steps / 10;
  config.schedule.total_steps = o.steps;
  config.schedule.min_ratio = o.min_lr_ratio;
  config.batch_size = o.batch_size;
  config.weight_decay = o.weight_decay;
  config.seed = o.seed;
  const int64_t log_every = o.log_every;
  config.on_step = [log_every](const StepReport& r) {
    if (log_every > 0 && (r.step % log_every == 0 || r.step == r.total_steps)) {
      std::cerr << fmt::format("[matquant] pretrain step {}/{} loss {:.3f} lr {:.2e} ({:.1f} s, {:.0f} tokens/s)\n",
                               r.step, r.total_steps, r.loss_by_bits.at(0), r.learning_rate, r.seconds,
                               r.seconds > 0 ? double(r.tokens_seen) / r.seconds : 0.0);
    }
  };
  auto summary = train_qat(model, sequences, config);
  if (summary.diverged) {
    throw Error(ErrorCode::kDiverged, fmt::format("pretraining diverged at step {}", summary.curve.size()));
  }
  return summary;
}

int64_t parameter_count(model::DecoderModel& model) {
  int64_t n = 0;
  for (const auto& p : model->parameters()) n += p.numel();
  return n;
}

}  // namespace matquant::train
