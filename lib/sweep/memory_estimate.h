#pragma once
// The peak GPU memory of a QAT training job, estimated from the model's shape and the run's
// settings, so `sweep plan`/`run` can say what each run needs per GPU and refuse one that cannot fit
// before anything runs. The terms follow what the trainers keep (docs/training.md "Memory"):
// fp32 master weights, gradients and AdamW moments (sharded 1/N, moments on the host when
// offloaded), the embedding/head group's gathered copies, bf16 casts and gradients, logits, and
// activations (saved block inputs plus one block's working set with checkpointing or sharding; every
// block's fake-quantized weights and activations without). Calibrated against the H200 figures in
// docs/training.md (within ~5% there); an estimate, not a bound.
#include <nlohmann/json.hpp>

#include <string>

namespace matquant::sweep {

struct ModelShape {
  double vocab = 0, hidden = 0, intermediate = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0;
  bool tied = true;
};

// From a Hugging Face config.json's fields (head_dim defaults to hidden / heads).
ModelShape model_shape_from_config(const nlohmann::json& config);

struct TrainingMemoryEstimate {
  double bytes = 0;  // per GPU
  double state_bytes = 0;       // weights, gradients, moments on the GPU
  double activation_bytes = 0;  // everything else
};

// spec: a completed run spec (train.batch_size, train.seq_len, scope, resources.gpus,
// train.activation_checkpointing, train.offload_optimizer_state).
TrainingMemoryEstimate estimate_qat_memory(const ModelShape& shape, const nlohmann::json& spec);

}  // namespace matquant::sweep
