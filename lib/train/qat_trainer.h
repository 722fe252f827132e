#pragma once
// QAT with the MatQuant objective (Eq. 2 + Eq. 7): end-to-end next-token loss over every precision
// r in R (weight lambda_r), straight-through estimators, all weights trainable, AdamW, warm-up then
// cosine decay. One forward and backward per precision with gradients accumulated, so only one
// graph is alive at a time. With quantize = false it is plain full-precision training (pretrain).
#include "distributed/communicator.h"
#include "model/decoder.h"
#include "train/objective.h"
#include "train/schedule.h"

#include <functional>
#include <c10/core/Device.h>

#include <map>
#include <optional>
#include <memory>
#include <string>

namespace matquant::train {

struct StepReport {
  int64_t step = 0;   // 1-based, after the update
  int64_t total_steps = 0;
  double learning_rate = 0.0;
  std::map<int, double> loss_by_bits;  // bits 0 = full precision
  int64_t tokens_seen = 0;
  double seconds = 0.0;
};

struct QatConfig {
  bool quantize = true;
  Objective objective = Objective::plain({8, 4, 2}, {0.1, 0.1, 1.0});
  LearningRateSchedule schedule;
  int64_t batch_size = 8;
  int64_t gradient_accumulation = 1;
  double weight_decay = 0.0;
  double gradient_clip = 1.0;  // max global norm; <= 0 disables
  uint64_t seed = 0;
  std::string state_dir;     // resumable training state; empty = none
  int64_t save_every = 0;    // steps between saved states (0 = only at the end)
  // On CUDA: forward and backward under bf16 autocast, weights and AdamW state stay fp32.
  bool bf16_autocast = true;
  // Recompute each decoder block's activations in backward instead of keeping them
  // (lib/train/activation_checkpoint.h): less memory, about one more forward per step.
  bool activation_checkpointing = false;
  // With activation_checkpointing: the first pass keeps the projections' outputs and quantized bf16
  // fake-quantized weights for the recomputation (selective checkpointing; more memory, less
  // recomputed, the same gradients). Single-process training only.
  bool selective_checkpointing = false;
  // On CUDA: each step's forward and backward passes are captured once as a CUDA graph and
  // replayed (train/captured_objective.h); the optimizer step stays outside. If the capture fails,
  // training goes on without the graph and says so on stderr.
  bool cuda_graph = true;
  std::function<void(const StepReport&)> on_step;
  // Several processes: parameters, gradients and AdamW state sharded across the communicator's
  // ranks (train/sharded_qat_trainer.h); batch_size is then the global batch, split evenly.
  std::shared_ptr<distributed::Communicator> communicator;
  // Sharded: where the master shards live when it is not the model's device (a model too large
  // for one GPU is loaded on the host and sharded onto the GPUs).
  std::optional<c10::Device> shard_device;
  // AdamW moments in pinned host memory, streamed through the GPU for the update
  // (train/fused_optimizer_step.h): a model whose fp32 weights, gradients and moments do not fit
  // one GPU trains on it. Runs the sharded trainer (one rank when there is no communicator).
  bool offload_optimizer_state = false;
};

struct TrainingSummary {
  int64_t steps = 0;
  int64_t tokens = 0;
  double seconds = 0.0;
  bool diverged = false;
  bool resumed = false;
  bool cuda_graph = false;  // the steps' passes were replayed from a CUDA graph (QatConfig::cuda_graph)
  std::vector<StepReport> curve;  // every step's losses
};

// sequences: int64 [N, seq_len + 1] (inputs and shifted targets). Batches follow a seeded shuffle,
// so a resumed run sees exactly the batches an uninterrupted one would.
TrainingSummary train_qat(model::DecoderModel& model, const at::Tensor& sequences, const QatConfig& config);

}  // namespace matquant::train
