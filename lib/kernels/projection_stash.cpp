#include "kernels/projection_stash.h"

#include <atomic>

namespace matquant::kernels {

namespace {

thread_local ProjectionStash* recording = nullptr;
thread_local ProjectionStash* replaying = nullptr;
std::atomic<int64_t> hits{0};

}  // namespace

void ProjectionStash::put(StashedProjection entry) { entries_.push_back(std::move(entry)); }

std::optional<StashedProjection> ProjectionStash::take(const at::Tensor& weight, const ProjectionQuantizer& quantizer,
                                                       const at::Tensor& input) {
  if (entries_.empty()) return std::nullopt;
  const StashedProjection& front = entries_.front();
  if (front.weight != weight.unsafeGetTensorImpl() || front.weight_version != weight._version() ||
      front.quantizer != quantizer || front.input_sizes != input.sizes().vec()) {
    return std::nullopt;  // another projection's entry: left for it
  }
  StashedProjection entry = std::move(entries_.front());
  entries_.pop_front();
  if (entry.output._version() != entry.output_version) return std::nullopt;  // written in place since
  return entry;
}

ProjectionStashScope::ProjectionStashScope(ProjectionStash* stash, Mode mode)
    : previous_record_(recording), previous_replay_(replaying) {
  recording = mode == Mode::kRecord ? stash : nullptr;
  replaying = mode == Mode::kReplay ? stash : nullptr;
}

ProjectionStashScope::~ProjectionStashScope() {
  recording = previous_record_;
  replaying = previous_replay_;
}

ProjectionStash* recording_projection_stash() { return recording; }
ProjectionStash* replaying_projection_stash() { return replaying; }
int64_t projection_stash_hits() { return hits.load(); }
void count_projection_stash_hit() { ++hits; }

}  // namespace matquant::kernels
