#include "eval/loglikelihood_engine.h"

#include "common/error.h"
#include "eval/packed_rows.h"
#include "model/rope.h"

#include <c10/core/GradMode.h>

#include <algorithm>

namespace matquant::eval {

namespace {

at::Tensor long_tensor(const std::vector<int64_t>& values, const std::vector<int64_t>& shape) {
  return at::tensor(values, at::TensorOptions().dtype(at::kLong)).view(shape);
}

// [B, 1, T, T] (true = may attend): causal in the row, a continuation segment sees the context and
// itself, padding sees only itself; `window` > 0 adds the sliding-window limit on positions.
at::Tensor segment_mask(const at::Tensor& segments, const at::Tensor& positions, int64_t window) {
  const int64_t t = segments.size(1);
  const at::Tensor index = at::arange(t, segments.options());
  const at::Tensor causal = index.view({1, 1, t}).le(index.view({1, t, 1}));
  const at::Tensor seg_q = segments.unsqueeze(2);
  const at::Tensor seg_k = segments.unsqueeze(1);
  at::Tensor allowed = causal.logical_and(seg_k.eq(0).logical_or(seg_k.eq(seg_q)))
                           .logical_and(seg_q.ge(0))
                           .logical_and(seg_k.ge(0));
  if (window > 0) allowed = allowed.logical_and((positions.unsqueeze(2) - positions.unsqueeze(1)).lt(window));
  const at::Tensor self = at::eye(t, segments.options().dtype(at::kBool)).unsqueeze(0);
  return allowed.logical_or(self).unsqueeze(1);
}

}  // namespace

int64_t resolve_max_length(const model::ModelConfig& config, int64_t requested) {
  if (requested > 0) return requested;
  return config.max_position_embeddings > 0 ? std::min(config.max_position_embeddings, kDefaultMaxLengthCap)
                                            : kDefaultMaxLengthCap;
}

std::vector<LoglikelihoodResult> score_requests(model::DecoderModel& model,
                                                const std::vector<TokenizedRequest>& requests,
                                                const EngineOptions& options) {
  if (options.batch_size < 1) throw Error(ErrorCode::kInvalidInput, "batch size must be at least 1");
  const auto& config = model->config();
  const int64_t max_length = resolve_max_length(config, options.max_length);
  std::vector<LoglikelihoodResult> results(requests.size());
  std::vector<PackedRow> rows = plan_rows(requests, max_length, options.share_contexts);
  rows.erase(std::remove_if(rows.begin(), rows.end(),
                            [&](const PackedRow& row) {
                              if (!row.tokens.empty()) return false;
                              for (const auto& span : row.spans) results[span.request] = {0.0, true};
                              return true;
                            }),
             rows.end());

  c10::NoGradGuard no_grad;
  model->eval();
  const at::Device device = model->embed_tokens.device();
  const at::Tensor inverse_frequencies = model::rope_inverse_frequencies(config.rope, config.head_dim, device);
  const bool any_sliding = config.sliding_window.has_value() &&
                           std::any_of(config.layer_uses_sliding_window.begin(), config.layer_uses_sliding_window.end(),
                                       [](bool b) { return b; });
  const int64_t total = int64_t(rows.size());
  std::vector<at::Tensor> batch_logprobs, batch_greedy;
  for (int64_t first = 0; first < total; first += options.batch_size) {
    const int64_t last = std::min(total, first + options.batch_size);
    const int64_t batch = last - first;
    const int64_t length = int64_t(rows[size_t(first)].tokens.size());  // longest first
    std::vector<int64_t> tokens(size_t(batch * length), 0), positions(size_t(batch * length), 0),
        segments(size_t(batch * length), -1);
    std::vector<int64_t> gather_rows, gather_columns, targets;
    for (int64_t b = 0; b < batch; ++b) {
      const PackedRow& row = rows[size_t(first + b)];
      std::copy(row.tokens.begin(), row.tokens.end(), tokens.begin() + b * length);
      std::copy(row.positions.begin(), row.positions.end(), positions.begin() + b * length);
      std::copy(row.segments.begin(), row.segments.end(), segments.begin() + b * length);
      for (const auto& span : row.spans) {
        for (size_t i = 0; i < span.targets.size(); ++i) {
          gather_rows.push_back(b);
          gather_columns.push_back(span.predict_at[i]);
          targets.push_back(span.targets[i]);
        }
      }
    }
    // One host-to-device copy per batch, from pinned memory and without waiting: a copy from pageable
    // memory waits for the stream to drain, which left the GPU idle while the host packed each batch.
    const int64_t cells = batch * length, gathered = int64_t(targets.size());
    std::vector<int64_t> staged;
    staged.reserve(size_t(3 * cells + 3 * gathered));
    for (const auto* part : {&tokens, &positions, &segments, &gather_rows, &gather_columns, &targets}) {
      staged.insert(staged.end(), part->begin(), part->end());
    }
    at::Tensor host = long_tensor(staged, {int64_t(staged.size())});
    if (device.is_cuda()) host = host.pin_memory();
    const at::Tensor on_device = host.to(device, /*non_blocking=*/true);
    const at::Tensor token_tensor = on_device.narrow(0, 0, cells).view({batch, length});
    const at::Tensor position_tensor = on_device.narrow(0, cells, cells).view({batch, length});
    const at::Tensor segment_tensor = on_device.narrow(0, 2 * cells, cells).view({batch, length});
    const at::Tensor row_index = on_device.narrow(0, 3 * cells, gathered);
    const at::Tensor column_index = on_device.narrow(0, 3 * cells + gathered, gathered);
    const at::Tensor target_tensor = on_device.narrow(0, 3 * cells + 2 * gathered, gathered).view({-1, 1});

    at::Tensor hidden = model->embed(token_tensor);
    const auto rope = model::rope_tables(inverse_frequencies, position_tensor, hidden.scalar_type());
    const at::Tensor global_mask = segment_mask(segment_tensor, position_tensor, 0);
    const at::Tensor sliding_mask =
        any_sliding ? segment_mask(segment_tensor, position_tensor, *config.sliding_window) : global_mask;
    for (auto& layer : model->layers) {
      const bool sliding = config.layer_uses_sliding_window.at(size_t(layer->index));
      hidden = layer->forward(hidden, sliding ? sliding_mask : global_mask, rope.cos, rope.sin);
    }
    hidden = model->layers.front()->norm(hidden, model->final_norm);
    const at::Tensor logits = model->logits_from_hidden(hidden.index({row_index, column_index})).to(at::kFloat);
    // Kept on the device and read once after the last batch, so the host never waits for a batch.
    batch_logprobs.push_back(at::log_softmax(logits, -1).gather(1, target_tensor).view({-1}).to(at::kDouble));
    batch_greedy.push_back(logits.argmax(-1).eq(target_tensor.view({-1})));
    if (options.on_progress) options.on_progress(last, total);
  }
  if (batch_logprobs.empty()) return results;
  const at::Tensor logprobs = at::cat(batch_logprobs).cpu();
  const at::Tensor greedy = at::cat(batch_greedy).cpu();
  const double* logprob = logprobs.data_ptr<double>();
  const bool* hit = greedy.data_ptr<bool>();
  size_t at_token = 0;  // the batches' gathered tokens, in the order they were queued
  for (int64_t row = 0; row < total; ++row) {
    for (const auto& span : rows[size_t(row)].spans) {
      LoglikelihoodResult result{0.0, true};
      for (size_t i = 0; i < span.targets.size(); ++i, ++at_token) {
        result.loglikelihood += logprob[at_token];
        result.is_greedy = result.is_greedy && hit[at_token];
      }
      results[span.request] = result;
    }
  }
  return results;
}

}  // namespace matquant::eval
