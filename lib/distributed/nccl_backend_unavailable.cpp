#include "distributed/backend_factories.h"

#include "common/error.h"

namespace matquant::distributed {

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>&, int, int) {
  throw Error(ErrorCode::kDistributed, "multi-GPU training needs NCCL, and this build's LibTorch has no CUDA");
}

}  // namespace matquant::distributed
