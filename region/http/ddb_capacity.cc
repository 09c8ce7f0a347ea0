// ConsumedCapacity in DynamoDB's shape (see ddb_capacity.h).

#include "region/http/ddb_capacity.h"

#include "model/status_macros.h"
#include "region/http/ddb_request.h"

namespace gtsim::ddb {

absl::StatusOr<CapacityDetail> CapacityDetailOf(const json& req) {
  ASSIGN_OR_RETURN(auto v, OptString(req, "ReturnConsumedCapacity"));
  if (!v || *v == "NONE") return CapacityDetail::kNone;
  if (*v == "TOTAL") return CapacityDetail::kTotal;
  if (*v == "INDEXES") return CapacityDetail::kIndexes;
  return EnumError(*v, "returnConsumedCapacity", "INDEXES, TOTAL, NONE");
}

void Consumption::AddWrite(const WriteResult& r, double factor) {
  table_write += factor * static_cast<double>(r.write_units);
  for (const auto& [name, units] : r.index_write_units) {
    indexes[name].second += factor * static_cast<double>(units);
  }
}

void Consumption::AddRead(int64_t bytes, bool consistent, const std::string& index, double factor) {
  double units = factor * TableEngine::ReadUnits(bytes, consistent);
  if (index.empty()) {
    table_read += units;
  } else {
    indexes[index].first += units;
  }
}

namespace {

// {CapacityUnits, ReadCapacityUnits, WriteCapacityUnits}, the last two only when non-zero.
json Units(double read, double write) {
  json j = {{"CapacityUnits", read + write}};
  if (read > 0) j["ReadCapacityUnits"] = read;
  if (write > 0) j["WriteCapacityUnits"] = write;
  return j;
}

}  // namespace

json ConsumedCapacityJson(const TableSpec& spec, const Consumption& c, CapacityDetail detail) {
  double read = c.table_read, write = c.table_write;
  for (const auto& [name, rw] : c.indexes) {
    read += rw.first;
    write += rw.second;
  }
  json out = Units(read, write);
  out["TableName"] = spec.name;
  if (detail != CapacityDetail::kIndexes) return out;
  out["Table"] = Units(c.table_read, c.table_write);
  for (const auto& [name, rw] : c.indexes) {
    auto g = spec.gsis.find(name);
    bool local = g != spec.gsis.end() && g->second.local;
    out[local ? "LocalSecondaryIndexes" : "GlobalSecondaryIndexes"][name] =
        Units(rw.first, rw.second);
  }
  return out;
}

void AddConsumedCapacity(json& out, const TableSpec& spec, const Consumption& c,
                         CapacityDetail detail) {
  if (detail != CapacityDetail::kNone)
    out["ConsumedCapacity"] = ConsumedCapacityJson(spec, c, detail);
}

void AddConsumedCapacityList(json& out, const std::vector<TableSpec>& specs, const Consumptions& c,
                             CapacityDetail detail) {
  if (detail == CapacityDetail::kNone) return;
  json list = json::array();
  for (const auto& [table, consumption] : c) {
    TableSpec gone;
    gone.name = table;
    const TableSpec* spec = &gone;
    for (const TableSpec& s : specs) {
      if (s.name == table) spec = &s;
    }
    list.push_back(ConsumedCapacityJson(*spec, consumption, detail));
  }
  out["ConsumedCapacity"] = std::move(list);
}

}  // namespace gtsim::ddb
