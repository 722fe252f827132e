#pragma once
// `sweep plan FILE --executor slurm`: the sbatch line of every job, in submission order, without
// submitting anything. An evaluation waiting on its training names it by job key, since Slurm's
// job id exists only once the training is submitted.
#include "sweep/expand.h"
#include "sweep/slurm_client.h"

#include <string>

namespace matquant::sweep {

std::string render_slurm_plan(const SweepPlan& plan, const SlurmOptions& options, const std::string& work_dir,
                              const std::string& worker_binary);

}  // namespace matquant::sweep
