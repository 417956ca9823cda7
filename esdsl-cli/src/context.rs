//! What every command shares, settled once from the global options and the environment as
//! cargo settles them: the package root default paths are resolved from, colors, verbosity.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, Result, bail};

/// `--color`: when to color diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    /// Color when stderr is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always color.
    Always,
    /// Never color.
    Never,
}

impl ColorChoice {
    /// Whether to color: `--color`, else `CARGO_TERM_COLOR`, else `auto`; `auto` colors a
    /// terminal unless `NO_COLOR` is set to anything but the empty string.
    pub(crate) fn resolve(
        flag: Option<ColorChoice>,
        cargo_term_color: Option<&str>,
        no_color: Option<&str>,
        terminal: bool,
    ) -> bool {
        let choice = flag.or_else(|| match cargo_term_color? {
            "always" => Some(ColorChoice::Always),
            "never" => Some(ColorChoice::Never),
            _ => None,
        });
        match choice {
            Some(ColorChoice::Always) => true,
            Some(ColorChoice::Never) => false,
            Some(ColorChoice::Auto) | None => terminal && no_color.is_none_or(str::is_empty),
        }
    }
}

/// How much to print besides reports and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verbosity {
    /// `-q`: reports and diagnostics only, no summary or progress lines.
    Quiet,
    Normal,
    /// `-v`: also what was looked at and left unchanged.
    Verbose,
}

/// Where the command runs and how it prints.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) color: bool,
    pub(crate) verbosity: Verbosity,
    cwd: PathBuf,
    /// The package root: the directory of `--manifest-path`, else of the nearest `Cargo.toml`
    /// at or above the current directory; `None` outside any package.
    root: Option<PathBuf>,
}

impl Context {
    pub(crate) fn new(
        color: bool,
        verbosity: Verbosity,
        manifest_path: Option<&Path>,
    ) -> Result<Context> {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let root = match manifest_path {
            Some(manifest) => {
                if manifest.file_name().is_none_or(|name| name != "Cargo.toml") {
                    bail!(
                        "the manifest path must be a path to a Cargo.toml file, not `{}`",
                        manifest.display()
                    );
                }
                if !manifest.is_file() {
                    bail!("manifest path `{}` does not exist", manifest.display());
                }
                let dir = normalize(&cwd.join(manifest));
                Some(dir.parent().map(Path::to_path_buf).unwrap_or(dir))
            }
            None => cwd
                .ancestors()
                .find(|dir| dir.join("Cargo.toml").is_file())
                .map(Path::to_path_buf),
        };
        Ok(Context {
            color,
            verbosity,
            cwd,
            root,
        })
    }

    /// A default path (`schemas`, `src/generated`): under the package root, as cargo resolves
    /// its own paths; under the current directory outside any package.
    pub(crate) fn default_path(&self, relative: &str) -> PathBuf {
        self.root.as_ref().unwrap_or(&self.cwd).join(relative)
    }

    /// A path as shown in messages and in generated files' headers: relative to the package
    /// root when under it (as cargo and rustc show paths, whatever the current directory),
    /// else to the current directory, with `/` separators.
    pub(crate) fn display(&self, path: &Path) -> String {
        let absolute = normalize(&self.cwd.join(path));
        let relative = self
            .root
            .iter()
            .chain(std::iter::once(&self.cwd))
            .find_map(|base| absolute.strip_prefix(base).ok())
            .filter(|relative| !relative.as_os_str().is_empty())
            .unwrap_or(path);
        relative.to_string_lossy().replace('\\', "/")
    }

    pub(crate) fn quiet(&self) -> bool {
        self.verbosity == Verbosity::Quiet
    }

    pub(crate) fn verbose(&self) -> bool {
        self.verbosity == Verbosity::Verbose
    }
}

/// `a/./b/../c` as `a/c`, without touching the filesystem (symlinks are left alone).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_then_cargo_term_color_then_no_color_and_the_terminal() {
        use ColorChoice::{Always, Auto, Never};
        let resolve = ColorChoice::resolve;
        assert!(resolve(Some(Always), Some("never"), Some("1"), false));
        assert!(!resolve(Some(Never), Some("always"), None, true));
        assert!(resolve(None, Some("always"), Some("1"), false));
        assert!(!resolve(None, Some("never"), None, true));
        assert!(resolve(None, Some("auto"), None, true));
        assert!(!resolve(Some(Auto), None, Some("1"), true));
        assert!(resolve(Some(Auto), None, Some(""), true));
        assert!(!resolve(None, None, None, false));
    }

    #[test]
    fn paths_show_relative_to_the_package_root() {
        let context = Context {
            color: false,
            verbosity: Verbosity::Normal,
            cwd: PathBuf::from("/p/src/deep"),
            root: Some(PathBuf::from("/p")),
        };
        assert_eq!(
            context.display(Path::new("../../schemas/a.toml")),
            "schemas/a.toml"
        );
        assert_eq!(context.display(Path::new("/p/schemas")), "schemas");
        assert_eq!(
            context.display(Path::new("/elsewhere/x.toml")),
            "/elsewhere/x.toml"
        );
        assert_eq!(context.default_path("schemas"), Path::new("/p/schemas"));
    }
}
