//! Reading files at a git ref for `check --against <ref>`, through the `git` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// A git work tree.
#[derive(Debug)]
pub(crate) struct Git {
    /// The top of the work tree, canonical.
    root: PathBuf,
}

impl Git {
    /// The work tree that holds `path` (a file or directory that exists).
    pub(crate) fn discover(path: &Path) -> Result<Git> {
        let dir = if path.is_dir() {
            path.to_path_buf()
        } else {
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        };
        let output = Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(["rev-parse", "--show-toplevel"])
            .output()
            .context("cannot run `git` (is it installed?)")?;
        if !output.status.success() {
            bail!(
                "`{}` is not in a git work tree: {}",
                dir.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let top = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let root = std::fs::canonicalize(&top)
            .with_context(|| format!("cannot resolve the git work tree `{top}`"))?;
        Ok(Git { root })
    }

    fn git(&self) -> Command {
        let mut command = Command::new("git");
        command.arg("-C").arg(&self.root);
        command
    }

    /// Checks that `rev` names a commit.
    pub(crate) fn verify(&self, rev: &str) -> Result<()> {
        if rev.starts_with('-') {
            bail!("`{rev}` is not a git revision");
        }
        let output = self
            .git()
            .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
            .arg(format!("{rev}^{{commit}}"))
            .output()
            .context("cannot run `git`")?;
        if !output.status.success() {
            bail!("`{rev}` is not a commit in this repository (try `git fetch` first)");
        }
        Ok(())
    }

    /// A path relative to the work tree's top, with `/` separators. The path, or its parent
    /// for a file that does not exist, must exist.
    pub(crate) fn relative(&self, path: &Path) -> Result<String> {
        let absolute = match std::fs::canonicalize(path) {
            Ok(absolute) => absolute,
            Err(_) => {
                let parent = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
                let name = path
                    .file_name()
                    .with_context(|| format!("`{}` names no file", path.display()))?;
                std::fs::canonicalize(&parent)
                    .with_context(|| format!("cannot resolve `{}`", parent.display()))?
                    .join(name)
            }
        };
        let relative = absolute.strip_prefix(&self.root).with_context(|| {
            format!(
                "`{}` is outside the git work tree `{}`",
                path.display(),
                self.root.display()
            )
        })?;
        Ok(relative.to_string_lossy().replace('\\', "/"))
    }

    /// The text of `path` (relative to the top) at `rev`, `None` when it does not exist there.
    pub(crate) fn show(&self, rev: &str, path: &str) -> Result<Option<String>> {
        let spec = format!("{rev}:{path}");
        let exists = self
            .git()
            .args(["cat-file", "-e", "--end-of-options", &spec])
            .output()
            .context("cannot run `git`")?;
        if !exists.status.success() {
            return Ok(None);
        }
        let output = self
            .git()
            .args(["cat-file", "blob", &spec])
            .output()
            .context("cannot run `git`")?;
        if !output.status.success() {
            bail!(
                "cannot read `{spec}`: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        String::from_utf8(output.stdout)
            .map(Some)
            .with_context(|| format!("`{spec}` is not UTF-8"))
    }

    /// The `*.toml` files directly in directory `dir` (relative to the top) at `rev`, sorted.
    pub(crate) fn toml_files(&self, rev: &str, dir: &str) -> Result<Vec<String>> {
        let tree = if dir.is_empty() || dir == "." {
            String::new()
        } else {
            format!("{}/", dir.trim_end_matches('/'))
        };
        let output = self
            .git()
            .args([
                "ls-tree",
                "-z",
                "--name-only",
                "--end-of-options",
                rev,
                "--",
            ])
            .arg(if tree.is_empty() { "." } else { tree.as_str() })
            .output()
            .context("cannot run `git`")?;
        if !output.status.success() {
            bail!(
                "cannot list `{dir}` at `{rev}`: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let mut files: Vec<String> = output
            .stdout
            .split(|b| *b == 0)
            .filter(|name| !name.is_empty())
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .filter(|name| name.ends_with(".toml"))
            .collect();
        files.sort();
        Ok(files)
    }
}
