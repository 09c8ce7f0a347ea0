// KMS DescribeKey for the keys DynamoDB tables use (see kms_keys.h).

#include "region/http/kms_keys.h"

#include <cstdio>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "region/ddb_describe.h"

namespace gtsim::ddb {

namespace {

using json = nlohmann::json;

constexpr absl::string_view kAccount = "000000000000";
constexpr absl::string_view kManagedAlias = "alias/aws/dynamodb";

DynamoDbEndpoint::Reply KmsError(absl::string_view type, const std::string& message) {
  return {400, json{{"__type", type}, {"message", message}}.dump(), "application/x-amz-json-1.1"};
}

std::string KeyArn(const std::string& region, const std::string& id) {
  return absl::StrCat("arn:aws:kms:", region, ":", kAccount, ":key/", id);
}

json Metadata(const std::string& region, const std::string& id, bool managed) {
  return {{"AWSAccountId", kAccount},
          {"KeyId", id},
          {"Arn", KeyArn(region, id)},
          {"CreationDate", 0.0},
          {"Enabled", true},
          {"Description", managed ? "Default key that protects my DynamoDB data when no other "
                                    "key is defined"
                                  : ""},
          {"KeyUsage", "ENCRYPT_DECRYPT"},
          {"KeyState", "Enabled"},
          {"Origin", "AWS_KMS"},
          {"KeyManager", managed ? "AWS" : "CUSTOMER"},
          {"CustomerMasterKeySpec", "SYMMETRIC_DEFAULT"},
          {"KeySpec", "SYMMETRIC_DEFAULT"},
          {"EncryptionAlgorithms", json::array({"SYMMETRIC_DEFAULT"})},
          {"MultiRegion", false}};
}

// The key id in `name` (a bare id, a key ARN of `region`), or nullopt when it names an alias.
std::optional<std::string> KeyIdOf(const std::string& name, const std::string& region) {
  std::string prefix = absl::StrCat("arn:aws:kms:", region, ":", kAccount, ":key/");
  if (absl::StartsWith(name, prefix)) return name.substr(prefix.size());
  if (absl::StartsWith(name, "arn:") || absl::StartsWith(name, "alias/")) return std::nullopt;
  return name;
}

// An alias name (alias/...) from `name` (an alias or an alias ARN of `region`), or nullopt.
std::optional<std::string> AliasOf(const std::string& name, const std::string& region) {
  std::string prefix = absl::StrCat("arn:aws:kms:", region, ":", kAccount, ":");
  if (absl::StartsWith(name, "alias/")) return name;
  if (absl::StartsWith(name, prefix) && absl::StartsWith(name.substr(prefix.size()), "alias/")) {
    return name.substr(prefix.size());
  }
  return std::nullopt;
}

}  // namespace

std::string ManagedDynamoDbKeyId(const std::string& region) {
  uint64_t a = Fnv1a(absl::StrCat("gtsim/kms/", region, "/", kManagedAlias));
  uint64_t b = Fnv1a(absl::StrCat(kManagedAlias, "/", region, "/gtsim/kms"));
  char id[37];
  // A version-4-shaped UUID from the two hashes.
  std::snprintf(id, sizeof(id), "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffull));
  return id;
}

DynamoDbEndpoint::Reply KmsOperation(const std::string& op, const std::string& body,
                                     const std::string& region,
                                     const std::vector<std::string>& table_keys) {
  if (op != "DescribeKey") {
    return KmsError("UnsupportedOperationException",
                    absl::StrCat("KMS ", op,
                                 " is not supported by gtsim (only DescribeKey of "
                                 "the keys DynamoDB tables use)"));
  }
  json req = json::parse(body.empty() ? std::string("{}") : body, nullptr, false);
  if (req.is_discarded() || !req.is_object()) {
    return KmsError("SerializationException", "the request body is not a JSON object");
  }
  auto k = req.find("KeyId");
  if (k == req.end() || !k->is_string() || k->get<std::string>().empty()) {
    return KmsError("ValidationException",
                    "1 validation error detected: Value null at 'keyId' failed to satisfy "
                    "constraint: Member must not be null");
  }
  const std::string name = k->get<std::string>();
  const std::string managed = ManagedDynamoDbKeyId(region);
  auto ok = [](const json& metadata) {
    return DynamoDbEndpoint::Reply{200, json{{"KeyMetadata", metadata}}.dump(),
                                   "application/x-amz-json-1.1"};
  };
  std::optional<std::string> alias = AliasOf(name, region);
  std::optional<std::string> id = KeyIdOf(name, region);
  if ((alias && *alias == kManagedAlias) || (id && *id == managed)) {
    return ok(Metadata(region, managed, /*managed=*/true));
  }
  for (const std::string& key : table_keys) {
    if (key == name || (id && KeyIdOf(key, region) == id) ||
        (alias && AliasOf(key, region) == alias)) {
      // A table's key named by alias answers with the alias as its id (gtsim keeps no key
      // material, only the name the table was given).
      return ok(Metadata(region, id ? *id : *alias, /*managed=*/false));
    }
  }
  // KMS's NotFoundException; the texts are as moto answers them (AWS's could not be confirmed).
  if (alias) {
    return KmsError("NotFoundException", absl::StrCat("Alias arn:aws:kms:", region, ":", kAccount,
                                                      ":", *alias, " is not found."));
  }
  return KmsError("NotFoundException",
                  absl::StrCat("Key '", id ? KeyArn(region, *id) : name, "' does not exist"));
}

}  // namespace gtsim::ddb
