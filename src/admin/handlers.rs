//! The `pgwire` server side of the console: cleartext password startup, simple queries
//! answered from [`super::views`], and extended queries refused with a clear error.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::stream;
use pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::portal::Portal;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::NoopQueryParser;
use pgwire::api::{ClientInfo, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult, SEVERITY_ERROR, SEVERITY_FATAL};
use pgwire::messages::extendedquery::{Bind, Describe, Execute, Parse};
use tracing::{debug, info};

use super::commands::{self, Command};
use super::views::{self, Kind, Table};
use super::{AdminState, ConsoleError};
use crate::config::Secret;

type Startup = CleartextPasswordAuthStartupHandler<ConsolePassword, DefaultServerParameterProvider>;

/// The handler set `pgwire::tokio::process_socket` runs a console session with.
pub struct ConsoleHandlers {
    startup: Arc<Startup>,
    queries: Arc<ConsoleQueries>,
}

impl ConsoleHandlers {
    /// Handlers answering from `state`, admitting any user name with `password`.
    pub fn new(state: Arc<AdminState>, password: Secret) -> ConsoleHandlers {
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.server_version = format!("{} (admin console)", views::version_string());
        ConsoleHandlers {
            startup: Arc::new(Startup::new(ConsolePassword(password), parameters)),
            queries: Arc::new(ConsoleQueries { state }),
        }
    }
}

impl PgWireServerHandlers for ConsoleHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.queries.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.queries.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
}

/// The configured password; any user name is accepted. `Secret`'s `Debug` is redacted.
#[derive(Debug)]
struct ConsolePassword(Secret);

#[async_trait]
impl AuthSource for ConsolePassword {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        Ok(Password::new(None, self.0.0.as_bytes().to_vec()))
    }

    async fn verify_password(
        &self,
        login: &LoginInfo,
        presented: &[u8],
    ) -> PgWireResult<Option<()>> {
        let user = login.user().unwrap_or_default();
        if constant_time_eq(self.0.0.as_bytes(), presented) {
            debug!(user, "admin console login");
            Ok(None)
        } else {
            info!(user, "admin console login refused: wrong password");
            Err(ConsoleError::BadPassword { user: user.to_string() }.into())
        }
    }
}

/// Compares without returning early at the first difference (the length is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl From<ConsoleError> for PgWireError {
    fn from(e: ConsoleError) -> PgWireError {
        PgWireError::UserError(Box::new(error_info(&e)))
    }
}

/// The ErrorResponse fields for `e`.
fn error_info(e: &ConsoleError) -> ErrorInfo {
    let severity = if e.is_fatal() { SEVERITY_FATAL } else { SEVERITY_ERROR };
    ErrorInfo::new(severity.to_string(), e.sqlstate().to_string(), e.to_string())
}

/// Answers queries from the shared state.
pub struct ConsoleQueries {
    state: Arc<AdminState>,
}

#[async_trait]
impl SimpleQueryHandler for ConsoleQueries {
    async fn do_query<C>(&self, _client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        answer(&self.state, query)
    }
}

/// One response per statement; like PostgreSQL, the first error ends the query string.
pub(super) fn answer(state: &AdminState, query: &str) -> PgWireResult<Vec<Response>> {
    let mut responses = Vec::new();
    for statement in commands::split_statements(query) {
        match commands::parse(statement) {
            Ok(Command::Show(topic)) => {
                responses.push(Response::Query(query_response(views::render(topic, state))?));
            }
            Ok(Command::Ignored(tag)) => responses.push(Response::Execution(Tag::new(tag))),
            Err(unknown) => {
                let error = ConsoleError::from(unknown);
                responses.push(Response::Error(Box::new(error_info(&error))));
                break;
            }
        }
    }
    if responses.is_empty() {
        responses.push(Response::EmptyQuery);
    }
    Ok(responses)
}

/// A table as a text-format result set.
fn query_response(table: Table) -> PgWireResult<QueryResponse> {
    let schema: Arc<Vec<FieldInfo>> = Arc::new(
        table
            .columns
            .iter()
            .map(|c| FieldInfo::new(c.name.into(), None, None, pg_type(c.kind), FieldFormat::Text))
            .collect(),
    );
    let mut encoder = DataRowEncoder::new(schema.clone());
    let mut rows = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        for cell in row {
            encoder.encode_field(cell)?;
        }
        rows.push(Ok(encoder.take_row()));
    }
    Ok(QueryResponse::new(schema, stream::iter(rows)))
}

fn pg_type(kind: Kind) -> Type {
    match kind {
        Kind::Text => Type::TEXT,
        Kind::Int => Type::INT8,
        Kind::Ms => Type::NUMERIC,
        Kind::Bool => Type::BOOL,
    }
}

/// Every extended-protocol message that would start work is refused; `pgwire` then skips to
/// the client's Sync and answers ReadyForQuery, so the session goes on.
#[async_trait]
impl ExtendedQueryHandler for ConsoleQueries {
    type Statement = String;
    type QueryParser = NoopQueryParser;

    fn query_parser(&self) -> Arc<NoopQueryParser> {
        Arc::new(NoopQueryParser)
    }

    async fn on_parse<C>(&self, _client: &mut C, _message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        Err(ConsoleError::ExtendedProtocol.into())
    }

    async fn on_bind<C>(&self, _client: &mut C, _message: Bind) -> PgWireResult<()>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        Err(ConsoleError::ExtendedProtocol.into())
    }

    async fn on_describe<C>(&self, _client: &mut C, _message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        Err(ConsoleError::ExtendedProtocol.into())
    }

    async fn on_execute<C>(&self, _client: &mut C, _message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        Err(ConsoleError::ExtendedProtocol.into())
    }

    async fn do_query<C>(
        &self,
        _client: &mut C,
        _portal: &Portal<String>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        Err(ConsoleError::ExtendedProtocol.into())
    }
}
