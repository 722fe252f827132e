#include "model/initialization.h"

#include "common/error.h"
#include "model/builtin_model_names.h"

#include <c10/core/GradMode.h>

namespace matquant::model {

void initialize_random(DecoderModel& model, double std, uint64_t seed) {
  c10::NoGradGuard no_grad;
  at::manual_seed(seed);
  for (auto& [name, tensor] : model->named_weights()) {
    const bool is_norm = name.find("norm") != std::string::npos;
    const bool is_bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (is_norm) {
      tensor.fill_(model->config().norm_adds_one ? 0.0 : 1.0);
    } else if (is_bias) {
      tensor.zero_();
    } else {
      tensor.normal_(0.0, std);
    }
  }
}

nlohmann::json builtin_config(const std::string& name) {
  if (name == "tiny-llama") {
    return {{"model_type", "llama"}, {"architectures", {"LlamaForCausalLM"}},
            {"vocab_size", 512}, {"hidden_size", 128}, {"intermediate_size", 384},
            {"num_hidden_layers", 4}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
            {"max_position_embeddings", 512}, {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0},
            {"tie_word_embeddings", false}, {"hidden_act", "silu"}, {"bos_token_id", 1},
            {"eos_token_id", 2}, {"torch_dtype", "float32"}};
  }
  if (name == "small-llama") {  // for GPU experiments: ~20M parameters
    return {{"model_type", "llama"}, {"architectures", {"LlamaForCausalLM"}},
            {"vocab_size", 2048}, {"hidden_size", 512}, {"intermediate_size", 1536},
            {"num_hidden_layers", 8}, {"num_attention_heads", 8}, {"num_key_value_heads", 4},
            {"max_position_embeddings", 1024}, {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0},
            {"tie_word_embeddings", false}, {"hidden_act", "silu"}, {"bos_token_id", 1},
            {"eos_token_id", 2}, {"torch_dtype", "float32"}};
  }
  if (name == "tiny-gemma2") {
    return {{"model_type", "gemma2"}, {"architectures", {"Gemma2ForCausalLM"}},
            {"vocab_size", 512}, {"hidden_size", 128}, {"intermediate_size", 384},
            {"num_hidden_layers", 4}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
            {"head_dim", 32}, {"query_pre_attn_scalar", 32}, {"sliding_window", 64},
            {"attn_logit_softcapping", 50.0}, {"final_logit_softcapping", 30.0},
            {"max_position_embeddings", 512}, {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0},
            {"hidden_activation", "gelu_pytorch_tanh"}, {"bos_token_id", 1}, {"eos_token_id", 2},
            {"pad_token_id", 0}, {"torch_dtype", "float32"}};
  }
  // Published shapes (random weights) for benchmarks: google/gemma-2-2b, google/gemma-2-9b,
  // mistralai/Mistral-7B-v0.1 config.json.
  if (name == "gemma2-2b-shape" || name == "gemma2-9b-shape") {
    const bool big = name == "gemma2-9b-shape";
    return {{"model_type", "gemma2"}, {"vocab_size", 256000}, {"hidden_size", big ? 3584 : 2304},
            {"intermediate_size", big ? 14336 : 9216}, {"num_hidden_layers", big ? 42 : 26},
            {"num_attention_heads", big ? 16 : 8}, {"num_key_value_heads", big ? 8 : 4}, {"head_dim", 256},
            {"query_pre_attn_scalar", 256}, {"sliding_window", 4096}, {"attn_logit_softcapping", 50.0},
            {"final_logit_softcapping", 30.0}, {"max_position_embeddings", 8192}, {"rms_norm_eps", 1e-6},
            {"rope_theta", 10000.0}, {"hidden_activation", "gelu_pytorch_tanh"}, {"bos_token_id", 2},
            {"eos_token_id", 1}, {"pad_token_id", 0}};
  }
  if (name == "mistral-7b-shape") {
    return {{"model_type", "mistral"}, {"vocab_size", 32000}, {"hidden_size", 4096}, {"intermediate_size", 14336},
            {"num_hidden_layers", 32}, {"num_attention_heads", 32}, {"num_key_value_heads", 8},
            {"sliding_window", 4096}, {"max_position_embeddings", 32768}, {"rms_norm_eps", 1e-5},
            {"rope_theta", 10000.0}, {"hidden_act", "silu"}, {"bos_token_id", 1}, {"eos_token_id", 2}};
  }
  throw Error(ErrorCode::kInvalidInput, "unknown built-in model '" + name +
                                            "' (known: tiny-llama, small-llama, tiny-gemma2, gemma2-2b-shape, gemma2-9b-shape, "
                                            "mistral-7b-shape)");
}

std::vector<std::string> builtin_model_names() { return builtin_model_name_list(); }

}  // namespace matquant::model
