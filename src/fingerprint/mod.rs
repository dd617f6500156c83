//! TEMPORARY interface stand-in until the real module lands (replaced before commit).
use std::sync::Arc;
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PatternId(pub u64);
impl std::fmt::Display for PatternId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub id: PatternId,
    pub text: String,
    pub parsed: bool,
}
pub fn normalize(sql: &str) -> Pattern {
    Pattern {
        id: PatternId(xxhash_rust::xxh3::xxh3_64(sql.as_bytes())),
        text: sql.trim().to_string(),
        parsed: true,
    }
}
pub fn split_statements(sql: &str) -> Vec<&str> {
    sql.split(';').map(str::trim).filter(|s| !s.is_empty()).collect()
}
pub struct Fingerprinter;
impl Fingerprinter {
    pub fn new(_c: usize) -> Self {
        Fingerprinter
    }
    pub fn fingerprint(&mut self, sql: &str) -> Arc<Pattern> {
        Arc::new(normalize(sql))
    }
}
