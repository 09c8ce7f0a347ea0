// Implementation notes. A hand-written lexer feeds one recursive-descent parser per expression
// kind. Syntax errors stop parsing at once, as DynamoDB's parser does. Semantic errors (unknown
// functions, undefined placeholders, reserved words, overlapping paths, operand types...) are
// recorded by category while parsing continues, and the one DynamoDB reports first is returned
// at the end; the category order of each expression kind follows DynamoDB's observed behaviour.
#include "engine/expression.h"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <iterator>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/status_macros.h"

namespace gtsim::expr {
namespace {

// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ReservedWords.html
// Space-separated, as listed there.
constexpr char kReservedWords[] =
    "ABORT ABSOLUTE ACTION ADD AFTER AGENT AGGREGATE ALL ALLOCATE ALTER ANALYZE AND ANY "
    "ARCHIVE ARE ARRAY AS ASC ASCII ASENSITIVE ASSERTION ASYMMETRIC AT ATOMIC ATTACH "
    "ATTRIBUTE AUTH AUTHORIZATION AUTHORIZE AUTO AVG BACK BACKUP BASE BATCH BEFORE BEGIN "
    "BETWEEN BIGINT BINARY BIT BLOB BLOCK BOOLEAN BOTH BREADTH BUCKET BULK BY BYTE CALL "
    "CALLED CALLING CAPACITY CASCADE CASCADED CASE CAST CATALOG CHAR CHARACTER CHECK CLASS "
    "CLOB CLOSE CLUSTER CLUSTERED CLUSTERING CLUSTERS COALESCE COLLATE COLLATION COLLECTION "
    "COLUMN COLUMNS COMBINE COMMENT COMMIT COMPACT COMPILE COMPRESS CONDITION CONFLICT "
    "CONNECT CONNECTION CONSISTENCY CONSISTENT CONSTRAINT CONSTRAINTS CONSTRUCTOR CONSUMED "
    "CONTINUE CONVERT COPY CORRESPONDING COUNT COUNTER CREATE CROSS CUBE CURRENT CURSOR "
    "CYCLE DATA DATABASE DATE DATETIME DAY DEALLOCATE DEC DECIMAL DECLARE DEFAULT DEFERRABLE "
    "DEFERRED DEFINE DEFINED DEFINITION DELETE DELIMITED DEPTH DEREF DESC DESCRIBE "
    "DESCRIPTOR DETACH DETERMINISTIC DIAGNOSTICS DIRECTORIES DISABLE DISCONNECT DISTINCT "
    "DISTRIBUTE DO DOMAIN DOUBLE DROP DUMP DURATION DYNAMIC EACH ELEMENT ELSE ELSEIF EMPTY "
    "ENABLE END EQUAL EQUALS ERROR ESCAPE ESCAPED EVAL EVALUATE EXCEEDED EXCEPT EXCEPTION "
    "EXCEPTIONS EXCLUSIVE EXEC EXECUTE EXISTS EXIT EXPLAIN EXPLODE EXPORT EXPRESSION "
    "EXTENDED EXTERNAL EXTRACT FAIL FALSE FAMILY FETCH FIELDS FILE FILTER FILTERING FINAL "
    "FINISH FIRST FIXED FLATTERN FLOAT FOR FORCE FOREIGN FORMAT FORWARD FOUND FREE FROM FULL "
    "FUNCTION FUNCTIONS GENERAL GENERATE GET GLOB GLOBAL GO GOTO GRANT GREATER GROUP "
    "GROUPING HANDLER HASH HAVE HAVING HEAP HIDDEN HOLD HOUR IDENTIFIED IDENTITY IF IGNORE "
    "IMMEDIATE IMPORT IN INCLUDING INCLUSIVE INCREMENT INCREMENTAL INDEX INDEXED INDEXES "
    "INDICATOR INFINITE INITIALLY INLINE INNER INNTER INOUT INPUT INSENSITIVE INSERT INSTEAD "
    "INT INTEGER INTERSECT INTERVAL INTO INVALIDATE IS ISOLATION ITEM ITEMS ITERATE JOIN KEY "
    "KEYS LAG LANGUAGE LARGE LAST LATERAL LEAD LEADING LEAVE LEFT LENGTH LESS LEVEL LIKE "
    "LIMIT LIMITED LINES LIST LOAD LOCAL LOCALTIME LOCALTIMESTAMP LOCATION LOCATOR LOCK "
    "LOCKS LOG LOGED LONG LOOP LOWER MAP MATCH MATERIALIZED MAX MAXLEN MEMBER MERGE METHOD "
    "METRICS MIN MINUS MINUTE MISSING MOD MODE MODIFIES MODIFY MODULE MONTH MULTI MULTISET "
    "NAME NAMES NATIONAL NATURAL NCHAR NCLOB NEW NEXT NO NONE NOT NULL NULLIF NUMBER NUMERIC "
    "OBJECT OF OFFLINE OFFSET OLD ON ONLINE ONLY OPAQUE OPEN OPERATOR OPTION OR ORDER "
    "ORDINALITY OTHER OTHERS OUT OUTER OUTPUT OVER OVERLAPS OVERRIDE OWNER PAD PARALLEL "
    "PARAMETER PARAMETERS PARTIAL PARTITION PARTITIONED PARTITIONS PATH PERCENT PERCENTILE "
    "PERMISSION PERMISSIONS PIPE PIPELINED PLAN POOL POSITION PRECISION PREPARE PRESERVE "
    "PRIMARY PRIOR PRIVATE PRIVILEGES PROCEDURE PROCESSED PROJECT PROJECTION PROPERTY "
    "PROVISIONING PUBLIC PUT QUERY QUIT QUORUM RAISE RANDOM RANGE RANK RAW READ READS REAL "
    "REBUILD RECORD RECURSIVE REDUCE REF REFERENCE REFERENCES REFERENCING REGEXP REGION "
    "REINDEX RELATIVE RELEASE REMAINDER RENAME REPEAT REPLACE REQUEST RESET RESIGNAL "
    "RESOURCE RESPONSE RESTORE RESTRICT RESULT RETURN RETURNING RETURNS REVERSE REVOKE RIGHT "
    "ROLE ROLES ROLLBACK ROLLUP ROUTINE ROW ROWS RULE RULES SAMPLE SATISFIES SAVE SAVEPOINT "
    "SCAN SCHEMA SCOPE SCROLL SEARCH SECOND SECTION SEGMENT SEGMENTS SELECT SELF SEMI "
    "SENSITIVE SEPARATE SEQUENCE SERIALIZABLE SESSION SET SETS SHARD SHARE SHARED SHORT SHOW "
    "SIGNAL SIMILAR SIZE SKEWED SMALLINT SNAPSHOT SOME SOURCE SPACE SPACES SPARSE SPECIFIC "
    "SPECIFICTYPE SPLIT SQL SQLCODE SQLERROR SQLEXCEPTION SQLSTATE SQLWARNING START STATE "
    "STATIC STATUS STORAGE STORE STORED STREAM STRING STRUCT STYLE SUB SUBMULTISET "
    "SUBPARTITION SUBSTRING SUBTYPE SUM SUPER SYMMETRIC SYNONYM SYSTEM TABLE TABLESAMPLE "
    "TEMP TEMPORARY TERMINATED TEXT THAN THEN THROUGHPUT TIME TIMESTAMP TIMEZONE TINYINT TO "
    "TOKEN TOTAL TOUCH TRAILING TRANSACTION TRANSFORM TRANSLATE TRANSLATION TREAT TRIGGER "
    "TRIM TRUE TRUNCATE TTL TUPLE TYPE UNDER UNDO UNION UNIQUE UNIT UNKNOWN UNLOGGED UNNEST "
    "UNPROCESSED UNSIGNED UNTIL UPDATE UPPER URL USAGE USE USER USERS USING UUID VACUUM "
    "VALUE VALUED VALUES VARCHAR VARIABLE VARIANCE VARINT VARYING VIEW VIEWS VIRTUAL VOID "
    "WAIT WHEN WHENEVER WHERE WHILE WINDOW WITH WITHIN WITHOUT WORK WRAPPED WRITE YEAR ZONE";

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsWordChar(char c) { return IsAlpha(c) || IsDigit(c) || c == '_'; }
char ToUpper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToUpper(a[i]) != ToUpper(b[i])) return false;
  }
  return true;
}

bool IsReservedWord(const std::string& word) {
  static const std::set<std::string>* const kWords = [] {
    auto* words = new std::set<std::string>();
    std::string_view all = kReservedWords;
    while (!all.empty()) {
      size_t space = all.find(' ');
      words->emplace(all.substr(0, space));
      all.remove_prefix(space == std::string_view::npos ? all.size() : space + 1);
    }
    return words;
  }();
  std::string upper = word;
  for (char& c : upper) c = ToUpper(c);
  return kWords->count(upper) > 0;
}

// --- lexer --------------------------------------------------------------------------------

enum class Tok {
  kName,     // word: letter, then letters, digits, '_'
  kNamePh,   // #word
  kValuePh,  // :word
  kNumber,   // digits (only meaningful as a list index)
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kComma,
  kDot,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kPlus,
  kMinus,
  kInvalid,  // any other character (a whole UTF-8 sequence when well formed)
  kEof,
};

struct Token {
  Tok type;
  size_t begin;
  size_t end;
};

// Bytes in the UTF-8 sequence starting at s[i], or 1 when it is not well formed.
size_t Utf8Length(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t len = c >= 0xF0 && c < 0xF8   ? 4
               : c >= 0xE0 && c < 0xF0 ? 3
               : c >= 0xC0 && c < 0xE0 ? 2
                                       : 1;
  if (i + len > s.size()) return 1;
  for (size_t k = 1; k < len; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  }
  return len;
}

std::vector<Token> Lex(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    const size_t begin = i;
    Tok type = Tok::kInvalid;
    if (IsAlpha(c)) {
      while (i < n && IsWordChar(s[i])) ++i;
      type = Tok::kName;
    } else if (IsDigit(c)) {
      while (i < n && IsDigit(s[i])) ++i;
      type = Tok::kNumber;
    } else if (c == '#' || c == ':') {
      ++i;
      while (i < n && IsWordChar(s[i])) ++i;
      // A lone '#' or ':' is not a token of the language.
      type = i == begin + 1 ? Tok::kInvalid : (c == '#' ? Tok::kNamePh : Tok::kValuePh);
    } else {
      ++i;
      switch (c) {
        case '(':
          type = Tok::kLParen;
          break;
        case ')':
          type = Tok::kRParen;
          break;
        case '[':
          type = Tok::kLBracket;
          break;
        case ']':
          type = Tok::kRBracket;
          break;
        case ',':
          type = Tok::kComma;
          break;
        case '.':
          type = Tok::kDot;
          break;
        case '+':
          type = Tok::kPlus;
          break;
        case '-':
          type = Tok::kMinus;
          break;
        case '=':
          type = Tok::kEq;
          break;
        case '<':
          type = Tok::kLt;
          if (i < n && s[i] == '=') {
            type = Tok::kLe;
            ++i;
          } else if (i < n && s[i] == '>') {
            type = Tok::kNe;
            ++i;
          }
          break;
        case '>':
          type = Tok::kGt;
          if (i < n && s[i] == '=') {
            type = Tok::kGe;
            ++i;
          }
          break;
        default:
          i = begin + Utf8Length(s, begin);
          break;
      }
    }
    out.push_back(Token{type, begin, i});
  }
  out.push_back(Token{Tok::kEof, n, n});
  return out;
}

// --- shared parser machinery ----------------------------------------------------------------

// Semantic error categories. Each parser reports the first recorded error in its own order.
enum class Err {
  kPathDepth,
  kParens,
  kUnknownFunction,
  kMisusedFunction,
  kReserved,
  kSection,
  kAttrName,
  kAttrValue,
  kOverlap,
  kConflict,
  kActionOperand,
  kOperandCount,
  kDistinct,
  kFunction,
  kCount,
};

bool IsSetType(ValueType t) {
  return t == ValueType::kSS || t == ValueType::kNS || t == ValueType::kBS;
}

// The type an operand is known to have before evaluation ("" when it depends on the item):
// values, and size() which is always a number.
std::string StaticType(const Operand& o) {
  if (o.kind == Operand::Kind::kValue) return ValueTypeName(o.value.type());
  if (o.kind == Operand::Kind::kSize) return "N";
  return "";
}

// "N:1", "S:a": how DynamoDB prints a value inside "AttributeValue: {...}".
std::string DescribeValue(const AttributeValue& v) {
  std::string type = ValueTypeName(v.type());
  switch (v.type()) {
    case ValueType::kS:
    case ValueType::kN:
      return absl::StrCat(type, ":", v.scalar());
    case ValueType::kB:
      return absl::StrCat(type, ":", absl::Base64Escape(v.scalar()));
    case ValueType::kBool:
      return absl::StrCat(type, ":", v.boolean() ? "true" : "false");
    case ValueType::kNull:
      return absl::StrCat(type, ":true");
    default:
      return type;
  }
}

// Orders two values of the same scalar type (N, S, B); nullopt for anything else.
std::optional<int> OrderScalars(const AttributeValue& a, const AttributeValue& b) {
  if (a.type() != b.type()) return std::nullopt;
  switch (a.type()) {
    case ValueType::kN:
      return CompareNumbers(a.scalar(), b.scalar());
    case ValueType::kS:
    case ValueType::kB: {
      // std::string compares as unsigned bytes, which is DynamoDB's order for S and B.
      int c = a.scalar().compare(b.scalar());
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    default:
      return std::nullopt;
  }
}

class Nest {
 public:
  explicit Nest(int* depth) : depth_(depth) { ++*depth_; }
  ~Nest() { --*depth_; }
  Nest(const Nest&) = delete;
  Nest& operator=(const Nest&) = delete;
  bool too_deep() const { return *depth_ > kMaxNesting; }

 private:
  int* depth_;
};

class Parser {
 public:
  Parser(std::string_view text, ExpressionContext* ctx, ExpressionKind kind)
      : text_(text),
        ctx_(ctx != nullptr ? ctx : &fallback_ctx_),
        label_(ExpressionKindName(kind)),
        tokens_(text.size() <= ctx_->max_expression_bytes ? Lex(text) : std::vector<Token>{}) {
    if (tokens_.empty()) tokens_.push_back(Token{Tok::kEof, text.size(), text.size()});
  }
  virtual ~Parser() = default;

 protected:
  absl::Status Invalid(const std::string& message) const {
    return absl::InvalidArgumentError(absl::StrCat("Invalid ", label_, ": ", message));
  }

  absl::Status CheckSize() const {
    if (text_.empty()) return Invalid("The expression can not be empty;");
    if (text_.size() > ctx_->max_expression_bytes) {
      return Invalid(
          absl::StrCat("Expression size has exceeded the maximum allowed size; expression size: ",
                       text_.size()));
    }
    return absl::OkStatus();
  }

  const Token& Peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  Tok type() const { return Peek().type; }
  std::string TextOf(const Token& t) const {
    return std::string(text_.substr(t.begin, t.end - t.begin));
  }
  bool AtKeyword(std::string_view keyword) const {
    const Token& t = Peek();
    return t.type == Tok::kName &&
           EqualsIgnoreCase(text_.substr(t.begin, t.end - t.begin), keyword);
  }
  void Advance() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
  }

  // Words the grammar reserves for itself: they cannot name attributes.
  virtual bool IsKeyword(const Token& t) const { return false; }

  // Stops parsing with `status`; returns false so callers can `return Fatal(...)`.
  bool Fatal(absl::Status status) {
    fatal_ = std::move(status);
    return false;
  }

  // `Syntax error; token: "x", near: "a x"`: near runs from the previous token through the
  // offending one, and the next one too when it touches it (as DynamoDB prints it).
  bool SyntaxErrorAt(size_t index) {
    const Token& cur = tokens_[index];
    std::string token = cur.type == Tok::kEof ? "<EOF>" : TextOf(cur);
    size_t begin = index > 0 ? tokens_[index - 1].begin : cur.begin;
    size_t end = cur.end;
    if (cur.type != Tok::kEof && index + 1 < tokens_.size() &&
        tokens_[index + 1].type != Tok::kEof && tokens_[index + 1].begin == cur.end) {
      end = tokens_[index + 1].end;
    }
    if (cur.type == Tok::kEof) end = text_.size();
    std::string near(text_.substr(begin, end - begin));
    return Fatal(
        Invalid(absl::StrCat("Syntax error; token: \"", token, "\", near: \"", near, "\"")));
  }
  bool SyntaxError() { return SyntaxErrorAt(pos_); }

  bool TooDeep() {
    return Fatal(Invalid(
        absl::StrCat("The expression has too many nesting levels; maximum: ", kMaxNesting)));
  }

  void Record(Err category, std::string message) {
    auto& slot = errors_[static_cast<size_t>(category)];
    if (!slot) slot = std::move(message);
  }

  // The first recorded error in `order`, else any other recorded error, else OK.
  absl::Status Outcome(std::initializer_list<Err> order) const {
    for (Err e : order) {
      if (const auto& m = errors_[static_cast<size_t>(e)]) return Invalid(*m);
    }
    for (const auto& m : errors_) {
      if (m) return Invalid(*m);
    }
    return absl::OkStatus();
  }

  // Resolves the :value at `t` into `out` (a kValue operand). Returns false, recording the
  // error, when it is not defined.
  bool ResolveValue(const Token& t, Operand* out) {
    std::string key = TextOf(t);
    out->kind = Operand::Kind::kValue;
    out->value = AttributeValue::Null();
    if (ctx_->values != nullptr) {
      auto it = ctx_->values->find(key);
      if (it != ctx_->values->end()) {
        ctx_->used_values.insert(key);
        out->value = it->second;
        return true;
      }
    }
    Record(Err::kAttrValue, absl::StrCat("An expression attribute value used in expression is "
                                         "not defined; attribute value: ",
                                         key));
    return false;
  }

  // One map key of a path: a bare name or a #placeholder.
  bool ParsePathName(PathElement* e) {
    const Token& t = Peek();
    e->is_index = false;
    if (t.type == Tok::kNamePh) {
      std::string key = TextOf(t);
      e->name = key;
      bool found = false;
      if (ctx_->names != nullptr) {
        auto it = ctx_->names->find(key);
        if (it != ctx_->names->end()) {
          ctx_->used_names.insert(key);
          e->name = it->second;
          found = true;
        }
      }
      if (!found) {
        Record(Err::kAttrName, absl::StrCat("An expression attribute name used in the document "
                                            "path is not defined; attribute name: ",
                                            key));
      }
      Advance();
      return true;
    }
    if (t.type == Tok::kName && !IsKeyword(t)) {
      e->name = TextOf(t);
      if (IsReservedWord(e->name)) {
        Record(Err::kReserved,
               absl::StrCat("Attribute name is a reserved keyword; reserved keyword: ", e->name));
      }
      Advance();
      return true;
    }
    return SyntaxError();
  }

  // name ( '.' name | '[' digits ']' )*
  bool ParsePath(Path* path) {
    PathElement head;
    if (!ParsePathName(&head)) return false;
    path->push_back(std::move(head));
    while (true) {
      if (type() == Tok::kDot) {
        Advance();
        PathElement e;
        if (!ParsePathName(&e)) return false;
        path->push_back(std::move(e));
      } else if (type() == Tok::kLBracket) {
        Advance();
        if (type() != Tok::kNumber) return SyntaxError();
        std::string digits = TextOf(Peek());
        uint64_t index = 0;
        for (char c : digits) {
          index = index * 10 + static_cast<uint64_t>(c - '0');
          if (index > 0x7fffffffu) return SyntaxError();  // no list is that long
        }
        Advance();
        if (type() != Tok::kRBracket) return SyntaxError();
        Advance();
        PathElement e;
        e.is_index = true;
        e.index = static_cast<uint32_t>(index);
        path->push_back(std::move(e));
      } else {
        break;
      }
    }
    if (path->size() > kMaxPathDepth) {
      Record(Err::kPathDepth,
             absl::StrCat("The document path has too many nesting levels; nesting levels: ",
                          path->size()));
    }
    return true;
  }

  // DynamoDB rejects two paths where one contains the other ("overlap"), or where one indexes
  // a list and the other a map at the same place ("conflict"). Quadratic, but the size limit
  // keeps the number of paths small.
  void CheckOverlaps(const std::vector<const Path*>& paths) {
    for (size_t i = 1; i < paths.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        const Path& one = *paths[j];
        const Path& two = *paths[i];
        const size_t n = std::min(one.size(), two.size());
        bool distinct = false;
        for (size_t k = 0; k < n && !distinct; ++k) {
          if (one[k].is_index != two[k].is_index) {
            Record(Err::kConflict,
                   absl::StrCat("Two document paths conflict with each other; must remove or "
                                "rewrite one of these paths; path one: ",
                                PathToString(one), ", path two: ", PathToString(two)));
            distinct = true;
          } else if (one[k] != two[k]) {
            distinct = true;
          }
        }
        if (!distinct) {
          Record(Err::kOverlap,
                 absl::StrCat("Two document paths overlap with each other; must remove or "
                              "rewrite one of these paths; path one: ",
                              PathToString(one), ", path two: ", PathToString(two)));
          return;
        }
      }
    }
  }

  std::string_view text_;
  ExpressionContext fallback_ctx_;  // when the caller passes no context
  ExpressionContext* ctx_;
  std::string label_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  absl::Status fatal_;
  std::array<std::optional<std::string>, static_cast<size_t>(Err::kCount)> errors_;
};

// --- condition expressions ----------------------------------------------------------------

class ConditionParser : public Parser {
 public:
  using Parser::Parser;

  absl::StatusOr<Condition> Parse() {
    RETURN_IF_ERROR(CheckSize());
    Node node;
    if (!ParseOr(&node)) return fatal_;
    if (type() != Tok::kEof) {
      SyntaxError();
      return fatal_;
    }
    if (!ToCondition(&node)) return fatal_;
    RETURN_IF_ERROR(Outcome({Err::kPathDepth, Err::kParens, Err::kUnknownFunction,
                             Err::kMisusedFunction, Err::kReserved, Err::kAttrName, Err::kAttrValue,
                             Err::kOperandCount, Err::kDistinct, Err::kFunction}));
    return std::move(node.cond);
  }

 private:
  // What a (sub)expression turned out to be: a condition, or an operand that a comparison may
  // still follow, e.g. "(a)" in "(a) = :v".
  struct Node {
    bool is_operand = false;
    bool parenthesized = false;  // the whole node was "( ... )", for redundant parentheses
    bool wildcard = false;       // an unknown function, already reported: fits anywhere
    std::string function;        // the function's name when the node is a call
    Condition cond;
    Operand operand;
  };

  bool IsKeyword(const Token& t) const override {
    if (t.type != Tok::kName) return false;
    std::string_view s = text_.substr(t.begin, t.end - t.begin);
    return EqualsIgnoreCase(s, "AND") || EqualsIgnoreCase(s, "OR") || EqualsIgnoreCase(s, "NOT") ||
           EqualsIgnoreCase(s, "BETWEEN") || EqualsIgnoreCase(s, "IN");
  }

  bool AtComparison() const {
    switch (type()) {
      case Tok::kEq:
      case Tok::kNe:
      case Tok::kLt:
      case Tok::kLe:
      case Tok::kGt:
      case Tok::kGe:
        return true;
      default:
        return AtKeyword("BETWEEN") || AtKeyword("IN");
    }
  }

  void MisusedFunction(const std::string& name) {
    Record(Err::kMisusedFunction,
           absl::StrCat("The function is not allowed to be used this way in an expression; "
                        "function: ",
                        name));
  }

  // Where a condition is required: size() alone is misused, any other operand is a syntax
  // error at the token after it.
  bool ToCondition(Node* node) {
    if (!node->is_operand) return true;
    if (node->operand.kind != Operand::Kind::kSize) return SyntaxError();
    MisusedFunction("size");
    node->is_operand = false;
    node->cond = Condition();
    return true;
  }

  // OR and AND chains are flattened, so long chains do not nest.
  bool ParseChain(const char* keyword, Condition::Kind kind, bool (ConditionParser::*next)(Node*),
                  Node* out) {
    if (!(this->*next)(out)) return false;
    if (!AtKeyword(keyword)) return true;
    Condition chain;
    chain.kind = kind;
    if (!ToCondition(out)) return false;
    chain.children.push_back(std::move(out->cond));
    while (AtKeyword(keyword)) {
      Advance();
      Node operand;
      if (!(this->*next)(&operand) || !ToCondition(&operand)) return false;
      chain.children.push_back(std::move(operand.cond));
    }
    *out = Node();
    out->cond = std::move(chain);
    return true;
  }
  bool ParseOr(Node* out) {
    return ParseChain("OR", Condition::Kind::kOr, &ConditionParser::ParseAnd, out);
  }
  bool ParseAnd(Node* out) {
    return ParseChain("AND", Condition::Kind::kAnd, &ConditionParser::ParseNot, out);
  }

  bool ParseNot(Node* out) {
    if (!AtKeyword("NOT")) return ParsePrimary(out);
    Nest nest(&depth_);
    if (nest.too_deep()) return TooDeep();
    Advance();
    Node child;
    if (!ParseNot(&child) || !ToCondition(&child)) return false;
    Condition c;
    c.kind = Condition::Kind::kNot;
    c.children.push_back(std::move(child.cond));
    *out = Node();
    out->cond = std::move(c);
    return true;
  }

  bool ParsePrimary(Node* out) {
    if (type() == Tok::kLParen) {
      Nest nest(&depth_);
      if (nest.too_deep()) return TooDeep();
      Advance();
      Node inner;
      if (!ParseOr(&inner)) return false;
      if (type() != Tok::kRParen) return SyntaxError();
      Advance();
      if (inner.parenthesized) Record(Err::kParens, "The expression has redundant parentheses;");
      if (inner.is_operand) return ParseTail(std::move(inner.operand), true, out);
      *out = std::move(inner);
      out->parenthesized = true;
      return true;
    }
    Node atom;
    if (!ParseAtom(&atom)) return false;
    if (atom.is_operand) return ParseTail(std::move(atom.operand), false, out);
    if (AtComparison()) {
      // A condition function used as an operand, e.g. "attribute_exists(a) = :v".
      if (!atom.wildcard) MisusedFunction(atom.function);
      return ParseTail(Operand(), false, out);
    }
    *out = std::move(atom);
    return true;
  }

  // After an operand: a comparison, BETWEEN or IN; or nothing, leaving the operand as is.
  bool ParseTail(Operand lhs, bool parenthesized, Node* out) {
    Condition c;
    const Tok t = type();
    if (t == Tok::kEq || t == Tok::kNe || t == Tok::kLt || t == Tok::kLe || t == Tok::kGt ||
        t == Tok::kGe) {
      const std::string op_text = TextOf(Peek());
      c.kind = Condition::Kind::kCompare;
      c.op = t == Tok::kEq   ? Condition::Op::kEq
             : t == Tok::kNe ? Condition::Op::kNe
             : t == Tok::kLt ? Condition::Op::kLt
             : t == Tok::kLe ? Condition::Op::kLe
             : t == Tok::kGt ? Condition::Op::kGt
                             : Condition::Op::kGe;
      Advance();
      Operand rhs;
      if (!ParseOperand(&rhs)) return false;
      CheckDistinct(op_text, lhs, rhs);
      c.operands.push_back(std::move(lhs));
      c.operands.push_back(std::move(rhs));
    } else if (AtKeyword("BETWEEN")) {
      Advance();
      Operand lo, hi;
      if (!ParseOperand(&lo)) return false;
      if (!AtKeyword("AND")) return SyntaxError();
      Advance();
      if (!ParseOperand(&hi)) return false;
      CheckBetween(lo, hi);
      c.kind = Condition::Kind::kBetween;
      c.operands.push_back(std::move(lhs));
      c.operands.push_back(std::move(lo));
      c.operands.push_back(std::move(hi));
    } else if (AtKeyword("IN")) {
      Advance();
      if (type() != Tok::kLParen) return SyntaxError();
      Advance();
      c.kind = Condition::Kind::kIn;
      c.operands.push_back(std::move(lhs));
      while (true) {
        Operand o;
        if (!ParseOperand(&o)) return false;
        c.operands.push_back(std::move(o));
        if (type() == Tok::kComma) {
          Advance();
        } else if (type() == Tok::kRParen) {
          Advance();
          break;
        } else {
          return SyntaxError();
        }
      }
      if (c.operands.size() - 1 > kMaxInOperands) {
        Record(Err::kOperandCount,
               absl::StrCat("The IN operator is provided with too many operands; number of "
                            "operands: ",
                            c.operands.size() - 1));
      }
    } else {
      *out = Node();
      out->is_operand = true;
      out->parenthesized = parenthesized;
      out->operand = std::move(lhs);
      return true;
    }
    *out = Node();
    out->cond = std::move(c);
    return true;
  }

  // An operand where only an operand fits: comparison sides, BETWEEN bounds, IN members and
  // function arguments.
  bool ParseOperand(Operand* out, bool* parenthesized = nullptr) {
    if (type() == Tok::kLParen) {
      Nest nest(&depth_);
      if (nest.too_deep()) return TooDeep();
      Advance();
      bool inner_parenthesized = false;
      if (!ParseOperand(out, &inner_parenthesized)) return false;
      if (type() != Tok::kRParen) return SyntaxError();
      Advance();
      if (inner_parenthesized) Record(Err::kParens, "The expression has redundant parentheses;");
      if (parenthesized != nullptr) *parenthesized = true;
      return true;
    }
    Node atom;
    if (!ParseAtom(&atom)) return false;
    if (atom.is_operand) {
      *out = std::move(atom.operand);
    } else {
      if (!atom.wildcard) MisusedFunction(atom.function);
      *out = Operand();
    }
    return true;
  }

  // A path, a :value or a function call.
  bool ParseAtom(Node* out) {
    const Token& t = Peek();
    if (t.type == Tok::kValuePh) {
      out->is_operand = true;
      ResolveValue(t, &out->operand);
      Advance();
      return true;
    }
    if (t.type == Tok::kName && !IsKeyword(t) && Peek(1).type == Tok::kLParen) {
      return ParseFunction(out);
    }
    if (t.type == Tok::kName || t.type == Tok::kNamePh) {
      out->is_operand = true;
      out->operand.kind = Operand::Kind::kPath;
      return ParsePath(&out->operand.path);
    }
    return SyntaxError();
  }

  bool ParseFunction(Node* out) {
    Nest nest(&depth_);
    if (nest.too_deep()) return TooDeep();
    const std::string name = TextOf(Peek());
    Advance();  // the name
    Advance();  // '('
    std::vector<Operand> args;
    while (true) {
      Operand a;
      if (!ParseOperand(&a)) return false;
      args.push_back(std::move(a));
      if (type() == Tok::kComma) {
        Advance();
      } else if (type() == Tok::kRParen) {
        Advance();
        break;
      } else {
        return SyntaxError();
      }
    }
    out->function = name;
    auto arity = [&](size_t n) {
      if (args.size() == n) return true;
      Record(Err::kOperandCount,
             absl::StrCat("Incorrect number of operands for operator or function; operator or "
                          "function: ",
                          name, ", number of operands: ", args.size()));
      return false;
    };
    auto bad_type = [&](const std::string& type) {
      Record(Err::kFunction,
             absl::StrCat("Incorrect operand type for operator or function; operator or "
                          "function: ",
                          name, ", operand type: ", type));
    };
    if (name == "size") {
      if (arity(1)) {
        std::string t = StaticType(args[0]);
        if (t == "N" || t == "BOOL" || t == "NULL") bad_type(t);
      }
      out->is_operand = true;
      out->operand.kind = Operand::Kind::kSize;
      out->operand.args = std::move(args);
      return true;
    }
    Condition c;
    if (name == "attribute_exists" || name == "attribute_not_exists") {
      c.kind = name == "attribute_exists" ? Condition::Kind::kAttributeExists
                                          : Condition::Kind::kAttributeNotExists;
      if (arity(1) && args[0].kind != Operand::Kind::kPath) {
        Record(Err::kFunction, absl::StrCat("Operator or function requires a document path; "
                                            "operator or function: ",
                                            name));
      }
    } else if (name == "attribute_type") {
      c.kind = Condition::Kind::kAttributeType;
      if (arity(2)) {
        CheckDistinct(name, args[0], args[1]);
        const Operand& t = args[1];
        if (t.kind != Operand::Kind::kValue || t.value.type() != ValueType::kS) {
          std::string type = StaticType(t);
          bad_type(type.empty() ? "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}" : type);
        } else {
          static const std::set<std::string>* const kTypes =
              new std::set<std::string>{"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"};
          if (kTypes->count(t.value.scalar()) == 0) {
            Record(Err::kFunction,
                   absl::StrCat("Invalid attribute type name found; type: ", t.value.scalar(),
                                ", valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"));
          }
        }
      }
    } else if (name == "begins_with" || name == "contains") {
      c.kind = name == "begins_with" ? Condition::Kind::kBeginsWith : Condition::Kind::kContains;
      if (arity(2)) {
        CheckDistinct(name, args[0], args[1]);
        if (c.kind == Condition::Kind::kBeginsWith) {
          for (const Operand& a : args) {
            std::string t = StaticType(a);
            if (!t.empty() && t != "S" && t != "B") {
              bad_type(t);
              break;
            }
          }
        }
      }
    } else {
      Record(Err::kUnknownFunction,
             name == "if_not_exists" || name == "list_append"
                 ? absl::StrCat("The function is not allowed in a condition expression; "
                                "function: ",
                                name)
                 : absl::StrCat("Invalid function name; function: ", name));
      out->wildcard = true;
      return true;
    }
    c.operands = std::move(args);
    out->cond = std::move(c);
    return true;
  }

  void CheckDistinct(const std::string& op, const Operand& a, const Operand& b) {
    if (a.kind == Operand::Kind::kPath && b.kind == Operand::Kind::kPath && a.path == b.path) {
      Record(Err::kDistinct,
             absl::StrCat("The first operand must be distinct from the remaining operands for "
                          "this operator or function; operator: ",
                          op, ", first operand: ", PathToString(a.path)));
    }
  }

  void CheckBetween(const Operand& lo, const Operand& hi) {
    if (lo.kind != Operand::Kind::kValue || hi.kind != Operand::Kind::kValue) return;
    std::string bounds =
        absl::StrCat("lower bound operand: AttributeValue: {", DescribeValue(lo.value),
                     "}, upper bound operand: AttributeValue: {", DescribeValue(hi.value), "}");
    if (lo.value.type() != hi.value.type()) {
      Record(Err::kFunction, absl::StrCat("The BETWEEN operator requires same data type for "
                                          "lower and upper bounds; ",
                                          bounds));
      return;
    }
    std::optional<int> order = OrderScalars(lo.value, hi.value);
    if (order && *order > 0) {
      Record(Err::kFunction, absl::StrCat("The BETWEEN operator requires upper bound to be "
                                          "greater than or equal to lower bound; ",
                                          bounds));
    }
  }
};

// --- update expressions -------------------------------------------------------------------

const char* DynamoTypeWord(ValueType t) {
  switch (t) {
    case ValueType::kS:
      return "STRING";
    case ValueType::kN:
      return "NUMBER";
    case ValueType::kB:
      return "BINARY";
    case ValueType::kBool:
      return "BOOLEAN";
    case ValueType::kNull:
      return "NULL";
    case ValueType::kM:
      return "MAP";
    case ValueType::kL:
      return "LIST";
    default:
      return ValueTypeName(t);
  }
}

bool IsArithmetic(const Operand& o) {
  return o.kind == Operand::Kind::kPlus || o.kind == Operand::Kind::kMinus;
}

class UpdateParser : public Parser {
 public:
  using Parser::Parser;

  absl::StatusOr<UpdatePlan> Parse() {
    RETURN_IF_ERROR(CheckSize());
    static constexpr const char* kClauses[] = {"SET", "REMOVE", "ADD", "DELETE"};
    static constexpr UpdateAction::Kind kKinds[] = {
        UpdateAction::Kind::kSet, UpdateAction::Kind::kRemove, UpdateAction::Kind::kAdd,
        UpdateAction::Kind::kDelete};
    UpdatePlan plan;
    bool seen[4] = {false, false, false, false};
    while (type() != Tok::kEof) {
      int clause = -1;
      for (int i = 0; i < 4; ++i) {
        if (AtKeyword(kClauses[i])) clause = i;
      }
      if (clause < 0) {
        SyntaxError();
        return fatal_;
      }
      if (seen[clause]) {
        Record(Err::kSection, absl::StrCat("The \"", kClauses[clause],
                                           "\" section can only be used once in an update "
                                           "expression;"));
      }
      seen[clause] = true;
      Advance();
      while (true) {
        UpdateAction action;
        action.kind = kKinds[clause];
        if (!ParseAction(&action)) return fatal_;
        plan.actions.push_back(std::move(action));
        if (type() != Tok::kComma) break;
        Advance();
      }
    }
    std::vector<const Path*> paths;
    for (const UpdateAction& a : plan.actions) paths.push_back(&a.path);
    CheckOverlaps(paths);
    RETURN_IF_ERROR(
        Outcome({Err::kPathDepth, Err::kReserved, Err::kUnknownFunction, Err::kMisusedFunction,
                 Err::kSection, Err::kAttrName, Err::kAttrValue, Err::kOverlap, Err::kConflict,
                 Err::kActionOperand, Err::kOperandCount, Err::kFunction}));
    return plan;
  }

 private:
  bool IsKeyword(const Token& t) const override {
    if (t.type != Tok::kName) return false;
    std::string_view s = text_.substr(t.begin, t.end - t.begin);
    return EqualsIgnoreCase(s, "SET") || EqualsIgnoreCase(s, "REMOVE") ||
           EqualsIgnoreCase(s, "ADD") || EqualsIgnoreCase(s, "DELETE");
  }

  bool ParseAction(UpdateAction* action) {
    if (!ParsePath(&action->path)) return false;
    switch (action->kind) {
      case UpdateAction::Kind::kSet:
        if (type() != Tok::kEq) return SyntaxError();
        Advance();
        return ParseValue(&action->value);
      case UpdateAction::Kind::kRemove:
        return true;
      case UpdateAction::Kind::kAdd:
      case UpdateAction::Kind::kDelete: {
        if (type() != Tok::kValuePh) return SyntaxError();
        bool defined = ResolveValue(Peek(), &action->value);
        Advance();
        const bool add = action->kind == UpdateAction::Kind::kAdd;
        ValueType t = action->value.value.type();
        if (defined && !IsSetType(t) && !(add && t == ValueType::kN)) {
          Record(Err::kActionOperand,
                 absl::StrCat("Incorrect operand type for operator or function; operator: ",
                              add ? "ADD" : "DELETE", ", operand type: ", DynamoTypeWord(t)));
        }
        return true;
      }
    }
    return SyntaxError();
  }

  // The right-hand side of SET: term [ ('+' | '-') term ].
  bool ParseValue(Operand* out) {
    if (!ParseTerm(out)) return false;
    if (type() != Tok::kPlus && type() != Tok::kMinus) return true;
    const size_t op_index = pos_;
    const bool plus = type() == Tok::kPlus;
    Advance();
    Operand rhs;
    if (!ParseTerm(&rhs)) return false;
    // Only one '+' or '-' per value: "(a + b) + c" is as wrong as "a + b + c".
    if (IsArithmetic(*out) || IsArithmetic(rhs)) return SyntaxErrorAt(op_index);
    for (const Operand* o : {out, &rhs}) {
      if (o->kind == Operand::Kind::kValue && o->value.type() != ValueType::kN) {
        Record(Err::kFunction,
               absl::StrCat("Incorrect operand type for operator or function; operator or "
                            "function: ",
                            plus ? "+" : "-", ", operand type: ", ValueTypeName(o->value.type())));
        break;
      }
    }
    Operand result;
    result.kind = plus ? Operand::Kind::kPlus : Operand::Kind::kMinus;
    result.args.push_back(std::move(*out));
    result.args.push_back(std::move(rhs));
    *out = std::move(result);
    return true;
  }

  bool ParseTerm(Operand* out) {
    if (type() != Tok::kLParen) return ParseOperand(out, /*nested=*/false);
    Nest nest(&depth_);
    if (nest.too_deep()) return TooDeep();
    Advance();
    if (!ParseValue(out)) return false;
    if (type() != Tok::kRParen) return SyntaxError();
    Advance();
    return true;
  }

  // A function argument: an operand, possibly parenthesized; never arithmetic.
  bool ParseArgument(Operand* out) {
    if (type() != Tok::kLParen) return ParseOperand(out, /*nested=*/true);
    Nest nest(&depth_);
    if (nest.too_deep()) return TooDeep();
    Advance();
    if (!ParseArgument(out)) return false;
    if (type() != Tok::kRParen) return SyntaxError();
    Advance();
    return true;
  }

  bool ParseOperand(Operand* out, bool nested) {
    const Token& t = Peek();
    if (t.type == Tok::kValuePh) {
      ResolveValue(t, out);
      Advance();
      return true;
    }
    if (t.type == Tok::kName && !IsKeyword(t) && Peek(1).type == Tok::kLParen) {
      return ParseFunction(out, nested);
    }
    if (t.type == Tok::kName || t.type == Tok::kNamePh) {
      out->kind = Operand::Kind::kPath;
      return ParsePath(&out->path);
    }
    return SyntaxError();
  }

  bool ParseFunction(Operand* out, bool nested) {
    Nest nest(&depth_);
    if (nest.too_deep()) return TooDeep();
    const std::string name = TextOf(Peek());
    Advance();  // the name
    Advance();  // '('
    std::vector<Operand> args;
    while (true) {
      Operand a;
      if (!ParseArgument(&a)) return false;
      args.push_back(std::move(a));
      if (type() == Tok::kComma) {
        Advance();
      } else if (type() == Tok::kRParen) {
        Advance();
        break;
      } else {
        return SyntaxError();
      }
    }
    auto arity = [&](size_t n) {
      if (args.size() == n) return true;
      Record(Err::kOperandCount,
             absl::StrCat("Incorrect number of operands for operator or function; operator or "
                          "function: ",
                          name, ", number of operands: ", args.size()));
      return false;
    };
    if (name == "if_not_exists") {
      out->kind = Operand::Kind::kIfNotExists;
      if (arity(2) && args[0].kind != Operand::Kind::kPath) {
        Record(Err::kFunction,
               "Operator or function requires a document path; operator or function: "
               "if_not_exists");
      }
    } else if (name == "list_append") {
      // DynamoDB refuses list_append inside another function's arguments.
      if (nested) {
        Record(Err::kMisusedFunction,
               "The function is not allowed to be used this way in an expression; function: "
               "list_append");
      }
      out->kind = Operand::Kind::kListAppend;
      if (arity(2)) {
        for (const Operand& a : args) {
          if (a.kind == Operand::Kind::kValue && a.value.type() != ValueType::kL) {
            Record(Err::kFunction,
                   absl::StrCat("Incorrect operand type for operator or function; operator or "
                                "function: list_append, operand type: ",
                                ValueTypeName(a.value.type())));
            break;
          }
        }
      }
    } else {
      const bool condition_function = name == "attribute_exists" ||
                                      name == "attribute_not_exists" || name == "attribute_type" ||
                                      name == "begins_with" || name == "contains" || name == "size";
      Record(Err::kUnknownFunction,
             condition_function
                 ? absl::StrCat("The function is not allowed in an update expression; function: ",
                                name)
                 : absl::StrCat("Invalid function name; function: ", name));
      *out = Operand();
      return true;
    }
    out->args = std::move(args);
    return true;
  }
};

// --- projection expressions ---------------------------------------------------------------

class ProjectionParser : public Parser {
 public:
  using Parser::Parser;

  absl::StatusOr<Projection> Parse() {
    RETURN_IF_ERROR(CheckSize());
    Projection projection;
    while (true) {
      Path path;
      if (!ParsePath(&path)) return fatal_;
      projection.paths.push_back(std::move(path));
      if (type() == Tok::kComma) {
        Advance();
      } else if (type() == Tok::kEof) {
        break;
      } else {
        SyntaxError();
        return fatal_;
      }
    }
    std::vector<const Path*> paths;
    for (const Path& p : projection.paths) paths.push_back(&p);
    CheckOverlaps(paths);
    RETURN_IF_ERROR(
        Outcome({Err::kPathDepth, Err::kReserved, Err::kAttrName, Err::kOverlap, Err::kConflict}));
    return projection;
  }
};

// --- evaluation ---------------------------------------------------------------------------

std::optional<size_t> SizeOf(const AttributeValue& v) {
  switch (v.type()) {
    case ValueType::kS:
    case ValueType::kB:
      return v.scalar().size();
    case ValueType::kSS:
    case ValueType::kNS:
    case ValueType::kBS:
      return v.set().size();
    case ValueType::kL:
      return v.list().size();
    case ValueType::kM:
      return v.map().size();
    default:
      return std::nullopt;
  }
}

// The value of a condition operand, or null when it has none (missing attribute, size() of a
// number...). Computed values are written to `scratch`.
const AttributeValue* Resolve(const Operand& op, const Item* item, AttributeValue* scratch) {
  switch (op.kind) {
    case Operand::Kind::kPath:
      return item == nullptr ? nullptr : FindPath(*item, op.path);
    case Operand::Kind::kValue:
      return &op.value;
    case Operand::Kind::kSize: {
      if (op.args.size() != 1) return nullptr;
      AttributeValue inner_scratch;
      const AttributeValue* v = Resolve(op.args[0], item, &inner_scratch);
      if (v == nullptr) return nullptr;
      std::optional<size_t> size = SizeOf(*v);
      if (!size) return nullptr;
      *scratch = AttributeValue::N(std::to_string(*size));
      return scratch;
    }
    default:
      return nullptr;
  }
}

bool Compare(const AttributeValue* a, const AttributeValue* b, Condition::Op op) {
  const bool equal = a != nullptr && b != nullptr && *a == *b;
  if (op == Condition::Op::kEq) return equal;
  if (op == Condition::Op::kNe) return !equal;
  if (a == nullptr || b == nullptr) return false;
  std::optional<int> order = OrderScalars(*a, *b);
  if (!order) return false;
  switch (op) {
    case Condition::Op::kLt:
      return *order < 0;
    case Condition::Op::kLe:
      return *order <= 0;
    case Condition::Op::kGt:
      return *order > 0;
    case Condition::Op::kGe:
      return *order >= 0;
    default:
      return false;
  }
}

bool Contains(const AttributeValue& haystack, const AttributeValue& needle) {
  const ValueType h = haystack.type();
  const ValueType n = needle.type();
  switch (h) {
    case ValueType::kS:
    case ValueType::kB:
      return n == h && haystack.scalar().find(needle.scalar()) != std::string::npos;
    case ValueType::kSS:
    case ValueType::kNS:
    case ValueType::kBS: {
      const ValueType member = h == ValueType::kSS   ? ValueType::kS
                               : h == ValueType::kNS ? ValueType::kN
                                                     : ValueType::kB;
      // Set members are kept sorted (numbers in canonical form), so search by bytes.
      return n == member &&
             std::binary_search(haystack.set().begin(), haystack.set().end(), needle.scalar());
    }
    case ValueType::kL:
      return std::find(haystack.list().begin(), haystack.list().end(), needle) !=
             haystack.list().end();
    default:
      return false;
  }
}

// 1 true, 0 false, -1 malformed (an AST the parser would not produce).
int Eval(const Condition& c, const Item* item) {
  using K = Condition::Kind;
  auto need = [&](size_t n) { return c.operands.size() == n; };
  switch (c.kind) {
    case K::kAnd:
      for (const Condition& child : c.children) {
        int r = Eval(child, item);
        if (r != 1) return r;
      }
      return 1;
    case K::kOr: {
      int result = 0;
      for (const Condition& child : c.children) {
        int r = Eval(child, item);
        if (r < 0) return r;
        if (r == 1) result = 1;
      }
      return result;
    }
    case K::kNot: {
      if (c.children.size() != 1) return -1;
      int r = Eval(c.children[0], item);
      return r < 0 ? r : 1 - r;
    }
    case K::kCompare: {
      if (!need(2)) return -1;
      AttributeValue s1, s2;
      return Compare(Resolve(c.operands[0], item, &s1), Resolve(c.operands[1], item, &s2), c.op);
    }
    case K::kBetween: {
      if (!need(3)) return -1;
      AttributeValue s1, s2, s3;
      const AttributeValue* v = Resolve(c.operands[0], item, &s1);
      return Compare(v, Resolve(c.operands[1], item, &s2), Condition::Op::kGe) &&
             Compare(v, Resolve(c.operands[2], item, &s3), Condition::Op::kLe);
    }
    case K::kIn: {
      if (c.operands.empty()) return -1;
      AttributeValue s1;
      const AttributeValue* v = Resolve(c.operands[0], item, &s1);
      for (size_t i = 1; i < c.operands.size(); ++i) {
        AttributeValue s2;
        if (Compare(v, Resolve(c.operands[i], item, &s2), Condition::Op::kEq)) return 1;
      }
      return 0;
    }
    case K::kAttributeExists:
    case K::kAttributeNotExists: {
      if (!need(1) || c.operands[0].kind != Operand::Kind::kPath) return -1;
      const bool exists = item != nullptr && FindPath(*item, c.operands[0].path) != nullptr;
      return exists == (c.kind == K::kAttributeExists);
    }
    case K::kAttributeType: {
      if (!need(2)) return -1;
      AttributeValue s1, s2;
      const AttributeValue* v = Resolve(c.operands[0], item, &s1);
      const AttributeValue* t = Resolve(c.operands[1], item, &s2);
      return v != nullptr && t != nullptr && t->type() == ValueType::kS &&
             t->scalar() == ValueTypeName(v->type());
    }
    case K::kBeginsWith: {
      if (!need(2)) return -1;
      AttributeValue s1, s2;
      const AttributeValue* v = Resolve(c.operands[0], item, &s1);
      const AttributeValue* prefix = Resolve(c.operands[1], item, &s2);
      if (v == nullptr || prefix == nullptr || v->type() != prefix->type()) return 0;
      if (v->type() != ValueType::kS && v->type() != ValueType::kB) return 0;
      return v->scalar().compare(0, prefix->scalar().size(), prefix->scalar()) == 0;
    }
    case K::kContains: {
      if (!need(2)) return -1;
      AttributeValue s1, s2;
      const AttributeValue* v = Resolve(c.operands[0], item, &s1);
      const AttributeValue* needle = Resolve(c.operands[1], item, &s2);
      return v != nullptr && needle != nullptr && Contains(*v, *needle);
    }
  }
  return -1;
}

// --- update application -------------------------------------------------------------------

absl::Status MissingAttribute() {
  return absl::InvalidArgumentError(
      "The provided expression refers to an attribute that does not exist in the item");
}
absl::Status WrongType() {
  return absl::InvalidArgumentError(
      "An operand in the update expression has an incorrect data type");
}
absl::Status BadPath() {
  return absl::InvalidArgumentError(
      "The document path provided in the update expression is invalid for update");
}

absl::StatusOr<AttributeValue> EvalUpdateOperand(const Operand& op, const Item& item) {
  switch (op.kind) {
    case Operand::Kind::kPath: {
      const AttributeValue* v = FindPath(item, op.path);
      if (v == nullptr) return MissingAttribute();
      return *v;
    }
    case Operand::Kind::kValue:
      return op.value;
    case Operand::Kind::kIfNotExists: {
      if (op.args.size() != 2 || op.args[0].kind != Operand::Kind::kPath) return WrongType();
      if (const AttributeValue* v = FindPath(item, op.args[0].path)) return *v;
      return EvalUpdateOperand(op.args[1], item);
    }
    case Operand::Kind::kListAppend: {
      if (op.args.size() != 2) return WrongType();
      ASSIGN_OR_RETURN(AttributeValue a, EvalUpdateOperand(op.args[0], item));
      ASSIGN_OR_RETURN(AttributeValue b, EvalUpdateOperand(op.args[1], item));
      if (a.type() != ValueType::kL || b.type() != ValueType::kL) return WrongType();
      std::vector<AttributeValue> joined = a.list();
      joined.insert(joined.end(), b.list().begin(), b.list().end());
      return AttributeValue::L(std::move(joined));
    }
    case Operand::Kind::kPlus:
    case Operand::Kind::kMinus: {
      if (op.args.size() != 2) return WrongType();
      ASSIGN_OR_RETURN(AttributeValue a, EvalUpdateOperand(op.args[0], item));
      ASSIGN_OR_RETURN(AttributeValue b, EvalUpdateOperand(op.args[1], item));
      if (a.type() != ValueType::kN || b.type() != ValueType::kN) return WrongType();
      ASSIGN_OR_RETURN(std::string sum,
                       AddNumbers(a.scalar(), b.scalar(), op.kind == Operand::Kind::kMinus));
      return AttributeValue::N(std::move(sum));
    }
    case Operand::Kind::kSize:
      break;
  }
  return WrongType();
}

// Sets (value != null) or removes (value == null) path[pos..] inside `node`. AttributeValue
// exposes its containers read-only, so each level is copied, changed and rebuilt.
absl::Status Mutate(AttributeValue* node, const Path& path, size_t pos,
                    const AttributeValue* value) {
  const PathElement& e = path[pos];
  const bool last = pos + 1 == path.size();
  if (!e.is_index) {
    if (node->type() != ValueType::kM) return BadPath();
    Item fields = node->map();
    auto it = fields.find(e.name);
    if (last) {
      if (value != nullptr) {
        fields[e.name] = *value;
      } else if (it == fields.end()) {
        return absl::OkStatus();
      } else {
        fields.erase(it);
      }
    } else {
      if (it == fields.end()) return BadPath();
      RETURN_IF_ERROR(Mutate(&it->second, path, pos + 1, value));
    }
    *node = AttributeValue::M(std::move(fields));
    return absl::OkStatus();
  }
  if (node->type() != ValueType::kL) return BadPath();
  std::vector<AttributeValue> list = node->list();
  if (last) {
    if (value != nullptr) {
      if (e.index < list.size()) {
        list[e.index] = *value;
      } else {
        list.push_back(*value);  // past the end: appended
      }
    } else if (e.index >= list.size()) {
      return absl::OkStatus();
    } else {
      list.erase(list.begin() + e.index);
    }
  } else {
    if (e.index >= list.size()) return BadPath();
    RETURN_IF_ERROR(Mutate(&list[e.index], path, pos + 1, value));
  }
  *node = AttributeValue::L(std::move(list));
  return absl::OkStatus();
}

absl::Status SetPath(Item* item, const Path& path, AttributeValue value) {
  if (path.empty() || path[0].is_index) return BadPath();
  if (path.size() == 1) {
    (*item)[path[0].name] = std::move(value);
    return absl::OkStatus();
  }
  auto it = item->find(path[0].name);
  if (it == item->end()) return BadPath();
  return Mutate(&it->second, path, 1, &value);
}

absl::Status RemovePath(Item* item, const Path& path) {
  if (path.empty() || path[0].is_index) return BadPath();
  auto it = item->find(path[0].name);
  if (path.size() == 1) {
    if (it != item->end()) item->erase(it);
    return absl::OkStatus();
  }
  if (it == item->end()) return BadPath();
  return Mutate(&it->second, path, 1, nullptr);
}

// OK when `path` could be written in `item`: its parent exists and is the right container.
absl::Status CheckParent(const Item& item, const Path& path) {
  if (path.empty() || path[0].is_index) return BadPath();
  if (path.size() == 1) return absl::OkStatus();
  Path parent_path(path.begin(), path.end() - 1);
  const AttributeValue* parent = FindPath(item, parent_path);
  if (parent == nullptr) return BadPath();
  const ValueType want = path.back().is_index ? ValueType::kL : ValueType::kM;
  return parent->type() == want ? absl::OkStatus() : BadPath();
}

// Orders paths element by element; indexes numerically, before names; prefixes first.
bool PathLess(const Path& a, const Path& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i].is_index != b[i].is_index) return a[i].is_index;
    if (a[i].is_index) {
      if (a[i].index != b[i].index) return a[i].index < b[i].index;
    } else if (a[i].name != b[i].name) {
      return a[i].name < b[i].name;
    }
  }
  return a.size() < b.size();
}

AttributeValue MakeSet(ValueType type, std::vector<std::string> members) {
  switch (type) {
    case ValueType::kSS:
      return AttributeValue::SS(std::move(members));
    case ValueType::kNS:
      return AttributeValue::NS(std::move(members));
    default:
      return AttributeValue::BS(std::move(members));
  }
}

absl::Status ApplyAdd(const UpdateAction& a, const Item& original, Item* result) {
  const AttributeValue& value = a.value.value;
  const AttributeValue* existing = FindPath(original, a.path);
  if (existing == nullptr) {
    if (value.type() != ValueType::kN && !IsSetType(value.type())) return WrongType();
    return SetPath(result, a.path, value);
  }
  if (existing->type() != value.type()) return WrongType();
  if (value.type() == ValueType::kN) {
    ASSIGN_OR_RETURN(std::string sum, AddNumbers(existing->scalar(), value.scalar()));
    return SetPath(result, a.path, AttributeValue::N(std::move(sum)));
  }
  if (!IsSetType(value.type())) return WrongType();
  std::vector<std::string> members = existing->set();
  members.insert(members.end(), value.set().begin(), value.set().end());
  return SetPath(result, a.path, MakeSet(value.type(), std::move(members)));
}

absl::Status ApplyDelete(const UpdateAction& a, const Item& original, Item* result) {
  const AttributeValue& value = a.value.value;
  if (!IsSetType(value.type())) return WrongType();
  const AttributeValue* existing = FindPath(original, a.path);
  if (existing == nullptr) return CheckParent(*result, a.path);  // nothing to delete from
  if (existing->type() != value.type()) return WrongType();
  std::vector<std::string> remaining;
  std::set_difference(existing->set().begin(), existing->set().end(), value.set().begin(),
                      value.set().end(), std::back_inserter(remaining));
  if (remaining.empty()) return RemovePath(result, a.path);  // sets cannot be empty
  return SetPath(result, a.path, MakeSet(value.type(), std::move(remaining)));
}

// --- projection ---------------------------------------------------------------------------

// The projection's paths as a tree, nodes in a flat vector (node 0 is the item).
struct ProjectionTree {
  struct Node {
    bool whole = false;  // the path ends here: take the whole value
    std::map<std::string, size_t> keys;
    std::map<uint32_t, size_t> indexes;
  };
  std::vector<Node> nodes;

  explicit ProjectionTree(const Projection& projection) : nodes(1) {
    for (const Path& path : projection.paths) {
      size_t at = 0;
      for (const PathElement& e : path) {
        const size_t fresh = nodes.size();
        size_t child;
        bool created;
        if (e.is_index) {
          auto r = nodes[at].indexes.emplace(e.index, fresh);
          child = r.first->second;
          created = r.second;
        } else {
          auto r = nodes[at].keys.emplace(e.name, fresh);
          child = r.first->second;
          created = r.second;
        }
        if (created) nodes.emplace_back();  // may move the nodes: nothing refers into them
        at = child;
      }
      nodes[at].whole = true;
    }
  }

  std::optional<AttributeValue> Select(const AttributeValue& v, size_t node) const {
    const Node& n = nodes[node];
    if (n.whole) return v;
    if (v.type() == ValueType::kM && !n.keys.empty()) {
      Item out;
      for (const auto& [key, child] : n.keys) {
        auto it = v.map().find(key);
        if (it == v.map().end()) continue;
        if (auto picked = Select(it->second, child)) out.emplace(key, *std::move(picked));
      }
      if (out.empty()) return std::nullopt;
      return AttributeValue::M(std::move(out));
    }
    if (v.type() == ValueType::kL && !n.indexes.empty()) {
      std::vector<AttributeValue> out;
      for (const auto& [index, child] : n.indexes) {
        if (index >= v.list().size()) break;
        if (auto picked = Select(v.list()[index], child)) out.push_back(*std::move(picked));
      }
      if (out.empty()) return std::nullopt;
      return AttributeValue::L(std::move(out));
    }
    return std::nullopt;
  }
};

// --- numbers ------------------------------------------------------------------------------

// A decimal as sign, digit string without leading zeros ("" for zero) and scale:
// value = digits * 10^-scale, scale >= 0.
struct Fixed {
  bool negative = false;
  std::string digits;
  int scale = 0;
};

// Accepts DynamoDB number text (canonical or not); bounded so hostile text cannot blow up.
bool ParseFixed(const std::string& text, Fixed* out) {
  size_t i = 0;
  const size_t n = text.size();
  Fixed f;
  if (i < n && (text[i] == '+' || text[i] == '-')) f.negative = text[i++] == '-';
  std::string mantissa;
  int fraction = -1;  // digits after the point, once a point was seen
  for (; i < n; ++i) {
    if (IsDigit(text[i])) {
      mantissa.push_back(text[i]);
      if (fraction >= 0) ++fraction;
    } else if (text[i] == '.' && fraction < 0) {
      fraction = 0;
    } else {
      break;
    }
  }
  if (mantissa.empty() || mantissa.size() > 400) return false;
  long exponent = 0;
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool negative_exponent = false;
    if (i < n && (text[i] == '+' || text[i] == '-')) negative_exponent = text[i++] == '-';
    if (i >= n) return false;
    for (; i < n; ++i) {
      if (!IsDigit(text[i])) return false;
      exponent = exponent * 10 + (text[i] - '0');
      if (exponent > 400) return false;
    }
    if (negative_exponent) exponent = -exponent;
  }
  if (i != n) return false;
  long scale = (fraction < 0 ? 0 : fraction) - exponent;
  if (scale < 0) {
    mantissa.append(static_cast<size_t>(-scale), '0');
    scale = 0;
  }
  size_t lead = mantissa.find_first_not_of('0');
  f.digits = lead == std::string::npos ? "" : mantissa.substr(lead);
  f.scale = static_cast<int>(scale);
  if (f.digits.empty()) f.negative = false;
  *out = f;
  return true;
}

// Magnitude comparison of two digit strings without leading zeros.
int CompareDigits(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

std::string AddDigits(const std::string& a, const std::string& b) {
  std::string out;
  int carry = 0;
  for (size_t i = 0; i < std::max(a.size(), b.size()) || carry; ++i) {
    int d = carry;
    if (i < a.size()) d += a[a.size() - 1 - i] - '0';
    if (i < b.size()) d += b[b.size() - 1 - i] - '0';
    out.push_back(static_cast<char>('0' + d % 10));
    carry = d / 10;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// a - b for a >= b.
std::string SubtractDigits(const std::string& a, const std::string& b) {
  std::string out;
  int borrow = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    int d = (a[a.size() - 1 - i] - '0') - borrow;
    if (i < b.size()) d -= b[b.size() - 1 - i] - '0';
    borrow = d < 0 ? 1 : 0;
    out.push_back(static_cast<char>('0' + (d + 10) % 10));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

// --- public API ---------------------------------------------------------------------------

const char* ExpressionKindName(ExpressionKind kind) {
  switch (kind) {
    case ExpressionKind::kCondition:
      return "ConditionExpression";
    case ExpressionKind::kFilter:
      return "FilterExpression";
    case ExpressionKind::kKeyCondition:
      return "KeyConditionExpression";
    case ExpressionKind::kUpdate:
      return "UpdateExpression";
    case ExpressionKind::kProjection:
      return "ProjectionExpression";
  }
  return "Expression";
}

absl::Status ValidateContext(const ExpressionContext& ctx) {
  auto well_formed = [](const std::string& key, char prefix) {
    if (key.size() < 2 || key[0] != prefix) return false;
    return std::all_of(key.begin() + 1, key.end(), IsWordChar);
  };
  if (ctx.names != nullptr) {
    if (ctx.names->empty()) {
      return absl::InvalidArgumentError("ExpressionAttributeNames must not be empty");
    }
    for (const auto& [key, name] : *ctx.names) {
      if (!well_formed(key, '#')) {
        return absl::InvalidArgumentError(absl::StrCat(
            "ExpressionAttributeNames contains invalid key: Syntax error; key: \"", key, "\""));
      }
      if (name.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "ExpressionAttributeNames contains invalid value: Empty attribute name for key ", key));
      }
    }
  }
  if (ctx.values != nullptr) {
    if (ctx.values->empty()) {
      return absl::InvalidArgumentError("ExpressionAttributeValues must not be empty");
    }
    for (const auto& entry : *ctx.values) {
      if (!well_formed(entry.first, ':')) {
        return absl::InvalidArgumentError(
            absl::StrCat("ExpressionAttributeValues contains invalid key: Syntax error; key: \"",
                         entry.first, "\""));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckAllUsed(const ExpressionContext& ctx) {
  auto unused = [](const auto* provided, const std::set<std::string>& used) {
    std::vector<std::string> keys;
    if (provided == nullptr) return keys;
    for (const auto& entry : *provided) {
      if (used.count(entry.first) == 0) keys.push_back(entry.first);
    }
    return keys;
  };
  std::vector<std::string> names = unused(ctx.names, ctx.used_names);
  if (!names.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Value provided in ExpressionAttributeNames unused in expressions: keys: {",
                     absl::StrJoin(names, ", "), "}"));
  }
  std::vector<std::string> values = unused(ctx.values, ctx.used_values);
  if (!values.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Value provided in ExpressionAttributeValues unused in expressions: keys: {",
                     absl::StrJoin(values, ", "), "}"));
  }
  return absl::OkStatus();
}

std::string PathToString(const Path& path) {
  std::vector<std::string> parts;
  for (const PathElement& e : path) {
    parts.push_back(e.is_index ? absl::StrCat("[", e.index, "]") : e.name);
  }
  return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
}

const AttributeValue* FindPath(const Item& item, const Path& path) {
  if (path.empty() || path[0].is_index) return nullptr;
  auto it = item.find(path[0].name);
  if (it == item.end()) return nullptr;
  const AttributeValue* v = &it->second;
  for (size_t i = 1; i < path.size(); ++i) {
    const PathElement& e = path[i];
    if (e.is_index) {
      if (v->type() != ValueType::kL || e.index >= v->list().size()) return nullptr;
      v = &v->list()[e.index];
    } else {
      if (v->type() != ValueType::kM) return nullptr;
      auto field = v->map().find(e.name);
      if (field == v->map().end()) return nullptr;
      v = &field->second;
    }
  }
  return v;
}

absl::StatusOr<Condition> ParseCondition(std::string_view text, ExpressionContext* ctx,
                                         ExpressionKind kind) {
  return ConditionParser(text, ctx, kind).Parse();
}

absl::StatusOr<bool> Evaluate(const Condition& condition, const Item* item) {
  int r = Eval(condition, item);
  if (r < 0) return absl::InvalidArgumentError("malformed condition expression tree");
  return r == 1;
}

absl::StatusOr<KeyCondition> ParseKeyCondition(std::string_view text, ExpressionContext* ctx) {
  ASSIGN_OR_RETURN(Condition condition, ParseCondition(text, ctx, ExpressionKind::kKeyCondition));
  using K = Condition::Kind;
  auto invalid_operator = [](const std::string& op) {
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid operator used in KeyConditionExpression: ", op));
  };
  // Operators first, over the whole tree, as DynamoDB does; then the terms under the ANDs.
  std::vector<const Condition*> terms;
  std::vector<const Condition*> stack = {&condition};
  while (!stack.empty()) {
    const Condition* c = stack.back();
    stack.pop_back();
    switch (c->kind) {
      case K::kAnd:
        for (auto it = c->children.rbegin(); it != c->children.rend(); ++it) stack.push_back(&*it);
        continue;
      case K::kOr:
        return invalid_operator("OR");
      case K::kNot:
        return invalid_operator("NOT");
      case K::kIn:
        return invalid_operator("IN");
      case K::kAttributeExists:
        return invalid_operator("attribute_exists");
      case K::kAttributeNotExists:
        return invalid_operator("attribute_not_exists");
      case K::kAttributeType:
        return invalid_operator("attribute_type");
      case K::kContains:
        return invalid_operator("contains");
      case K::kCompare:
        if (c->op == Condition::Op::kNe) return invalid_operator("<>");
        break;
      case K::kBetween:
      case K::kBeginsWith:
        break;
    }
    terms.push_back(c);
  }
  KeyCondition result;
  for (const Condition* c : terms) {
    if (c->kind != K::kCompare && c->operands.front().kind != Operand::Kind::kPath) {
      return absl::InvalidArgumentError(
          absl::StrCat("Invalid condition in KeyConditionExpression: ",
                       c->kind == K::kBetween ? "BETWEEN" : "begins_with",
                       " operator must have the key attribute as its first operand"));
    }
    int key_index = -1;
    for (size_t i = 0; i < c->operands.size(); ++i) {
      const Operand& o = c->operands[i];
      if (o.kind == Operand::Kind::kSize) {
        return absl::InvalidArgumentError(
            "KeyConditionExpressions cannot contain nested operations");
      }
      if (o.kind != Operand::Kind::kPath) continue;
      if (key_index >= 0) {
        return absl::InvalidArgumentError(
            "Invalid condition in KeyConditionExpression: Multiple attribute names used in one "
            "condition");
      }
      if (o.path.size() > 1) {
        return absl::InvalidArgumentError(
            "KeyConditionExpressions cannot have conditions on nested attributes");
      }
      key_index = static_cast<int>(i);
    }
    if (key_index < 0) {
      return absl::InvalidArgumentError(
          "Invalid condition in KeyConditionExpression: No key attribute specified");
    }
    KeyTerm term;
    term.attribute = c->operands[key_index].path[0].name;
    if (c->kind == K::kBetween) {
      term.op = KeyOp::kBetween;
      term.value = c->operands[1].value;
      term.value2 = c->operands[2].value;
    } else if (c->kind == K::kBeginsWith) {
      term.op = KeyOp::kBeginsWith;
      term.value = c->operands[1].value;
    } else {
      // ":v < k" is "k > :v".
      const bool flipped = key_index == 1;
      switch (c->op) {
        case Condition::Op::kLt:
          term.op = flipped ? KeyOp::kGt : KeyOp::kLt;
          break;
        case Condition::Op::kLe:
          term.op = flipped ? KeyOp::kGe : KeyOp::kLe;
          break;
        case Condition::Op::kGt:
          term.op = flipped ? KeyOp::kLt : KeyOp::kGt;
          break;
        case Condition::Op::kGe:
          term.op = flipped ? KeyOp::kLe : KeyOp::kGe;
          break;
        default:
          term.op = KeyOp::kEq;
          break;
      }
      term.value = c->operands[1 - key_index].value;
    }
    for (const KeyTerm& seen : result.terms) {
      if (seen.attribute == term.attribute) {
        return absl::InvalidArgumentError(
            "KeyConditionExpressions must only contain one condition per key");
      }
    }
    result.terms.push_back(std::move(term));
  }
  result.condition = std::move(condition);
  return result;
}

absl::StatusOr<KeyQuery> BindKeySchema(const KeyCondition& condition, const KeyDef& hash_key,
                                       const std::optional<KeyDef>& range_key) {
  const KeyTerm* hash = nullptr;
  const KeyTerm* range = nullptr;
  for (const KeyTerm& t : condition.terms) {
    if (t.attribute == hash_key.name) hash = &t;
  }
  if (hash == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("Query condition missed key schema element: ", hash_key.name));
  }
  for (const KeyTerm& t : condition.terms) {
    if (&t == hash) continue;
    if (!range_key || t.attribute != range_key->name) {
      return absl::InvalidArgumentError("Query key condition not supported");
    }
    range = &t;
  }
  if (hash->op != KeyOp::kEq)
    return absl::InvalidArgumentError("Query key condition not supported");
  auto mismatch = absl::InvalidArgumentError(
      "One or more parameter values were invalid: Condition parameter type does not match "
      "schema type");
  if (hash->value.type() != hash_key.type) return mismatch;
  KeyQuery query;
  query.hash_name = hash->attribute;
  query.hash_value = hash->value;
  if (range != nullptr) {
    if (range->value.type() != range_key->type) return mismatch;
    if (range->op == KeyOp::kBetween && range->value2.type() != range_key->type) return mismatch;
    if (range->op == KeyOp::kBeginsWith && range_key->type == ValueType::kN) {
      return absl::InvalidArgumentError("Query key condition not supported");
    }
    query.range = *range;
  }
  return query;
}

absl::StatusOr<UpdatePlan> ParseUpdate(std::string_view text, ExpressionContext* ctx) {
  return UpdateParser(text, ctx, ExpressionKind::kUpdate).Parse();
}

absl::Status CheckKeyNotUpdated(const UpdatePlan& plan, const std::vector<std::string>& key_names) {
  for (const UpdateAction& a : plan.actions) {
    if (a.path.empty()) continue;
    const std::string& top = a.path[0].name;
    if (std::find(key_names.begin(), key_names.end(), top) != key_names.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Cannot update attribute ", top, ". This attribute is part of the key"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Item> ApplyUpdate(const UpdatePlan& plan, const Item& current_or_key,
                                 bool item_exists) {
  const Item& original = current_or_key;
  const size_t n = plan.actions.size();
  // Every operand reads the item as it was before the update.
  std::vector<AttributeValue> set_values(n);
  for (size_t i = 0; i < n; ++i) {
    if (plan.actions[i].kind == UpdateAction::Kind::kSet) {
      ASSIGN_OR_RETURN(set_values[i], EvalUpdateOperand(plan.actions[i].value, original));
    }
  }
  // List indexes refer to the original positions: write in path order (so appends past the end
  // land in index order), then remove from the highest index down.
  std::vector<size_t> writes, removes;
  for (size_t i = 0; i < n; ++i) {
    (plan.actions[i].kind == UpdateAction::Kind::kRemove ? removes : writes).push_back(i);
  }
  std::stable_sort(writes.begin(), writes.end(), [&](size_t a, size_t b) {
    return PathLess(plan.actions[a].path, plan.actions[b].path);
  });
  std::stable_sort(removes.begin(), removes.end(), [&](size_t a, size_t b) {
    return PathLess(plan.actions[b].path, plan.actions[a].path);
  });
  Item result = original;
  for (size_t i : writes) {
    const UpdateAction& a = plan.actions[i];
    switch (a.kind) {
      case UpdateAction::Kind::kSet:
        RETURN_IF_ERROR(SetPath(&result, a.path, std::move(set_values[i])));
        break;
      case UpdateAction::Kind::kAdd:
        RETURN_IF_ERROR(ApplyAdd(a, original, &result));
        break;
      case UpdateAction::Kind::kDelete:
        RETURN_IF_ERROR(ApplyDelete(a, original, &result));
        break;
      case UpdateAction::Kind::kRemove:
        break;
    }
  }
  for (size_t i : removes) {
    const Path& path = plan.actions[i].path;
    // DynamoDB ignores REMOVE of any path when the item does not exist yet.
    if (!item_exists && path.size() > 1) continue;
    RETURN_IF_ERROR(RemovePath(&result, path));
  }
  return result;
}

absl::StatusOr<Projection> ParseProjection(std::string_view text, ExpressionContext* ctx) {
  return ProjectionParser(text, ctx, ExpressionKind::kProjection).Parse();
}

Item Project(const Projection& projection, const Item& item) {
  ProjectionTree tree(projection);
  Item out;
  for (const auto& [name, child] : tree.nodes[0].keys) {
    auto it = item.find(name);
    if (it == item.end()) continue;
    if (auto picked = tree.Select(it->second, child)) out.emplace(name, *std::move(picked));
  }
  return out;
}

absl::StatusOr<std::string> AddNumbers(const std::string& a, const std::string& b, bool subtract) {
  Fixed x, y;
  if (!ParseFixed(a, &x) || !ParseFixed(b, &y)) {
    return absl::InvalidArgumentError("The parameter cannot be converted to a numeric value");
  }
  if (subtract && !y.digits.empty()) y.negative = !y.negative;
  // Align the scales, then add or subtract magnitudes.
  const int scale = std::max(x.scale, y.scale);
  std::string dx = x.digits + std::string(static_cast<size_t>(scale - x.scale), '0');
  std::string dy = y.digits + std::string(static_cast<size_t>(scale - y.scale), '0');
  if (x.digits.empty()) dx.clear();
  if (y.digits.empty()) dy.clear();
  std::string magnitude;
  bool negative = false;
  if (x.negative == y.negative) {
    magnitude = AddDigits(dx, dy);
    negative = x.negative;
  } else if (CompareDigits(dx, dy) >= 0) {
    magnitude = SubtractDigits(dx, dy);
    negative = x.negative;
  } else {
    magnitude = SubtractDigits(dy, dx);
    negative = y.negative;
  }
  size_t lead = magnitude.find_first_not_of('0');
  if (lead == std::string::npos) return std::string("0");
  magnitude.erase(0, lead);
  // value = magnitude * 10^-scale; its decimal exponent is len - 1 - scale.
  const long exponent = static_cast<long>(magnitude.size()) - 1 - scale;
  if (exponent > 125) {
    return absl::InvalidArgumentError(
        "Number overflow. Attempting to store a number with magnitude larger than supported "
        "range");
  }
  if (exponent < -130) {
    return absl::InvalidArgumentError(
        "Number underflow. Attempting to store a number with magnitude smaller than supported "
        "range");
  }
  size_t trail = magnitude.find_last_not_of('0');
  if (trail + 1 > 38) {
    return absl::InvalidArgumentError(
        "Attempting to store more than 38 significant digits in a Number");
  }
  std::string text = negative ? "-" : "";
  if (scale == 0) {
    text += magnitude;
  } else if (magnitude.size() > static_cast<size_t>(scale)) {
    text += magnitude.substr(0, magnitude.size() - scale) + "." +
            magnitude.substr(magnitude.size() - scale);
  } else {
    text += "0." + std::string(scale - magnitude.size(), '0') + magnitude;
  }
  return CanonicalNumber(text);
}

}  // namespace gtsim::expr
