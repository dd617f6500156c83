//! `pgscope demo` (in progress).
pub async fn run() -> anyhow::Result<()> {
    Ok(())
}
