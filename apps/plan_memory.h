#pragma once
// `sweep plan`/`run`: each QAT training job's estimated peak GPU memory (lib/sweep/memory_estimate.h),
// printed, and the runs that cannot fit the GPUs they were given refused before anything runs.
#include "sweep/expand.h"

#include <optional>
#include <string>

namespace matquant::apps {

// One line per distinct training job ("" when the sweep has no QAT run whose model shape is known).
std::string render_memory_estimates(const sweep::SweepPlan& plan);

// Throws Error(kInvalidInput) naming every run whose training needs more than `capacity_gib` per GPU.
void refuse_runs_over_memory(const sweep::SweepPlan& plan, double capacity_gib);

// The memory of CUDA device 0 in GiB, when this machine has one.
std::optional<double> local_gpu_memory_gib();

}  // namespace matquant::apps
