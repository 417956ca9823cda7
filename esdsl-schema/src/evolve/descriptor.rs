//! The evolution check for events declared with derives: their descriptor (the schema file
//! `esdsl_runtime::describe::SchemaDescriptor::to_toml` writes) against a lock file, from a
//! test.

use std::path::{Path, PathBuf};

use crate::diag::Report;
use crate::lock::Lock;

use super::{Finding, SchemaFile, check, lock_out_of_date};

/// The environment variable that makes [`assert_compatible`] update the lock.
pub const UPDATE_LOCK_VAR: &str = "ESDSL_UPDATE_LOCK";

/// What [`check_descriptor`] does with the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Only compare: what the lock does not hold yet is a `lock_out_of_date` finding.
    Check,
    /// Compare, then append what the descriptor adds (unless a deny rule fires), creating the
    /// lock file when there is none: what `cargo esdsl lock` does for schema files.
    Update,
}

/// What [`check_descriptor`] found.
#[derive(Debug, Clone)]
pub struct DescriptorCheck {
    /// Every finding, deny and warn.
    pub findings: Vec<Finding>,
    /// How many entries were appended to the lock (with [`LockMode::Update`]).
    pub appended: usize,
    /// The findings rendered like `cargo esdsl check` prints them, pointing into the
    /// descriptor's text.
    pub rendered: String,
}

impl DescriptorCheck {
    /// Whether any finding fails the check.
    pub fn has_deny(&self) -> bool {
        self.findings.iter().any(Finding::is_deny)
    }
}

/// Why a descriptor could not be checked.
#[derive(Debug)]
#[non_exhaustive]
pub enum DescriptorError {
    /// The descriptor is not a valid schema (a derive produced something the schema language
    /// cannot say, such as a `u8` field).
    Invalid(Report),
    /// The lock file exists but is not a valid lock.
    InvalidLock(Report),
    /// The lock file could not be read or written.
    Io {
        /// The lock file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

impl std::fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DescriptorError::Invalid(report) | DescriptorError::InvalidLock(report) => {
                f.write_str(&report.render())
            }
            // The OS error is the source: printing it here too made error chains repeat it.
            DescriptorError::Io { path, .. } => write!(f, "cannot access `{}`", path.display()),
        }
    }
}

impl std::error::Error for DescriptorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DescriptorError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Checks a derive-declared schema against the lock file at `lock`, with every rule
/// `cargo esdsl check` runs on schema files: locked versions unchanged, every step from a
/// locked version to the newest one derivable or written by hand, nothing locked removed, and
/// the lock holding every version.
///
/// `name` is the schema's name in the lock, as a schema file's name is (`bank.toml`); keep the
/// descriptors' lock apart from the lock `cargo esdsl check` reads beside schema files, which
/// takes every entry as a schema file's. `descriptor` is the text of
/// `SchemaDescriptor::to_toml()`.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// use esdsl_schema::evolve::{LockMode, check_descriptor};
///
/// let lock = dir.path().join("esdsl.lock");
/// let v1 = "[aggregates.Cart]\nid = \"uuid\"\n\n[events.ItemAdded]\naggregate = \"Cart\"\n\n\
///           [events.ItemAdded.v1]\nsku = \"string\"\n";
/// let first = check_descriptor("shop", v1, &lock, LockMode::Update)?;
/// assert_eq!((first.has_deny(), first.appended > 0), (false, true));
///
/// // v1 edited in place: stored v1 events would no longer decode.
/// let edited = v1.replace("sku = \"string\"", "sku = \"u64\"");
/// let second = check_descriptor("shop", &edited, &lock, LockMode::Check)?;
/// assert!(second.findings.iter().any(|f| f.diagnostic.code == "version_modified"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`DescriptorError::Invalid`] when the descriptor is not a valid schema,
/// [`DescriptorError::InvalidLock`] when the lock file is not a valid lock, and
/// [`DescriptorError::Io`] when the lock cannot be read or written.
pub fn check_descriptor(
    name: &str,
    descriptor: &str,
    lock: &Path,
    mode: LockMode,
) -> Result<DescriptorCheck, DescriptorError> {
    let lock_display = lock.display().to_string();
    let label = format!("{name} (derive descriptor)");
    let file = SchemaFile::parse(&label, name, descriptor).map_err(DescriptorError::Invalid)?;
    let files = [file];
    let locked = match std::fs::read_to_string(lock) {
        Ok(text) => Some(Lock::parse(&lock_display, &text).map_err(DescriptorError::InvalidLock)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(DescriptorError::Io {
                path: lock.to_owned(),
                source,
            });
        }
    };
    let scoped = locked.as_ref().map(|l| l.for_schemas(&[name]));
    let mut findings = check(&files, scoped.as_ref().unwrap_or(&Lock::new()));
    let deny = findings.iter().any(Finding::is_deny);
    let mut appended = 0;
    if mode == LockMode::Update && !deny {
        let mut updated = locked.clone().unwrap_or_default();
        appended = updated.update(&files);
        if appended > 0 || locked.is_none() {
            std::fs::write(lock, updated.to_toml()).map_err(|source| DescriptorError::Io {
                path: lock.to_owned(),
                source,
            })?;
        }
    } else {
        findings.extend(lock_out_of_date(&files, scoped.as_ref(), &lock_display));
    }
    for finding in &mut findings {
        if let Some(help) = &mut finding.diagnostic.help
            && finding.diagnostic.code == "lock_out_of_date"
        {
            *help = format!(
                "run the test again with `{UPDATE_LOCK_VAR}=1` and commit `{lock_display}`"
            );
        }
    }
    let rendered = render(&files[0], &findings);
    Ok(DescriptorCheck {
        findings,
        appended,
        rendered,
    })
}

/// Asserts, in a test, that derive-declared events keep every stored event readable: runs
/// [`check_descriptor`] and panics with the findings when a deny rule fires or the lock is
/// out of date (warnings are printed). With the environment variable `ESDSL_UPDATE_LOCK=1`, it
/// appends what the descriptor adds to the lock instead, as `cargo esdsl lock` does, and still
/// refuses changes the rules deny.
///
/// ```ignore
/// #[test]
/// fn events_stay_readable() {
///     let descriptor = esdsl_runtime::describe::SchemaDescriptor::of::<Cart>().to_toml();
///     esdsl_schema::evolve::assert_compatible("shop", &descriptor, "schemas/esdsl.lock");
/// }
/// ```
///
/// # Panics
///
/// When the check finds a deny finding or an out-of-date lock, or cannot run (an invalid
/// descriptor or lock, an unreadable lock file): this is a test assertion.
#[track_caller]
pub fn assert_compatible(name: &str, descriptor: &str, lock: impl AsRef<Path>) {
    let update = std::env::var_os(UPDATE_LOCK_VAR).is_some_and(|v| v != "0" && !v.is_empty());
    let mode = if update {
        LockMode::Update
    } else {
        LockMode::Check
    };
    let lock = lock.as_ref();
    let result = match check_descriptor(name, descriptor, lock, mode) {
        Ok(result) => result,
        Err(error) => panic!(
            "the evolution check of `{name}` could not run: {}",
            crate::diag::chain(&error)
        ),
    };
    if result.has_deny() {
        panic!(
            "`{name}` would strand stored events (checked against `{}`):\n{}",
            lock.display(),
            result.rendered
        );
    }
    if !result.findings.is_empty() {
        eprintln!("{}", result.rendered);
    }
    if result.appended > 0 {
        eprintln!(
            "{UPDATE_LOCK_VAR}: appended {} entr{} for `{name}` to `{}`",
            result.appended,
            if result.appended == 1 { "y" } else { "ies" },
            lock.display()
        );
    }
}

/// The findings as `cargo esdsl check --format human` prints them: located ones through the
/// descriptor's text, the others on a line each.
fn render(file: &SchemaFile, findings: &[Finding]) -> String {
    let (located, other): (Vec<&Finding>, Vec<&Finding>) = findings.iter().partition(|f| {
        f.path.as_deref() == Some(file.path.as_str()) && f.diagnostic.span.is_some()
    });
    let mut out = Report {
        path: file.path.clone(),
        source: file.source.clone().unwrap_or_default(),
        diagnostics: located.iter().map(|f| f.diagnostic.clone()).collect(),
    }
    .render();
    for finding in other {
        let d = &finding.diagnostic;
        out.push_str(&format!(
            "{}[{}]: {}\n",
            d.severity.as_str(),
            d.code,
            d.message
        ));
        if let Some(help) = &d.help {
            out.push_str(&format!("  = help: {help}\n"));
        }
    }
    out
}
