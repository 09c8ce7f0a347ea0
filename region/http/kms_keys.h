// KMS's DescribeKey on a region's DynamoDB endpoint (JSON 1.1, X-Amz-Target
// "TrentService.DescribeKey"), so a client whose `kms` endpoint is the region's URL (the Terraform
// AWS provider's refresh of aws_dynamodb_table calls DescribeKey alias/aws/dynamodb in every
// region) gets an answer. Only the keys DynamoDB tables use are known: the AWS managed key
// alias/aws/dynamodb of the region (KeyManager AWS; its key id is a UUID derived from the
// region's name, the same on every call and restart, different per region) and the keys
// tables of this region name as KMSMasterKeyId (KeyManager CUSTOMER). Anything else, and every
// other KMS operation, is KMS's NotFoundException / UnsupportedOperationException. No
// encryption happens: gtsim stores items unencrypted whatever SSESpecification says.
//
// Stateless and thread-safe; never throws.
#pragma once

#include <string>
#include <vector>

#include "region/http/dynamodb_endpoint.h"

namespace gtsim::ddb {

// Answers KMS operation `op` (the target after "TrentService.") with request body `body`, for
// region `region` whose tables name `table_keys` (KMSMasterKeyId values, any form).
DynamoDbEndpoint::Reply KmsOperation(const std::string& op, const std::string& body,
                                     const std::string& region,
                                     const std::vector<std::string>& table_keys);

// The key id (a UUID) of `region`'s AWS managed key alias/aws/dynamodb.
std::string ManagedDynamoDbKeyId(const std::string& region);

}  // namespace gtsim::ddb
