#include "model/initialization.h"

#include "common/error.h"

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
  throw Error(ErrorCode::kInvalidInput, "unknown built-in model '" + name + "' (known: tiny-llama, tiny-gemma2)");
}

std::vector<std::string> builtin_model_names() { return {"tiny-llama", "tiny-gemma2"}; }

}  // namespace matquant::model
