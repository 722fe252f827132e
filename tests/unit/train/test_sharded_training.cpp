// Sharded QAT (ZeRO-3 style over c10d) against one process with the same global batch: ranks run
// as threads of this test, each with its own model and a real ProcessGroupGloo over TCPStore.
#include "common/error.h"
#include "distributed/launch_environment.h"
#include "distributed/local_launcher.h"
#include "distributed/process_group.h"
#include "model/pretrained.h"
#include "train/qat_trainer.h"

#include <boost/filesystem.hpp>
#include <torch/cuda.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <iostream>
#include <mutex>
#include <thread>

using namespace matquant;

namespace {

// Sharding changes only the order of floating-point sums (per-rank means then their mean; the
// gradient norm over shards): losses agree to ~1e-6 relative. Adam's first steps divide by
// sqrt(v) ~ |g|, so a weight whose gradient is near eps moves by up to ~lr from a rounding
// difference; measured: 2.6e-6 after one step at lr 1e-3, 3 steps stay under 1e-5.
constexpr double kLossTolerance = 1e-5;
constexpr double kWeightTolerance = 5e-5;

struct TrainedRun {
  std::vector<train::StepReport> curve;
  std::map<std::string, at::Tensor> weights;
};

// Made once, before any rank thread starts: the global generator is not for concurrent use.
const at::Tensor& training_data() {
  static const at::Tensor data = [] {
    at::manual_seed(0);
    const at::Tensor start = at::randint(3, 200, {24, 1}, at::kLong);
    return (start + at::arange(17, at::kLong).view({1, -1})).remainder(253) + 3;
  }();
  return data;
}

train::QatConfig config_for(const std::string& objective, int64_t steps) {
  train::QatConfig c;
  c.objective = objective.empty() ? train::Objective::plain({8, 4, 2}, {0.1, 0.1, 1.0})
                                  : train::Objective::parse(objective, {{8, 1.0}, {4, 1.0}, {2, 1.0}});
  c.schedule.peak = 1e-3;
  c.schedule.warmup_steps = 0;
  c.schedule.total_steps = steps;
  c.batch_size = 6;
  c.gradient_clip = 1.0;
  return c;
}

TrainedRun train_one(train::QatConfig config, const std::shared_ptr<distributed::Communicator>& communicator = nullptr) {
  auto m = model::load_pretrained(std::string(MATQUANT_FIXTURES_DIR) + "/models/llama", {at::kFloat, at::kCPU});
  m->enable_quantization(model::QuantScope::kFfnAndAttention, {});
  config.communicator = communicator;
  TrainedRun run;
  run.curve = train::train_qat(m, training_data(), config).curve;
  for (const auto& [name, w] : m->named_weights()) run.weights[name] = w.detach().clone();
  return run;
}

// Runs body(rank, communicator) on `world` threads joined into one Gloo process group. A rank's
// communicator is closed only once every rank's body has ended (or after a minute, for a rank left
// waiting on one that failed early): a rank that leaves first, say by throwing where all ranks
// throw, must not close its connections while another still finishes the last collective, which
// crashed Gloo now and then under load (ShardedTraining.ResumedRunMatchesUninterruptedOne in CI).
template <typename Body>
void run_ranks(int world, Body body) {
  const int port = distributed::free_local_port();
  std::vector<std::exception_ptr> errors{size_t(world)};
  std::vector<std::thread> threads;
  std::mutex mutex;
  std::condition_variable ended;
  int bodies_ended = 0;
  for (int rank = 0; rank < world; ++rank) {
    threads.emplace_back([&, rank] {
      std::shared_ptr<distributed::Communicator> communicator;
      try {
        distributed::LaunchEnvironment environment;
        environment.rank = rank;
        environment.world_size = world;
        environment.master_port = port;
        communicator = distributed::connect(environment, at::kCPU);
        body(rank, communicator);
      } catch (...) {
        errors[size_t(rank)] = std::current_exception();
      }
      std::unique_lock<std::mutex> lock(mutex);
      ++bodies_ended;
      ended.notify_all();
      ended.wait_for(lock, std::chrono::minutes(1), [&] { return bodies_ended == world; });
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

std::vector<TrainedRun> train_sharded(int world, const train::QatConfig& config) {
  training_data();
  std::vector<TrainedRun> runs{size_t(world)};
  run_ranks(world, [&](int rank, std::shared_ptr<distributed::Communicator> communicator) {
    runs[size_t(rank)] = train_one(config, communicator);
  });
  return runs;
}

void expect_same_training(const TrainedRun& reference, const TrainedRun& sharded, const std::string& what) {
  ASSERT_EQ(reference.curve.size(), sharded.curve.size()) << what;
  for (size_t s = 0; s < reference.curve.size(); ++s) {
    for (const auto& [bits, loss] : reference.curve[s].loss_by_bits) {
      EXPECT_NEAR(sharded.curve[s].loss_by_bits.at(bits), loss, kLossTolerance * std::abs(loss))
          << what << " step " << s + 1 << " int" << bits;
    }
  }
  ASSERT_EQ(reference.weights.size(), sharded.weights.size());
  double largest = 0.0;
  for (const auto& [name, w] : reference.weights) {
    const double difference = (sharded.weights.at(name) - w).abs().max().item<double>();
    EXPECT_LT(difference, kWeightTolerance) << what << " " << name;
    largest = std::max(largest, difference);
  }
  std::cout << what << ": largest weight difference " << largest << "\n";
}

}  // namespace

TEST(ShardedTraining, TwoAndThreeRanksFollowOneProcess) {
  const auto config = config_for("", 3);
  const TrainedRun reference = train_one(config);
  ASSERT_EQ(reference.curve.size(), 3u);
  // Training moved the weights well beyond the tolerance: the comparison can fail.
  auto untrained = model::load_pretrained(std::string(MATQUANT_FIXTURES_DIR) + "/models/llama", {at::kFloat, at::kCPU});
  double moved = 0.0;
  for (const auto& [name, w] : untrained->named_weights()) {
    moved = std::max(moved, (reference.weights.at(name) - w).abs().max().item<double>());
  }
  EXPECT_GT(moved, 20 * kWeightTolerance);
  for (const int world : {2, 3}) {
    const auto runs = train_sharded(world, config);
    for (int rank = 0; rank < world; ++rank) {
      expect_same_training(reference, runs[size_t(rank)], std::to_string(world) + " ranks, rank " + std::to_string(rank));
    }
  }
}

TEST(ShardedTraining, OneRankFollowsPlainTraining) {
  // The path a single GPU with offloaded AdamW moments takes: parameters point into the master
  // shard itself, gradients are added to it without a collective.
  const auto config = config_for("", 3);
  expect_same_training(train_one(config), train_one(config, distributed::single_process_communicator()), "1 rank");
  // A process group of one rank takes the collective path (gathers into separate buffers,
  // asynchronous reductions).
  expect_same_training(train_one(config), train_sharded(1, config)[0], "a Gloo group of 1 rank");
}

TEST(ShardedTraining, CoDistillationFollowsOneProcess) {
  const auto config = config_for("[8, 4, 8->2]", 2);
  expect_same_training(train_one(config), train_sharded(2, config)[0], "[8, 4, 8->2] on 2 ranks");
}

TEST(ShardedTraining, ResumedRunMatchesUninterruptedOne) {
  namespace fs = boost::filesystem;
  const fs::path dir = fs::temp_directory_path() / fs::unique_path("matquant-sharded-state-%%%%%%");
  auto config = config_for("", 4);
  const auto uninterrupted = train_sharded(2, config);
  config.state_dir = dir.string();
  config.save_every = 1;
  // Both ranks stop after step 2's state is saved, as a killed run would.
  auto stopping = config;
  stopping.on_step = [](const train::StepReport& r) {
    if (r.step == 2) throw std::runtime_error("stopped");
  };
  EXPECT_THROW(train_sharded(2, stopping), std::runtime_error);
  EXPECT_TRUE(fs::exists(dir / "step-2" / "rank-1-of-2.pt"));
  const auto resumed = train_sharded(2, config);
  ASSERT_EQ(resumed[0].curve.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(resumed[0].curve[i].loss_by_bits.at(2), uninterrupted[0].curve[i].loss_by_bits.at(2)) << i;
  }
  for (const auto& [name, w] : uninterrupted[0].weights) {
    EXPECT_TRUE(at::equal(resumed[0].weights.at(name), w)) << name;
  }
  // A state saved by 2 ranks is refused by 3.
  auto three = config_for("", 4);
  three.state_dir = dir.string();
  EXPECT_THROW(train_sharded(3, three), Error);
  fs::remove_all(dir);
}

TEST(ShardedTraining, GlobalBatchMustSplitEvenly) {
  auto config = config_for("", 1);
  config.batch_size = 5;
  EXPECT_THROW(train_sharded(2, config), Error);
}

// The NCCL process group on the one GPU a test machine has: a group of one rank still runs every
// collective through NCCL, the trainer's asynchronous gathers and reductions included (only the
// in-process communicator of the offload path skips them; the CPU tests above cover several ranks
// through Gloo).
TEST(ShardedTraining, NcclGroupOfOneRankOnTheGpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  distributed::LaunchEnvironment environment;
  environment.master_port = distributed::free_local_port();
  const auto communicator = distributed::connect(environment, at::Device("cuda:0"));
  EXPECT_EQ(communicator->backend(), "nccl");
  const auto options = at::TensorOptions().device(at::Device("cuda:0"));
  at::Tensor shard = at::arange(4, options.dtype(at::kFloat));
  at::Tensor full = at::zeros({4}, options.dtype(at::kFloat));
  communicator->all_gather(full, shard)->wait();
  EXPECT_TRUE(at::equal(full.cpu(), shard.cpu()));
  at::Tensor reduced = at::zeros({4}, options.dtype(at::kFloat));
  communicator->reduce_scatter_sum(reduced, full * 2)->wait();
  EXPECT_TRUE(at::equal(reduced.cpu(), (shard * 2).cpu()));
  at::Tensor value = at::ones({1}, options.dtype(at::kDouble));
  communicator->all_reduce_sum(value);
  EXPECT_EQ(value.item<double>(), 1.0);
  communicator->barrier();
  // Sharded training through NCCL follows plain training on the GPU (fp32, no autocast).
  auto train_on_gpu = [&](bool sharded, bool autocast) {
    auto m = model::load_pretrained(std::string(MATQUANT_FIXTURES_DIR) + "/models/llama", {at::kFloat, at::kCPU});
    m->enable_quantization(model::QuantScope::kFfnAndAttention, {});
    auto config = config_for("", 3);
    config.bf16_autocast = autocast;
    if (sharded) {
      config.communicator = communicator;
      config.shard_device = at::Device("cuda:0");
    } else {
      m->to(at::Device("cuda:0"));
    }
    TrainedRun run;
    run.curve = train::train_qat(m, training_data(), config).curve;
    for (const auto& [name, w] : m->named_weights()) run.weights[name] = w.detach().cpu().clone();
    return run;
  };
  expect_same_training(train_on_gpu(false, false), train_on_gpu(true, false), "NCCL, 1 rank");
  // Under bf16 autocast (as training runs on GPUs) the sharded block is recomputed in backward, so
  // rounding differs from the plain run's; the losses stay within bf16's precision.
  const TrainedRun plain = train_on_gpu(false, true), sharded = train_on_gpu(true, true);
  for (size_t step = 0; step < plain.curve.size(); ++step) {
    for (const auto& [bits, loss] : plain.curve[step].loss_by_bits) {
      EXPECT_NEAR(sharded.curve[step].loss_by_bits.at(bits), loss, 1e-2 * std::abs(loss)) << step << " int" << bits;
    }
  }
}

TEST(LaunchEnvironment, TorchrunAndSlurmConventions) {
  EXPECT_FALSE(distributed::launch_environment_from({}).has_value());
  EXPECT_FALSE(distributed::launch_environment_from({{"WORLD_SIZE", "1"}, {"RANK", "0"}}).has_value());
  const auto torchrun = distributed::launch_environment_from(
      {{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "1234"}});
  ASSERT_TRUE(torchrun.has_value());
  EXPECT_EQ(torchrun->rank, 3);
  EXPECT_EQ(torchrun->local_rank, 1);
  EXPECT_EQ(torchrun->master_addr, "node7");
  EXPECT_EQ(torchrun->master_port, 1234);
  const auto slurm = distributed::launch_environment_from(
      {{"SLURM_NTASKS", "8"}, {"SLURM_PROCID", "5"}, {"SLURM_LOCALID", "1"}, {"MASTER_ADDR", "n1"}});
  ASSERT_TRUE(slurm.has_value());
  EXPECT_EQ(slurm->world_size, 8);
  EXPECT_EQ(slurm->rank, 5);
  EXPECT_EQ(slurm->local_rank, 1);
  EXPECT_THROW(distributed::launch_environment_from({{"WORLD_SIZE", "2"}}), Error);  // no RANK
  EXPECT_THROW(distributed::launch_environment_from({{"WORLD_SIZE", "2"}, {"RANK", "2"}}), Error);
  EXPECT_THROW(distributed::launch_environment_from({{"WORLD_SIZE", "two"}, {"RANK", "0"}}), Error);
  EXPECT_THROW(distributed::launch_environment_from({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_PORT", "70000"}}),
               Error);
}

TEST(LocalLauncher, OptionIsRemovedWithItsValue) {
  EXPECT_EQ(distributed::without_option({"a", "--nproc", "2", "b", "--nproc=3", "c"}, "--nproc"),
            (std::vector<std::string>{"a", "b", "c"}));
}
