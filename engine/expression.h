// DynamoDB's expression language: condition and filter expressions, key condition expressions,
// update expressions and projection expressions, with ExpressionAttributeNames (#n) and
// ExpressionAttributeValues (:v) placeholders.
//
// Contract:
// - Parse* take the expression text and an ExpressionContext that points at the request's
//   ExpressionAttributeNames / ExpressionAttributeValues (null = not supplied). They resolve
//   placeholders while parsing, copy the values into the returned AST, and record in the context
//   which placeholders were used. Share one context across every expression of a request, then
//   call CheckAllUsed to report unused placeholders as DynamoDB does.
// - Every error is absl::InvalidArgumentError carrying DynamoDB's ValidationException message,
//   e.g. `Invalid UpdateExpression: Syntax error; token: "Num", near: "my Num"`. Syntax errors
//   come first; among other errors, the one DynamoDB was observed to report first wins.
// - The AST holds no pointers into the text or the context; it can outlive both.
// - Hostile input is safe: expressions over 4096 bytes are rejected (DynamoDB's limit), nesting
//   of parentheses / NOT / function calls is capped at kMaxNesting, document paths at
//   kMaxPathDepth elements, IN lists at 100 operands. Parsing is linear in the text, and the
//   pairwise path-overlap check is bounded by the size limit. Nothing throws.
// - Numbers are canonical decimal text (see attribute_value.h); update arithmetic is exact and
//   fails when a result needs more than 38 significant digits or leaves DynamoDB's range.
//
// Not thread-safe per object; distinct objects may be used from different threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/attribute_value.h"
#include "model/table_spec.h"

namespace gtsim::expr {

inline constexpr size_t kMaxExpressionBytes = 4096;  // DynamoDB's limit per expression string
inline constexpr int kMaxNesting = 64;               // parentheses, NOT, function calls
inline constexpr size_t kMaxPathDepth = 32;          // DynamoDB's document path depth limit
inline constexpr size_t kMaxInOperands = 100;        // DynamoDB's limit for IN lists

// Which request parameter an expression came from; it names the parameter in error messages
// ("Invalid FilterExpression: ...").
enum class ExpressionKind { kCondition, kFilter, kKeyCondition, kUpdate, kProjection };
const char* ExpressionKindName(ExpressionKind kind);  // "ConditionExpression", ...

// The placeholders of one request and which of them its expressions used.
struct ExpressionContext {
  const std::map<std::string, std::string>* names = nullptr;      // "#n" -> attribute name
  const std::map<std::string, AttributeValue>* values = nullptr;  // ":v" -> value
  std::set<std::string> used_names;
  std::set<std::string> used_values;
  // The longest expression accepted. DynamoDB's limit for what clients write; raised only for
  // the expressions gtsim generates from legacy parameters (region/http/ddb_legacy.h).
  size_t max_expression_bytes = kMaxExpressionBytes;
};

// Checks the maps themselves: not empty when supplied, keys shaped "#word" / ":word", names not
// empty. Call before parsing, as DynamoDB rejects these first.
absl::Status ValidateContext(const ExpressionContext& ctx);
// "Value provided in ExpressionAttributeNames unused in expressions: keys: {#a, #b}" (names are
// reported before values). Call after parsing every expression of the request.
absl::Status CheckAllUsed(const ExpressionContext& ctx);

// --- document paths ---------------------------------------------------------------------

// One step of a document path: a map key (placeholders already resolved) or a list index.
struct PathElement {
  bool is_index = false;
  std::string name;
  uint32_t index = 0;
  bool operator==(const PathElement& o) const {
    return is_index == o.is_index && (is_index ? index == o.index : name == o.name);
  }
  bool operator!=(const PathElement& o) const { return !(*this == o); }
};
using Path = std::vector<PathElement>;  // first element is always a name

// As DynamoDB prints paths in messages: "[a, b, [0]]".
std::string PathToString(const Path& path);
// The value at `path`, or null when any step is missing or of the wrong type.
const AttributeValue* FindPath(const Item& item, const Path& path);

// --- abstract syntax ----------------------------------------------------------------------

struct Operand {
  enum class Kind {
    kPath,         // an attribute of the item
    kValue,        // a :placeholder, resolved
    kSize,         // size(args[0])                      (conditions)
    kIfNotExists,  // if_not_exists(args[0] path, args[1]) (updates)
    kListAppend,   // list_append(args[0], args[1])        (updates)
    kPlus,         // args[0] + args[1]                    (updates)
    kMinus,        // args[0] - args[1]                    (updates)
  };
  Kind kind = Kind::kValue;
  Path path;                  // kPath
  AttributeValue value;       // kValue
  std::vector<Operand> args;  // functions and arithmetic
};

struct Condition {
  enum class Kind {
    kCompare,             // operands[0] op operands[1]
    kBetween,             // operands[0] BETWEEN operands[1] AND operands[2]
    kIn,                  // operands[0] IN (operands[1..])
    kAnd,                 // all children (2 or more)
    kOr,                  // any child (2 or more)
    kNot,                 // children[0] is false
    kAttributeExists,     // operands[0] is a path
    kAttributeNotExists,  // operands[0] is a path
    kAttributeType,       // attribute_type(operands[0], operands[1])
    kBeginsWith,          // begins_with(operands[0], operands[1])
    kContains,            // contains(operands[0], operands[1])
  };
  enum class Op { kEq, kNe, kLt, kLe, kGt, kGe };
  Kind kind = Kind::kAnd;
  Op op = Op::kEq;  // kCompare only
  std::vector<Operand> operands;
  std::vector<Condition> children;
};

// --- condition and filter expressions -----------------------------------------------------

// Parses a ConditionExpression (kind kCondition) or FilterExpression (kFilter).
absl::StatusOr<Condition> ParseCondition(std::string_view text, ExpressionContext* ctx,
                                         ExpressionKind kind = ExpressionKind::kCondition);

// Evaluates against an item; nullptr means no item (every attribute is missing). Comparisons of
// values of different types are false (<> is true); <, <=, >, >= and BETWEEN order only N, S
// and B values (N numerically, S and B by bytes). size() is the byte length of S and B, the
// member count of sets, lists and maps, and has no value for other types.
absl::StatusOr<bool> Evaluate(const Condition& condition, const Item* item);

// --- key condition expressions ------------------------------------------------------------

enum class KeyOp { kEq, kLt, kLe, kGt, kGe, kBetween, kBeginsWith };
struct KeyTerm {
  std::string attribute;
  KeyOp op = KeyOp::kEq;
  AttributeValue value;
  AttributeValue value2;  // upper bound for kBetween
};
struct KeyCondition {
  Condition condition;         // the whole expression, usable with Evaluate
  std::vector<KeyTerm> terms;  // one per attribute, in the order written
};

// Parses a KeyConditionExpression and checks its shape as DynamoDB does without the schema:
// only AND of top-level "attr op :value", BETWEEN and begins_with terms, one term per attribute
// ("Invalid operator used in KeyConditionExpression: OR", "KeyConditionExpressions must only
// contain one condition per key", ...). A value on the left (":v < k") is turned around.
absl::StatusOr<KeyCondition> ParseKeyCondition(std::string_view text, ExpressionContext* ctx);

// A key condition bound to a table's key schema.
struct KeyQuery {
  std::string hash_name;
  AttributeValue hash_value;
  std::optional<KeyTerm> range;  // absent: the whole partition
};
// "Query condition missed key schema element: pk", "Query key condition not supported", and
// value types against the key types.
absl::StatusOr<KeyQuery> BindKeySchema(const KeyCondition& condition, const KeyDef& hash_key,
                                       const std::optional<KeyDef>& range_key);

// --- update expressions -------------------------------------------------------------------

struct UpdateAction {
  enum class Kind { kSet, kRemove, kAdd, kDelete };
  Kind kind = Kind::kSet;
  Path path;      // the attribute acted on
  Operand value;  // kSet: the new value expression; kAdd / kDelete: the :value
};
struct UpdatePlan {
  std::vector<UpdateAction> actions;  // in the order written (clauses may come in any order)
};

absl::StatusOr<UpdatePlan> ParseUpdate(std::string_view text, ExpressionContext* ctx);

// "Cannot update attribute pk. This attribute is part of the key" when an action targets a key
// attribute (or a path under one).
absl::Status CheckKeyNotUpdated(const UpdatePlan& plan, const std::vector<std::string>& key_names);

// Applies the plan to the current item, or to just the key when no item exists (then pass
// item_exists = false), and returns the new item. Every operand reads the item as it was before
// the update, and list indexes refer to the original positions: SETs and ADDs run in path order
// (so several SETs past the end of a list append in index order), REMOVEs last, highest index
// first. ADD adds numbers (absent counts as 0) or unites sets; DELETE takes members out of a set
// and removes the attribute once the set is empty. Errors: "The provided expression refers to an
// attribute that does not exist in the item", "An operand in the update expression has an
// incorrect data type", "The document path provided in the update expression is invalid for
// update" (a nested path whose parent is missing or of the wrong type; REMOVE of such a path is
// ignored when the item does not exist, as DynamoDB does), and number precision / range errors.
absl::StatusOr<Item> ApplyUpdate(const UpdatePlan& plan, const Item& current_or_key,
                                 bool item_exists = true);

// --- projection expressions ---------------------------------------------------------------

struct Projection {
  std::vector<Path> paths;
};

absl::StatusOr<Projection> ParseProjection(std::string_view text, ExpressionContext* ctx);

// The part of `item` the projection selects. Nested paths keep their enclosing maps and lists;
// list elements picked by index keep their relative order, compacted. Missing paths are skipped.
Item Project(const Projection& projection, const Item& item);

// --- numbers ------------------------------------------------------------------------------

// Exact sum (or difference, when `subtract`) of two DynamoDB numbers, as canonical text.
absl::StatusOr<std::string> AddNumbers(const std::string& a, const std::string& b,
                                       bool subtract = false);

}  // namespace gtsim::expr
