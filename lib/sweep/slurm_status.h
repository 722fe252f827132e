#pragma once
// `sweep status` with jobs in Slurm: what Slurm says of every job the database records as queued or
// running (squeue), so a status taken while no runner is up still shows where each job is.
#include "store/database.h"

#include <string>

namespace matquant::sweep {

// "" when no job of the sweep was submitted to Slurm (JOB_DIR/slurm.job) and is still open.
std::string render_slurm_status(const store::Database& db, const std::string& sweep_name, const std::string& work_dir);

}  // namespace matquant::sweep
