#pragma once
// Activation checkpointing for QAT: a decoder block keeps only its input during the forward pass
// and recomputes its activations in the backward pass (LibTorch has no torch.utils.checkpoint).
// This is the reentrant scheme of torch.utils.checkpoint: a custom autograd function runs the
// block without recording a graph, saves its inputs, and in backward runs the block again with
// gradients on and back-propagates through that fresh graph, which accumulates into the block's
// parameters (leaves) and returns the gradient of the block's input.
//
// The recomputation must see the block as the forward pass did: the trainer finishes a
// precision's backward before it switches precision; bf16 autocast on CUDA is captured in the
// forward and restored for the recomputation (backward runs on autograd's threads, where the
// thread-local autocast state is off). Blocks have no dropout, so there is no RNG state to replay.
#include "model/decoder.h"

#include <cstdint>

namespace matquant::train {

// Runs `layer` checkpointed when gradients are being recorded and its input needs them,
// else plainly (nothing would be saved anyway). Selective: the first pass also keeps the projections'
// outputs and the quantized ones' bf16 fake-quantized weights, which the recomputation takes back instead
// of computing them again (kernels/projection_stash.h; CUDA master-weight training only, elsewhere
// the same as full recomputation). The gradients are the same either way.
at::Tensor checkpointed_layer_forward(model::DecoderLayerImpl& layer, const at::Tensor& hidden,
                                      const at::Tensor& mask, const at::Tensor& cos, const at::Tensor& sin,
                                      bool selective = false);

// Installs checkpointing as the model's layer runner (on = true) or removes it.
void set_activation_checkpointing(model::DecoderModel& model, bool on, bool selective = false);

// Blocks recomputed so far in this process (tests check that checkpointing really ran).
int64_t activation_checkpoint_recomputations();

}  // namespace matquant::train
