//! The console's language: a simple query's text split into statements, each understood as a
//! [`Command`]. Pure: text in, commands out.

/// What `SHOW` can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Help,
    Patterns,
    Findings,
    Routes,
    Clients,
    Stats,
    Rules,
    Version,
}

impl Topic {
    /// Every topic, in the order `SHOW HELP` lists them.
    pub const ALL: [Topic; 8] = [
        Topic::Help,
        Topic::Patterns,
        Topic::Findings,
        Topic::Routes,
        Topic::Clients,
        Topic::Stats,
        Topic::Rules,
        Topic::Version,
    ];

    /// The word after `SHOW`, upper case.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Help => "HELP",
            Topic::Patterns => "PATTERNS",
            Topic::Findings => "FINDINGS",
            Topic::Routes => "ROUTES",
            Topic::Clients => "CLIENTS",
            Topic::Stats => "STATS",
            Topic::Rules => "RULES",
            Topic::Version => "VERSION",
        }
    }

    /// One line for `SHOW HELP`.
    pub fn description(self) -> &'static str {
        match self {
            Topic::Help => "this list",
            Topic::Patterns => "top 50 statement patterns by total execution time",
            Topic::Findings => "the newest 100 findings (slow, N+1, duplicate, lint)",
            Topic::Routes => "statements, time, errors and N+1 findings per route",
            Topic::Clients => "client sessions open through the proxy",
            Topic::Stats => "proxy, event queue, pattern and finding counters",
            Topic::Rules => "the lint rule catalogue",
            Topic::Version => "the pgscope version",
        }
    }

    /// The topic named `word` (upper case), if any.
    fn from_name(word: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.name() == word)
    }
}

/// One statement, understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `SHOW <topic>`.
    Show(Topic),
    /// A session statement that drivers and tools send on their own (`SET`, `BEGIN`, ...):
    /// answered with this command tag and otherwise ignored; the console has no settings and
    /// no transactions.
    Ignored(&'static str),
}

/// A statement the console does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown command \"{statement}\"; the pgscope admin console knows {}", command_list())]
pub struct UnknownCommand {
    /// The statement as sent (clipped to [`MAX_ECHO_CHARS`]).
    pub statement: String,
}

/// How much of an unknown statement the error message repeats.
pub const MAX_ECHO_CHARS: usize = 80;

/// `SHOW HELP, SHOW PATTERNS, ...`, for error messages.
pub fn command_list() -> String {
    let names: Vec<String> = Topic::ALL.iter().map(|t| format!("SHOW {}", t.name())).collect();
    names.join(", ")
}

/// Understands one statement: case-insensitive, any whitespace between words.
pub fn parse(statement: &str) -> Result<Command, UnknownCommand> {
    let words: Vec<String> = statement.split_whitespace().map(str::to_ascii_uppercase).collect();
    let command = match words.as_slice() {
        [show, topic] if show == "SHOW" => Topic::from_name(topic).map(Command::Show),
        [first, ..] => ignored_tag(first).map(Command::Ignored),
        [] => None,
    };
    command.ok_or_else(|| UnknownCommand { statement: clip(statement.trim()) })
}

/// The command tag answering a harmless session statement, by its first word.
fn ignored_tag(first: &str) -> Option<&'static str> {
    Some(match first {
        "SET" => "SET",
        "RESET" => "RESET",
        "DISCARD" => "DISCARD ALL",
        "BEGIN" => "BEGIN",
        "START" => "START TRANSACTION",
        "COMMIT" | "END" => "COMMIT",
        "ROLLBACK" | "ABORT" => "ROLLBACK",
        _ => return None,
    })
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_ECHO_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// Splits a simple query into its statements at semicolons outside quotes, trimmed; empty
/// statements (`;;`) are dropped.
pub fn split_statements(query: &str) -> Vec<&str> {
    let mut statements = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in query.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, ';') => {
                statements.push(&query[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    statements.push(&query[start..]);
    statements.into_iter().map(str::trim).filter(|s| !s.is_empty()).collect()
}
