#include "distributed/backend_factories.h"

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

namespace matquant::distributed {

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                    int world_size) {
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world_size,
                                                     c10d::ProcessGroupNCCL::Options::create());
}

}  // namespace matquant::distributed
