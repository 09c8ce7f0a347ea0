// A DynamoDB-compatible endpoint for one region: DynamoDB's JSON 1.0 protocol over HTTP/1.1, so
// the AWS CLI, the AWS SDKs and users' own applications talk to a gtsim region unchanged.
//
// Protocol contract:
// - POST / with `X-Amz-Target: DynamoDB_20120810.<Operation>` and a JSON body (the
//   Content-Type application/x-amz-json-1.0 is expected but not enforced), Content-Length
//   bodies up to 16 MB. Served by gtsim's own event-driven HTTP/1.1 server (http_server.h):
//   one epoll event-loop thread for every connection (keep-alive, pipelining, an idle
//   connection closed after 10 s), so connections cost no thread. Where each operation runs:
//   * PutItem, UpdateItem, DeleteItem (the hot path): parsed and validated on the loop thread
//     as each request arrives; once the loop has read every ready connection, it commits all
//     the writes it gathered as ONE group of the region's group commit, leading it itself
//     (Region::WriteLed: same queue, savepoints and COMMIT as every other local write),
//     and answers each after the COMMIT. No thread is parked per write and no write is handed
//     to another thread: measured against handing them to the region's committer thread
//     (a variant measured and dropped; answers queued back to the loop through an eventfd), it
//     costs 46-48 us of region CPU per write instead of 56-66 us (docs/BENCHMARKS.md, endpoint).
//     While it commits, the loop reads nothing: on 2 cores nothing is lost, the next requests wait
//     in the sockets and make the next group.
//   * GetItem: inline on the loop thread (one short read under the region's lock).
//   * Everything else (Query, Scan, batches, transactions, control plane, streams): a pool of 4
//     worker threads, so a long Scan page or a bootstrapping UpdateTable never stalls the loop
//     and its other connections.
//   Order on one connection (pipelining): answers always come back in request order. Before a
//   GetItem runs or another operation goes to the pool, the writes read so far are committed,
//   so a request sees every write sent before it. A request sent after a pool operation on the
//   same pipelined connection may run before that operation finishes (AWS SDKs and the CLI do
//   not pipeline: they wait for each answer).
//   One event loop: a second one (measured) added no throughput on this 2-core machine and
//   cost more CPU per write.
//   Request signatures are accepted without checking, as local emulators do. GET / answers
//   "healthy: dynamodb.<region>.amazonaws.com"; GET /metrics answers the
//   region's Prometheus metrics (metrics_endpoint.h, on the worker pool); other paths and
//   methods answer 404. Every JSON
//   answer carries an x-amzn-RequestId header.
// - Success: HTTP 200 and the operation's JSON. Errors: DynamoDB's shape, HTTP 400 with
//   {"__type": "com.amazonaws.dynamodb.v20120810#<Name>", "message": "..."} for client errors
//   (ValidationException, ResourceNotFoundException, ResourceInUseException,
//   ConditionalCheckFailedException — with "Item" when ReturnValuesOnConditionCheckFailure is
//   ALL_OLD —, SerializationException, UnknownOperationException), HTTP 500 InternalServerError
//   for internal failures. absl status codes are mapped to these in one place (ErrorFor).
// - Legacy parameters (Expected + ConditionalOperator, AttributeUpdates, AttributesToGet,
//   KeyConditions, QueryFilter, ScanFilter) are translated into the expressions they stand for
//   and evaluated by the same engine (ddb_legacy.h); mixed with expression parameters in one
//   request, they are DynamoDB's ValidationException.
// - Conditions and updates evaluate against this region's local copy (Region::Write), as
//   in a DynamoDB global table; the write then replicates like any other.
// - TransactWriteItems checks every condition against the local copy and commits every write
//   in ONE SQLite transaction (Region::Transact), or writes nothing and answers
//   TransactionCanceledException with one CancellationReason per action (Code None,
//   ConditionalCheckFailed — with "Item" when asked — or ValidationError). Atomic in this region
//   only: other regions receive the writes as they replicate. ClientRequestToken makes a retry
//   within 10 minutes a no-op (remembered in memory; IdempotentParameterMismatchException when
//   the same token comes with a different request). TransactGetItems reads under one lock.
// - BatchWriteItem validates the whole batch, then writes it in one transaction; with a
//   PROVISIONED table in the batch it writes one item at a time and returns the writes beyond
//   the table's write capacity in UnprocessedItems (ProvisionedThroughputExceededException when
//   none fit). BatchGetItem answers at most 16 MB of items and returns the remaining keys in
//   UnprocessedKeys, as DynamoDB does, and so are the keys of a PROVISIONED table beyond its read
//   capacity (ProvisionedThroughputExceededException when not one key could be read).
// - Read capacity of PROVISIONED tables (Region::ConsumeReadCapacity) is charged here, after
//   each read, in DynamoDB's read units (4 KB each, half for eventually consistent reads, twice
//   for TransactGetItems; Query and Scan by the bytes their page read): a read the table cannot
//   pay for answers ProvisionedThroughputExceededException.
// - TransactWriteItems: at most 100 actions and 4 MB of items (Put items and the others' keys
//   up front, ValidationException; what Updates make of their items, a ValidationError
//   cancellation).
// - UpdateTable maps to Region::UpdateTable: ReplicaUpdates (one Create, Update or Delete per
//   call, and nothing else in it, never for the local region; the new replica bootstraps from a
//   snapshot; an Update sets another replica's TableClassOverride or KMSMasterKeyId, which reach
//   it with the table definition; ProvisionedThroughputOverride needs a PROVISIONED table, which
//   a gtsim global table never is), GlobalSecondaryIndexUpdates
//   (one Create or Delete; the index backfills, IndexStatus CREATING then ACTIVE), BillingMode
//   and ProvisionedThroughput (WCU enforced on writes: ProvisionedThroughputExceededException),
//   SSESpecification, StreamSpecification, DeletionProtectionEnabled, TableClass. CreateTable
//   takes the same settings and GlobalSecondaryIndexes, applied as updates of the new table.
//   FailedPrecondition from the core is ResourceInUseException there. UpdateTimeToLive /
//   DescribeTimeToLive map to the TTL setting. Query and Scan take IndexName (items in the
//   index's projection; a Scan of an index reads the table and keeps the items the index holds).
//   The LastEvaluatedKey of an index read holds the index's key attributes and the table's.
//   CreateTable's LocalSecondaryIndexes are stored as indexes of the table (ACTIVE with it,
//   ConsistentRead allowed on them, never deleted by GlobalSecondaryIndexUpdates).
// - Tags (TagResource, ...) and point-in-time recovery (Describe/UpdateContinuousBackups) are
//   per replica, as in AWS: made in the called region, never copied to the others (ddb_resources).
// - ReturnConsumedCapacity TOTAL / INDEXES: DynamoDB's units as the core meters them
//   (ddb_capacity.h). StreamEnabled false is allowed on a regional table only.
// - ResourceNotFoundException for a missing table says "Requested resource not found" in item
//   operations and names the table in control-plane ones, as DynamoDB does.
// - A Query or Scan page ends where 1 MB of items has been read (before filtering), with
//   LastEvaluatedKey, as in DynamoDB; Limit can end it sooner.
// - Items are checked with DynamoDB's own messages before anything is written: 400 KB item
//   size, key sizes (2048 / 1024 bytes), empty key values, number format / precision / range,
//   empty or duplicate sets, AttributeValues with zero or several types.
// - Streams: the target prefix `DynamoDBStreams_20120810.` (boto3's "dynamodbstreams" client,
//   `aws dynamodbstreams`) serves ListStreams, DescribeStream, GetShardIterator and GetRecords
//   over this region's change log: every write this region applied to the table, local and
//   replicated. Simulator choices: every table has a stream, with the StreamViewType of its
//   StreamSpecification (NEW_AND_OLD_IMAGES when none was enabled); one shard per table (its label
//   is the table's creation time, so a re-created table has a new stream); SequenceNumber is the
//   change-log position; records are never trimmed; iterators expire after 15 minutes;
//   ApproximateCreationDateTime is the write's LWW timestamp (the accepting region's clock).
//
// - KMS: the target prefix `TrentService.` serves DescribeKey of the keys DynamoDB tables use
//   (alias/aws/dynamodb with a per-region key ARN, and the keys this region's tables name), in
//   KMS's JSON 1.1, so a client's `kms` endpoint may be the region's URL (kms_keys.h).
//
// Operations: CreateTable, DescribeTable, ListTables, DeleteTable, PutItem, GetItem, UpdateItem,
// DeleteItem, Query, Scan (parallel Segment/TotalSegments), BatchWriteItem, BatchGetItem,
// TransactWriteItems, TransactGetItems, DescribeEndpoints, UpdateTable, UpdateTimeToLive,
// DescribeTimeToLive, TagResource, UntagResource, ListTagsOfResource,
// DescribeContinuousBackups, UpdateContinuousBackups, and the 2017.11.29 global-table operations
// (answered as for 2019.11.21 tables: GlobalTableNotFoundException, an empty ListGlobalTables,
// CreateGlobalTable refused); streams: ListStreams, DescribeStream, GetShardIterator, GetRecords.
// Known DynamoDB operations not implemented yet (PartiQL, backups, ...) answer
// ValidationException "... is not
// supported yet by gtsim"; unknown targets answer UnknownOperationException.
//
// No gRPC in here. Nothing throws out of this module. This type is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "region/region.h"

namespace gtsim {

class HttpServer;

class DynamoDbEndpoint {
 public:
  // One HTTP answer: status code and JSON body.
  struct Reply {
    int http_status = 200;
    std::string body;
    std::string content_type = "application/x-amz-json-1.0";  // KMS answers in JSON 1.1
  };

  // `region` must outlive the endpoint.
  explicit DynamoDbEndpoint(Region* region);
  ~DynamoDbEndpoint();  // Stops serving.
  DynamoDbEndpoint(const DynamoDbEndpoint&) = delete;
  DynamoDbEndpoint& operator=(const DynamoDbEndpoint&) = delete;

  // Binds `address` ("HOST:PORT"; port 0 picks a free one) and serves in background threads.
  // Returns the bound port. InvalidArgument for a malformed address, Unavailable when the port
  // cannot be bound, FailedPrecondition when already started.
  absl::StatusOr<int> Start(const std::string& address) ABSL_LOCKS_EXCLUDED(mu_);
  // Stops accepting, closes connections and joins the server thread. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Handles one request without HTTP: `target` is the X-Amz-Target header value, `body` the
  // request body, `host` the Host header (DescribeEndpoints echoes it). Never throws.
  Reply Handle(const std::string& target, const std::string& body,
               const std::string& host = "") const;

  // TransactWriteItems' ClientRequestToken memory: token -> (request fingerprint, when applied),
  // kept 10 minutes as in DynamoDB. In memory only: a restarted region forgets its tokens.
  struct Tokens {
    absl::Mutex mu;
    std::map<std::string, std::pair<uint64_t, absl::Time>> seen ABSL_GUARDED_BY(mu);
  };

 private:
  Region* const region_;
  const std::unique_ptr<Tokens> tokens_ = std::make_unique<Tokens>();
  absl::Mutex mu_;
  // A PutItem, UpdateItem or DeleteItem (`op`), parsed and validated: the write to submit,
  // whose `done` passes its reply to `answer`; or nothing, after answering the error.
  std::optional<Region::AsyncWrite> BeginWrite(absl::string_view op, const std::string& body,
                                               std::function<void(Reply)> answer) const;
  // On an event-loop thread: commits the writes it has gathered (BeginWrite) and not yet
  // submitted, as one group led by this thread, and answers them.
  void CommitLoopWrites() const;
  // Threads: kEventLoops event loops serve HTTP (the writes' answers come from the region's
  // committer thread); kWorkerThreads run the operations that may take long (see the top).
  static constexpr int kEventLoops = 1;
  static constexpr int kWorkerThreads = 4;
  struct Workers;
  std::unique_ptr<HttpServer> server_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Workers> workers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gtsim
