//! The rule catalogue: every rule's id, default severity, description and fix.
//!
//! [`Rule`] is the typed handle the detectors use; [`RULES`] is the table users see
//! (`SHOW RULES`, README, `rules/default.toml`). Both list the rules in the same order.

use super::{RuleInfo, Severity};

/// One lint rule, as the detectors name it. `RULES[rule as usize]` is its catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rule {
    SelectStar,
    LimitWithoutOrder,
    LargeOffset,
    OffsetWithoutLimit,
    OrderByRandom,
    UnionInsteadOfUnionAll,
    ImplicitCrossJoin,
    HavingWithoutAggregate,
    CorrelatedSubqueryInSelect,
    LeadingWildcardLike,
    LikeWithoutWildcard,
    NotInSubquery,
    EqualsNull,
    LargeInList,
    FunctionOnColumn,
    OrAcrossColumns,
    UpdateWithoutWhere,
    DeleteWithoutWhere,
    InsertWithoutColumns,
}

impl Rule {
    /// Every rule, in catalogue order.
    pub(crate) const ALL: [Rule; 19] = [
        Rule::SelectStar,
        Rule::LimitWithoutOrder,
        Rule::LargeOffset,
        Rule::OffsetWithoutLimit,
        Rule::OrderByRandom,
        Rule::UnionInsteadOfUnionAll,
        Rule::ImplicitCrossJoin,
        Rule::HavingWithoutAggregate,
        Rule::CorrelatedSubqueryInSelect,
        Rule::LeadingWildcardLike,
        Rule::LikeWithoutWildcard,
        Rule::NotInSubquery,
        Rule::EqualsNull,
        Rule::LargeInList,
        Rule::FunctionOnColumn,
        Rule::OrAcrossColumns,
        Rule::UpdateWithoutWhere,
        Rule::DeleteWithoutWhere,
        Rule::InsertWithoutColumns,
    ];

    /// This rule's catalogue entry.
    pub(crate) fn info(self) -> &'static RuleInfo {
        &RULES[self as usize]
    }

    /// The rule with this id, if there is one.
    pub(crate) fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|rule| rule.info().id == id)
    }
}

use Severity::{Critical, Info, Warning};

/// The catalogue, in [`Rule`] order.
pub(crate) static RULES: [RuleInfo; 19] = [
    RuleInfo {
        id: "select-star",
        default_severity: Info,
        description: "SELECT * or t.* fetches every column, including ones added later: wider rows, \
                      no index-only scans, and code that breaks when columns change. \
                      Not raised inside EXISTS (...).",
        fix: "List the columns the code actually reads.",
    },
    RuleInfo {
        id: "limit-without-order",
        default_severity: Info,
        description: "LIMIT/FETCH without ORDER BY returns an arbitrary subset that can change \
                      between runs and plans. Not raised inside EXISTS (...) or for LIMIT 0.",
        fix: "Add ORDER BY on a unique key (e.g. ORDER BY id), or drop the LIMIT when the \
              WHERE clause already pins a single row.",
    },
    RuleInfo {
        id: "large-offset",
        default_severity: Warning,
        description: "OFFSET of at least `large_offset` rows: PostgreSQL produces and throws away \
                      that many rows for every page. Needs raw SQL (a normalized OFFSET $1 \
                      cannot be judged).",
        fix: "Use keyset pagination: WHERE (sort_key, id) > ($1, $2) ORDER BY sort_key, id \
              LIMIT n.",
    },
    RuleInfo {
        id: "offset-without-limit",
        default_severity: Info,
        description: "OFFSET without LIMIT/FETCH skips rows but still returns all the rest, \
                      usually a forgotten page size.",
        fix: "Add LIMIT with the page size (better: keyset pagination).",
    },
    RuleInfo {
        id: "order-by-random",
        default_severity: Warning,
        description: "ORDER BY random() reads and sorts the whole result just to pick a few rows.",
        fix: "Sample with TABLESAMPLE SYSTEM/BERNOULLI, or pick random keys in the \
              application and fetch them by primary key.",
    },
    RuleInfo {
        id: "union-instead-of-union-all",
        default_severity: Info,
        description: "UNION removes duplicates with an extra sort or hash over both results, \
                      which is often not intended.",
        fix: "Use UNION ALL when the branches cannot overlap or duplicates are fine; write \
              UNION DISTINCT when de-duplication is intended.",
    },
    RuleInfo {
        id: "implicit-cross-join",
        default_severity: Warning,
        description: "Comma-separated tables in FROM with no WHERE condition linking them \
                      produce a Cartesian product.",
        fix: "Write an explicit JOIN ... ON with the join condition, or CROSS JOIN when the \
              product is intended.",
    },
    RuleInfo {
        id: "having-without-aggregate",
        default_severity: Info,
        description: "A HAVING condition without any aggregate filters groups after grouping; \
                      in WHERE it would filter rows before grouping and could use an index.",
        fix: "Move the condition from HAVING to WHERE.",
    },
    RuleInfo {
        id: "correlated-subquery-in-select",
        default_severity: Info,
        description: "A scalar subquery in the SELECT list that references the outer query \
                      runs once per output row.",
        fix: "Rewrite as a JOIN (or LEFT JOIN LATERAL) with GROUP BY, computing the value \
              for all rows at once.",
    },
    RuleInfo {
        id: "leading-wildcard-like",
        default_severity: Warning,
        description: "LIKE/ILIKE pattern starting with % or _ cannot use a btree index and scans \
                      the table. Needs raw SQL, unless written as '%' || $1.",
        fix: "Use a pg_trgm GIN index (gin_trgm_ops) or full-text search, or anchor the \
              pattern at the start.",
    },
    RuleInfo {
        id: "like-without-wildcard",
        default_severity: Info,
        description: "LIKE/ILIKE with a pattern that has no wildcard is an equality test in \
                      disguise. Needs raw SQL.",
        fix: "Use = (for ILIKE: lower(col) = lower($1) with an index on lower(col)).",
    },
    RuleInfo {
        id: "not-in-subquery",
        default_severity: Warning,
        description: "NOT IN (SELECT ...) matches nothing once the subquery yields a NULL, and \
                      PostgreSQL cannot plan it as an anti-join.",
        fix: "Use NOT EXISTS (SELECT 1 FROM ... WHERE inner.col = outer.col).",
    },
    RuleInfo {
        id: "equals-null",
        default_severity: Critical,
        description: "= NULL / <> NULL is never true (it yields NULL), so the condition silently \
                      matches nothing.",
        fix: "Use IS NULL / IS NOT NULL (IS [NOT] DISTINCT FROM for nullable parameters).",
    },
    RuleInfo {
        id: "large-in-list",
        default_severity: Warning,
        description: "IN list with more than `max_in_list` items: slow to parse and plan, and \
                      each length is a new statement. Needs raw SQL (normalization collapses \
                      IN lists).",
        fix: "Pass one array parameter: col = ANY($1), or join against a VALUES list or a \
              temporary table.",
    },
    RuleInfo {
        id: "function-on-column",
        default_severity: Warning,
        description: "A function or cast around a column in WHERE or JOIN ON (lower(email) = \
                      $1, created_at::date = $1) keeps PostgreSQL from using a plain index on \
                      that column.",
        fix: "Compare the bare column (e.g. a range: created_at >= $1 AND created_at < $2), or \
              create an expression index on exactly that expression.",
    },
    RuleInfo {
        id: "or-across-columns",
        default_severity: Info,
        description: "OR between conditions on different columns (a = $1 OR b = $2) cannot use \
                      one index; it needs one index per column (BitmapOr) or scans the table.",
        fix: "Index each column so PostgreSQL can combine them with BitmapOr, or split the \
              query into a UNION ALL of indexed queries.",
    },
    RuleInfo {
        id: "update-without-where",
        default_severity: Critical,
        description: "UPDATE without WHERE rewrites every row of the table.",
        fix: "Add a WHERE clause; run intended full-table updates as batched migrations, not \
              application traffic.",
    },
    RuleInfo {
        id: "delete-without-where",
        default_severity: Critical,
        description: "DELETE without WHERE removes every row and leaves the table full of dead \
                      tuples.",
        fix: "Add a WHERE clause; use TRUNCATE for an intended full wipe.",
    },
    RuleInfo {
        id: "insert-without-columns",
        default_severity: Warning,
        description: "INSERT without a column list depends on the table's column order and \
                      breaks when a column is added or reordered.",
        fix: "Name the columns: INSERT INTO t (a, b) VALUES ($1, $2).",
    },
];
