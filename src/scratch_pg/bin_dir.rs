//! Finding the PostgreSQL server binaries of the local install.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{BIN_DIR_ENV, ScratchPgError};

/// Where the Debian/Ubuntu packages put one directory per major version.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// Finds the server binaries: $PGSCOPE_PG_BIN, else `pg_config --bindir` (if it holds initdb
/// and postgres), else the highest `/usr/lib/postgresql/<N>/bin`. The error text says how to
/// install them: "apt-get install postgresql" (Debian/Ubuntu) or set PGSCOPE_PG_BIN.
pub fn find_bin_dir() -> Result<PathBuf, ScratchPgError> {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV).filter(|dir| !dir.is_empty()) {
        let dir = PathBuf::from(dir);
        if has_server_binaries(&dir) {
            return Ok(dir);
        }
        return Err(ScratchPgError::BinariesNotFound {
            reason: format!("{BIN_DIR_ENV}={} holds no initdb and postgres", dir.display()),
        });
    }
    if let Some(dir) = pg_config_bindir().filter(|dir| has_server_binaries(dir)) {
        return Ok(dir);
    }
    highest_versioned_bin_dir(Path::new(DEBIAN_ROOT)).ok_or_else(|| {
        ScratchPgError::BinariesNotFound {
            reason: format!(
                "{BIN_DIR_ENV} is unset, `pg_config --bindir` gave none, and {DEBIAN_ROOT}/<N>/bin \
                 has none"
            ),
        }
    })
}

fn has_server_binaries(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// `pg_config --bindir`, if `pg_config` is on the PATH and succeeds.
fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = String::from_utf8(output.stdout).ok()?;
    let dir = dir.trim();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// The `<root>/<version>/bin` with server binaries and the highest version (`9.6` < `15`).
fn highest_versioned_bin_dir(root: &Path) -> Option<PathBuf> {
    std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = parse_version(entry.file_name().to_str()?)?;
            let bin = entry.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, bin)| bin)
}

/// "15" → [15], "9.6" → [9, 6]; anything else is not a version directory.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("9.6") < parse_version("10"));
        assert!(parse_version("10") < parse_version("15"));
        assert_eq!(parse_version("common"), None);
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn highest_version_with_binaries_wins() {
        let root = tempfile::tempdir().expect("temp dir");
        for (version, complete) in [("9.6", true), ("15", true), ("16", false)] {
            let bin = root.path().join(version).join("bin");
            std::fs::create_dir_all(&bin).expect("mkdir");
            std::fs::write(bin.join("initdb"), "").expect("write");
            if complete {
                std::fs::write(bin.join("postgres"), "").expect("write");
            }
        }
        assert_eq!(
            highest_versioned_bin_dir(root.path()),
            Some(root.path().join("15").join("bin"))
        );
    }
}
