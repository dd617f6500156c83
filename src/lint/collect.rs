//! One pass of the sqlparser visitor over a statement, handing each node to the detectors.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Query, Select, SetExpr, Statement, Visit, Visitor};

use super::catalogue::Rule;
use super::config::Thresholds;
use super::{dml, joins, predicates, query_rules};

/// A rule tripped by a statement, before config turns it into a finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Hit {
    pub(crate) rule: Rule,
    pub(crate) message: String,
}

impl Hit {
    pub(crate) fn new(rule: Rule, message: String) -> Hit {
        Hit { rule, message }
    }
}

/// Every rule hit in `statement`, subqueries and CTEs included.
pub(crate) fn collect(statement: &Statement, thresholds: Thresholds) -> Vec<Hit> {
    let mut collector =
        Collector { thresholds, hits: Vec::new(), exists_bodies: ExistsBodies::default() };
    let _ = statement.visit(&mut collector);
    collector.hits
}

/// Where a node sits, as far as the rules care.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context {
    /// The node is the subquery of `EXISTS (...)`, whose columns and row order never matter.
    pub(crate) in_exists: bool,
}

struct Collector {
    thresholds: Thresholds,
    hits: Vec<Hit>,
    exists_bodies: ExistsBodies,
}

impl Visitor for Collector {
    type Break = ();

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        dml::check(statement, &mut self.hits);
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        let context = Context { in_exists: self.exists_bodies.has_query(query) };
        query_rules::check_query(query, context, self.thresholds, &mut self.hits);
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        let context = Context { in_exists: self.exists_bodies.has_select(select) };
        query_rules::check_select(select, context, &mut self.hits);
        joins::check(select, &mut self.hits);
        predicates::check_select(select, &mut self.hits);
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Exists { subquery, .. } = expr {
            self.exists_bodies.add(subquery);
        }
        predicates::check_expr(expr, self.thresholds, &mut self.hits);
        ControlFlow::Continue(())
    }
}

/// The subqueries of `EXISTS (...)` met so far, by address. The visitor meets an `EXISTS`
/// before its subquery; the addresses are only compared, never dereferenced.
#[derive(Default)]
struct ExistsBodies {
    queries: Vec<*const Query>,
    selects: Vec<*const Select>,
}

impl ExistsBodies {
    fn add(&mut self, query: &Query) {
        self.queries.push(query);
        if let SetExpr::Select(select) = query.body.as_ref() {
            self.selects.push(select.as_ref());
        }
    }

    fn has_query(&self, query: &Query) -> bool {
        self.queries.iter().any(|q| std::ptr::eq(*q, query))
    }

    fn has_select(&self, select: &Select) -> bool {
        self.selects.iter().any(|s| std::ptr::eq(*s, select))
    }
}
