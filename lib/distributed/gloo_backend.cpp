// ProcessGroupGloo.hpp is compiled only with USE_C10D_GLOO and needs Gloo's headers, which the torch
// wheel does not ship: Debian's libgloo-dev provides them (the library itself is LibTorch's copy;
// we only name Options::create_default and the constructor, both defined inside libtorch_cpu).
#include "distributed/backend_factories.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

namespace matquant::distributed {

c10::intrusive_ptr<c10d::Backend> make_gloo_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                    int world_size) {
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world_size,
                                                     c10d::ProcessGroupGloo::Options::create_default());
}

}  // namespace matquant::distributed
