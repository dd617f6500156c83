//! Integration tests: a real, throwaway PostgreSQL, pgscope in-process in front of it, and
//! real clients (tokio-postgres, psql, pgbench). One test binary (see Cargo.toml).

mod support;

mod admin;
mod auth;
mod binary;
mod clients;
mod extended;
mod faults;
mod findings;
mod http;
mod index_report;
mod pgbench;
mod psql;
mod report;
mod report_interval;
mod simple;
