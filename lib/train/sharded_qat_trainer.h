#pragma once
// QAT with parameters, gradients and AdamW state sharded across processes (ZeRO-3 / FSDP style;
// train/sharded_model.h), one process per GPU over NCCL or per CPU process over Gloo. The
// objective is unchanged and per rank: every MatQuant variant and co-distillation config runs as
// in train_qat. config.batch_size is the global batch: each rank takes its contiguous share of
// every micro-batch, and the gradients are averaged, so N ranks follow the same trajectory as one
// process with the same batch (up to the order of floating-point sums). The training state is
// one file per rank (STATE_DIR/step-N/rank-R-of-W.pt) plus progress.json; a run resumes with the
// same number of ranks. At the end the full model is gathered on every rank.
#include "train/qat_trainer.h"

namespace matquant::train {

// Without config.communicator: one rank (for config.offload_optimizer_state).
TrainingSummary train_qat_sharded(model::DecoderModel& model, const at::Tensor& sequences, const QatConfig& config);

}  // namespace matquant::train
