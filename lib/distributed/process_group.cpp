#include "distributed/process_group.h"

#include "common/error.h"
#include "distributed/backend_factories.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <fmt/format.h>

#include <chrono>

namespace matquant::distributed {

namespace {

class BackendCollective : public PendingCollective {
 public:
  explicit BackendCollective(c10::intrusive_ptr<c10d::Work> work) : work_(std::move(work)) {}
  void wait() override {
    if (work_) work_->wait();
    work_.reset();
  }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
};

class BackendCommunicator : public Communicator {
 public:
  BackendCommunicator(c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<c10d::Backend> backend,
                      std::string name)
      : store_(std::move(store)), backend_(std::move(backend)), name_(std::move(name)) {}
  // NCCL wants its communicators shut down before exit (else it warns of leaked resources).
  ~BackendCommunicator() override {
    try {
      backend_->shutdown();
    } catch (const std::exception&) {  // a group that failed cannot be shut down cleanly either
    }
  }
  int rank() const override { return backend_->getRank(); }
  int world_size() const override { return backend_->getSize(); }
  std::unique_ptr<PendingCollective> all_gather(at::Tensor full, at::Tensor shard) override {
    return std::make_unique<BackendCollective>(backend_->_allgather_base(full, shard));
  }
  std::unique_ptr<PendingCollective> reduce_scatter_sum(at::Tensor shard, at::Tensor full) override {
    return std::make_unique<BackendCollective>(backend_->_reduce_scatter_base(shard, full));
  }
  void all_reduce_sum(at::Tensor tensor) override {
    std::vector<at::Tensor> tensors{tensor};
    backend_->allreduce(tensors)->wait();
  }
  void barrier() override { backend_->barrier()->wait(); }
  std::string backend() const override { return name_; }

 private:
  c10::intrusive_ptr<c10d::Store> store_;  // the backend keeps using it (e.g. NCCL's unique id exchange)
  c10::intrusive_ptr<c10d::Backend> backend_;
  std::string name_;
};

class SingleProcessCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::unique_ptr<PendingCollective> all_gather(at::Tensor full, at::Tensor shard) override {
    full.copy_(shard.reshape(full.sizes()));
    return std::make_unique<BackendCollective>(c10::intrusive_ptr<c10d::Work>());
  }
  std::unique_ptr<PendingCollective> reduce_scatter_sum(at::Tensor shard, at::Tensor full) override {
    shard.copy_(full.reshape(shard.sizes()));
    return std::make_unique<BackendCollective>(c10::intrusive_ptr<c10d::Work>());
  }
  void all_reduce_sum(at::Tensor) override {}
  void barrier() override {}
  std::string backend() const override { return "single"; }
};

}  // namespace

std::shared_ptr<Communicator> single_process_communicator() { return std::make_shared<SingleProcessCommunicator>(); }

std::shared_ptr<Communicator> connect(const LaunchEnvironment& environment, const c10::Device& device) {
  const std::string where = fmt::format("{}:{} as rank {} of {}", environment.master_addr, environment.master_port,
                                        environment.rank, environment.world_size);
  // NCCL works on the current device; make it this rank's before anything is created there.
  if (device.is_cuda() && device.has_index()) c10::impl::getDeviceGuardImpl(device.type())->setDevice(device);
  c10::intrusive_ptr<c10d::Store> store;
  try {
    c10d::TCPStoreOptions options;
    options.port = uint16_t(environment.master_port);
    options.isServer = environment.rank == 0;
    options.numWorkers = environment.world_size;
    options.waitWorkers = true;
    options.timeout = std::chrono::seconds(300);
    store = c10::make_intrusive<c10d::TCPStore>(environment.master_addr, options);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kDistributed, "could not join the process group at " + where + ": " +
                                             std::string(e.what()).substr(0, std::string(e.what()).find('\n')));
  }
  try {
    if (device.is_cuda()) {
      return std::make_shared<BackendCommunicator>(
          store, make_nccl_backend(store, environment.rank, environment.world_size), "nccl");
    }
    return std::make_shared<BackendCommunicator>(store, make_gloo_backend(store, environment.rank, environment.world_size),
                                                 "gloo");
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kDistributed, "could not start the " + std::string(device.is_cuda() ? "NCCL" : "Gloo") +
                                             " process group at " + where + ": " +
                                             std::string(e.what()).substr(0, std::string(e.what()).find('\n')));
  }
}

}  // namespace matquant::distributed
