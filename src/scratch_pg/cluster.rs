//! The on-disk side of a scratch server: `initdb`, pg_hba.conf, postgresql.conf, and who owns
//! the files.

use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::unistd::{Gid, Uid, User};

use super::{SUPERUSER, ScratchPgError, io_context};

/// The OS user the server runs as, when it must differ from ours (we are root).
#[derive(Debug, Clone, Copy)]
pub(super) struct RunAs {
    uid: Uid,
    gid: Gid,
}

impl RunAs {
    /// `Some(postgres user)` when running as root (PostgreSQL refuses to run as root),
    /// otherwise `None`: the server runs as ourselves.
    pub(super) fn for_current_user() -> Result<Option<RunAs>, ScratchPgError> {
        if !Uid::current().is_root() {
            return Ok(None);
        }
        let user = User::from_name("postgres")
            .map_err(ScratchPgError::UserLookup)?
            .ok_or(ScratchPgError::NoPostgresUser)?;
        Ok(Some(RunAs { uid: user.uid, gid: user.gid }))
    }

    /// Makes `cmd` run as this user. std's `uid()` also drops root's supplementary groups
    /// (it calls `setgroups(0, NULL)` when no groups were set), so the child keeps none.
    fn apply(self, cmd: &mut Command) {
        cmd.uid(self.uid.as_raw()).gid(self.gid.as_raw());
    }

    /// Gives `path` and everything below it to this user (symlinks themselves, not targets).
    fn chown_tree(self, path: &Path) -> std::io::Result<()> {
        std::os::unix::fs::lchown(path, Some(self.uid.as_raw()), Some(self.gid.as_raw()))?;
        if path.symlink_metadata()?.is_dir() {
            for entry in std::fs::read_dir(path)? {
                self.chown_tree(&entry?.path())?;
            }
        }
        Ok(())
    }
}

/// An initialized data directory inside the scratch temp dir.
#[derive(Debug)]
pub(super) struct Cluster<'a> {
    root: &'a Path,
    bin_dir: &'a Path,
    run_as: Option<RunAs>,
    /// postgresql.conf as `initdb` wrote it; our settings are appended to a copy of it.
    base_conf: String,
}

impl<'a> Cluster<'a> {
    /// Runs `initdb` into `<root>/data` and writes pg_hba.conf: `hba_lines` first, then
    /// `trust` for local and loopback connections.
    pub(super) async fn init(
        root: &'a Path,
        bin_dir: &'a Path,
        run_as: Option<RunAs>,
        hba_lines: &[String],
    ) -> Result<Cluster<'a>, ScratchPgError> {
        let mut cluster = Cluster { root, bin_dir, run_as, base_conf: String::new() };
        cluster.give_to_server_user()?;
        cluster.run_initdb().await?;
        cluster.write_hba(hba_lines)?;
        let conf = cluster.conf_path();
        cluster.base_conf = std::fs::read_to_string(&conf)
            .map_err(io_context(format!("could not read {}", conf.display())))?;
        Ok(cluster)
    }

    /// The temp dir holding the data dir and the log; also the Unix socket directory.
    pub(super) fn root(&self) -> &Path {
        self.root
    }

    /// Where the server's stdout and stderr go.
    pub(super) fn log_path(&self) -> PathBuf {
        Self::log_path_in(self.root)
    }

    /// Where the server's stdout and stderr go, given the temp dir.
    pub(super) fn log_path_in(root: &Path) -> PathBuf {
        root.join("server.log")
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn conf_path(&self) -> PathBuf {
        self.data_dir().join("postgresql.conf")
    }

    /// Writes postgresql.conf as `initdb` left it plus `settings`, replacing the settings of
    /// any earlier attempt.
    pub(super) fn configure(&self, settings: &[(String, String)]) -> Result<(), ScratchPgError> {
        let mut conf = self.base_conf.clone();
        conf.push_str("\n# pgscope scratch server\n");
        for (name, value) in settings {
            let _ = writeln!(conf, "{name} = '{}'", value.replace('\'', "''"));
        }
        let path = self.conf_path();
        std::fs::write(&path, conf)
            .map_err(io_context(format!("could not write {}", path.display())))
    }

    /// The `postgres` command for this cluster, output going to a fresh log file, run as the
    /// server user.
    pub(super) fn server_command(&self) -> Result<Command, ScratchPgError> {
        let log_path = self.log_path();
        let log = File::create(&log_path)
            .map_err(io_context(format!("could not create {}", log_path.display())))?;
        let log_err =
            log.try_clone().map_err(io_context("could not duplicate the log file handle"))?;
        self.give_to_server_user()?;
        let mut cmd = self.command("postgres");
        cmd.arg("-D").arg(self.data_dir()).stdin(Stdio::null()).stdout(log).stderr(log_err);
        Ok(cmd)
    }

    /// Runs `initdb`, which is fast with `--no-sync`. `--no-locale` keeps the server
    /// independent of the caller's (possibly ungenerated) locale and its messages in English.
    async fn run_initdb(&self) -> Result<(), ScratchPgError> {
        let mut cmd = self.command("initdb");
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"])
            .stdin(Stdio::null());
        let output = tokio::process::Command::from(cmd)
            .output()
            .await
            .map_err(io_context(format!("could not run {}/initdb", self.bin_dir.display())))?;
        if output.status.success() {
            return Ok(());
        }
        Err(ScratchPgError::Initdb {
            status: output.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        })
    }

    fn write_hba(&self, hba_lines: &[String]) -> Result<(), ScratchPgError> {
        let defaults = [
            "local all all trust",
            "host all all 127.0.0.1/32 trust",
            "host all all ::1/128 trust",
        ];
        let mut hba = String::from("# pgscope scratch server\n");
        for line in hba_lines.iter().map(String::as_str).chain(defaults) {
            hba.push_str(line);
            hba.push('\n');
        }
        let path = self.data_dir().join("pg_hba.conf");
        std::fs::write(&path, hba)
            .map_err(io_context(format!("could not write {}", path.display())))
    }

    /// A command for one of the install's binaries, run from the temp dir (the server user
    /// may not be able to enter our working directory) as the server user.
    fn command(&self, binary: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(binary));
        cmd.current_dir(self.root);
        if let Some(run_as) = self.run_as {
            run_as.apply(&mut cmd);
        }
        cmd
    }

    /// When running as root, hands the temp dir to the server user (the temp dir is 0700).
    fn give_to_server_user(&self) -> Result<(), ScratchPgError> {
        match self.run_as {
            Some(run_as) => run_as.chown_tree(self.root).map_err(io_context(format!(
                "could not give {} to the postgres user",
                self.root.display()
            ))),
            None => Ok(()),
        }
    }
}
