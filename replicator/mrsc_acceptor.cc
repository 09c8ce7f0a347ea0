#include "replicator/mrsc_acceptor.h"

#include <algorithm>

#include "model/status_macros.h"

namespace gtsim {

absl::StatusOr<AcceptorItem> MemoryAcceptorStore::Load(const std::string& key) {
  auto it = items_.find(key);
  return it == items_.end() ? AcceptorItem{} : it->second;
}

absl::Status MemoryAcceptorStore::Save(const std::string& key, const AcceptorItem& item) {
  if (fail_saves) return absl::UnavailableError("acceptor store: save refused (fail_saves)");
  items_[key] = item;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, AcceptorItem>>> MemoryAcceptorStore::Scan(
    const std::string& after_key, int limit) {
  std::vector<std::pair<std::string, AcceptorItem>> out;
  auto it = after_key.empty() ? items_.begin() : items_.upper_bound(after_key);
  for (; it != items_.end() && static_cast<int>(out.size()) < limit; ++it) out.push_back(*it);
  return out;
}

absl::Status MemoryAcceptorStore::SaveBallotFloor(int64_t floor) {
  if (fail_saves) return absl::UnavailableError("acceptor store: save refused (fail_saves)");
  floor_ = floor;
  return absl::OkStatus();
}

absl::StatusOr<PromiseMsg> Acceptor::OnPrepare(const PrepareMsg& m) {
  ASSIGN_OR_RETURN(AcceptorItem item, store_->Load(m.key));
  PromiseMsg reply;
  reply.key = m.key;
  reply.ballot = m.ballot;
  if (m.ballot < item.promised || m.ballot < item.accepted) {
    reply.ok = false;
    reply.promised = std::max(item.promised, item.accepted);
    return reply;
  }
  if (item.promised != m.ballot) {
    item.promised = m.ballot;
    RETURN_IF_ERROR(store_->Save(m.key, item));
  }
  reply.ok = true;
  reply.promised = item.promised;
  reply.accepted = item.accepted;
  reply.value = item.accepted_value;
  return reply;
}

absl::StatusOr<AcceptedMsg> Acceptor::OnAccept(const AcceptMsg& m) {
  ASSIGN_OR_RETURN(AcceptorItem item, store_->Load(m.key));
  AcceptedMsg reply;
  reply.key = m.key;
  reply.ballot = m.ballot;
  if (m.ballot == item.accepted && m.value == item.accepted_value && m.ballot < item.promised) {
    // A retransmission of what it already took (its first answer was lost): the same answer,
    // although it has promised a higher ballot since (the piggybacked one, or another's).
    reply.ok = true;
    reply.promised = item.promised;
    reply.next_ok = !m.next.is_zero() && item.promised == m.next;
    return reply;
  }
  if (m.ballot < item.promised) {
    reply.ok = false;
    reply.promised = item.promised;
    reply.accepted = item.accepted;
    return reply;
  }
  item.accepted = m.ballot;
  item.accepted_value = m.value;
  item.promised = m.ballot;
  if (!m.next.is_zero() && m.ballot < m.next) {
    item.promised = m.next;
    reply.next_ok = true;
  }
  RETURN_IF_ERROR(store_->Save(m.key, item));
  reply.ok = true;
  reply.promised = item.promised;
  return reply;
}

absl::StatusOr<bool> Acceptor::OnCommit(const CommitMsg& m) {
  if (!replica_) return false;
  ASSIGN_OR_RETURN(AcceptorItem item, store_->Load(m.key));
  if (m.ballot <= item.committed) return false;
  item.committed = m.ballot;
  item.committed_value = m.value;
  RETURN_IF_ERROR(store_->Save(m.key, item));
  return true;
}

absl::StatusOr<SyncPage> Acceptor::OnSync(const SyncRequest& m) {
  ASSIGN_OR_RETURN(auto rows, store_->Scan(m.after_key, std::max(1, m.limit)));
  SyncPage page;
  page.sync_id = m.sync_id;
  page.after_key = m.after_key;
  for (auto& [key, item] : rows) {
    page.entries.push_back(
        {key, item.accepted, item.accepted_value, item.committed, item.committed_value});
  }
  page.done = static_cast<int>(rows.size()) < std::max(1, m.limit);
  return page;
}

}  // namespace gtsim
