#pragma once
// A c10d process group for this rank: rendezvous at MASTER_ADDR:MASTER_PORT through TCPStore
// (rank 0 serves it), then ProcessGroupNCCL for a CUDA device or ProcessGroupGloo for the CPU.
#include "distributed/communicator.h"
#include "distributed/launch_environment.h"

#include <c10/core/Device.h>

namespace matquant::distributed {

// Blocks until every rank has joined (or the store's timeout passes: an error naming the address).
std::shared_ptr<Communicator> connect(const LaunchEnvironment& environment, const c10::Device& device);

}  // namespace matquant::distributed
