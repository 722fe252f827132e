#pragma once
// The c10d backends matquant creates (private to lib/distributed). Gloo is always built; NCCL only
// when LibTorch has CUDA (nccl_backend.cpp), else nccl_backend_unavailable.cpp refuses.
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

namespace matquant::distributed {

c10::intrusive_ptr<c10d::Backend> make_gloo_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                    int world_size);
c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                    int world_size);

}  // namespace matquant::distributed
