#pragma once
// What `matquant sweep plan` and `matquant sweep status` print.
#include "sweep/expand.h"

#include <string>

namespace matquant::store {
class Database;
}

namespace matquant::sweep {

// One line per run: name, the fields that vary across the sweep, precisions, run key prefix; then
// the run count, the job count and how many of the jobs are shared.
std::string render_plan_table(const SweepPlan& plan);

// Runs and jobs of a sweep by status, each failed job with the first lines of its error, and the
// runs not yet done. Reads the database only.
std::string render_sweep_status(const store::Database& db, const std::string& sweep_name);

}  // namespace matquant::sweep
