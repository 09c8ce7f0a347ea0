// The scenario runner's Driver over gRPC, against the real region processes of a LocalCluster.
//
// Faults and the network model given here are also stored in the cluster (cluster.json), so a
// region restarted by this driver comes back with the same cuts, clock skew and link models.
//
// This type is thread-safe.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "proto/gtsim/admin.grpc.pb.h"
#include "proto/gtsim/region.grpc.pb.h"
#include "sim/launcher/cluster.h"
#include "sim/scenario/driver.h"

namespace gtsim {

class GrpcScenarioDriver : public scenario::Driver {
 public:
  // `cluster` must outlive the driver; its regions' addresses are fixed for its life.
  explicit GrpcScenarioDriver(LocalCluster* cluster);

  absl::Status CreateTable(const std::string& region, const TableSpec& spec) override;
  absl::Status UpdateTable(const std::string& region, const UpdateTableRequest& req) override;
  absl::StatusOr<TableInfo> DescribeTable(const std::string& region, const std::string& table,
                                          absl::Duration timeout) override;
  absl::StatusOr<std::vector<Item>> QueryIndex(const std::string& region, const std::string& table,
                                               const std::string& index, const AttributeValue& hash,
                                               absl::Duration timeout) override;
  absl::StatusOr<WriteResult> Put(const std::string& region, const std::string& table,
                                  const Item& item, const Condition& condition,
                                  absl::Duration timeout) override;
  absl::StatusOr<WriteResult> Update(const std::string& region, const std::string& table,
                                     const Item& key, const Item& set, const Condition& condition,
                                     absl::Duration timeout) override;
  absl::StatusOr<WriteResult> Delete(const std::string& region, const std::string& table,
                                     const Item& key, const Condition& condition,
                                     absl::Duration timeout) override;
  absl::StatusOr<GetResult> Get(const std::string& region, const std::string& table,
                                const Item& key, absl::Duration timeout) override;
  absl::StatusOr<std::vector<TableEngine::Version>> Dump(const std::string& region,
                                                         const TableSpec& spec,
                                                         bool with_stamps) override;
  absl::Status Kill(const std::string& region) override;
  absl::Status Restart(const std::string& region) override;
  absl::Status Pause(const std::string& region) override;
  absl::Status Resume(const std::string& region) override;
  absl::Status Wipe(const std::string& region) override;
  absl::Status SetBlocked(const std::string& origin, const std::string& receiver,
                          bool blocked) override;
  absl::Status SetClockSkew(const std::string& region, int64_t skew_us) override;
  absl::Status SetLink(const std::string& origin, const std::string& receiver,
                       const LinkDelay& link) override;
  absl::StatusOr<RegionStatus> Status(const std::string& region, absl::Duration timeout) override;

  // Resumes paused regions and stops every region (SIGTERM, then SIGKILL).
  absl::Status StopAll();

 private:
  struct Stubs {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<pb::RegionApi::Stub> api;
    std::unique_ptr<pb::Admin::Stub> admin;
  };
  Stubs& For(const std::string& region);
  // Writes the driver's cuts, skews and links into cluster.json (for restarts).
  absl::Status SaveCluster() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  LocalCluster* cluster_;
  std::map<std::string, Stubs> stubs_;  // fixed at construction
  absl::Mutex mu_;
  std::set<std::pair<std::string, std::string>> blocked_
      ABSL_GUARDED_BY(mu_);  // (origin, receiver)
  std::set<std::string> paused_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gtsim
