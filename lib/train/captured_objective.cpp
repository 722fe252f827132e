#include "train/captured_objective.h"

#include "common/error.h"
#include "common/failure.h"
#include "kernels/captured_work.h"
#include "train/training_step.h"

namespace matquant::train {

bool objective_capture_available(const model::DecoderModel& model) {
  return kernels::captured_work_available() && model->embed_tokens.device().is_cuda();
}

CapturedObjectivePasses::CapturedObjectivePasses(model::DecoderModel model, const Objective& objective, bool quantize,
                                                 int64_t micro_batch, int64_t accumulation, bool bf16_autocast)
    : model_(std::move(model)),
      objective_(objective),
      quantize_(quantize),
      micro_batch_(micro_batch),
      accumulation_(accumulation),
      bf16_autocast_(bf16_autocast) {
  if (!objective_capture_available(model_)) throw_invalid("CUDA graph capture needs the CUDA build and a model on CUDA");
  if (micro_batch_ <= 0 || accumulation_ <= 0) throw_invalid("captured passes need a positive batch and accumulation");
}

CapturedObjectivePasses::~CapturedObjectivePasses() = default;

void CapturedObjectivePasses::passes() {
  // The autocast scope (and so its cache of bf16 weight copies) lives inside the captured work:
  // a copy cached before the capture would be read by every replay without being made again.
  const Bf16Autocast autocast(bf16_autocast_);
  losses_ = step_passes(model_, objective_, quantize_, rows_, micro_batch_, accumulation_);
}

std::vector<std::pair<int, at::Tensor>> CapturedObjectivePasses::run(const at::Tensor& rows) {
  if (rows.dim() != 2 || rows.size(0) != micro_batch_ * accumulation_) {
    throw_invalid("captured passes: a step's rows must be [batch x accumulation, T + 1]");
  }
  if (graph_) {
    if (rows.sizes() != rows_.sizes()) throw_invalid("captured passes: the rows' shape changed after capture");
    check_gradients_attached();
    rows_.copy_(rows);
    graph_->replay();
    return losses_;
  }
  rows_ = rows.to(model_->embed_tokens.device()).clone();
  auto graph = std::make_unique<kernels::CapturedWork>(int(rows_.get_device()));
  // Each run sees the gradients as the first backward leaves them: none, so the captured
  // accumulation into each parameter starts by writing its buffer, not adding to the warm-up's.
  drop_gradients();
  try {
    graph->capture([&] { passes(); }, [&] { drop_gradients(); });
  } catch (const std::exception&) {
    drop_gradients();
    throw CaptureFailed(describe_failure(std::current_exception()).message);
  }
  graph_ = std::move(graph);
  gradients_.clear();
  for (const auto& p : model_->parameters()) gradients_.push_back(p.grad().defined() ? p.grad().data_ptr() : nullptr);
  graph_->replay();
  return losses_;
}

void CapturedObjectivePasses::check_gradients_attached() const {
  const auto parameters = model_->parameters();
  for (size_t i = 0; i < parameters.size(); ++i) {
    const at::Tensor& grad = parameters[i].grad();
    if ((grad.defined() ? grad.data_ptr() : nullptr) != gradients_.at(i)) {
      throw Error(ErrorCode::kInternal, "captured passes: parameter " + std::to_string(i) +
                                            "'s gradient is no longer the buffer the CUDA graph writes (reset or "
                                            "replaced between steps)");
    }
  }
}

void CapturedObjectivePasses::drop_gradients() {
  for (auto& p : model_->parameters()) p.mutable_grad().reset();
}

void CapturedObjectivePasses::release() {
  drop_gradients();
  graph_.reset();
  losses_.clear();
  gradients_.clear();
}

}  // namespace matquant::train
