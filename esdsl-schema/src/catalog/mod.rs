//! The static event catalog: HTML pages describing a set of schemas, for people.
//!
//! One page per aggregate (its events, a diagram of their versions and upcast steps), per
//! event (every version's fields with types, docs and defaults; what changed between each
//! pair of versions and how older events are upcast; the lock history), per record type and
//! per enum, and an index. A search box on every page searches an index written into
//! `search.js`, loaded with a plain `<script src>`: the pages work opened from the file system
//! and served, and fetch nothing at view time. Everything from the schemas is HTML-escaped.
//! The same schemas and lock always give the same bytes.
//!
//! `cargo esdsl docs` writes it for schema files; events declared with derives get the same
//! catalog from their descriptor with [`Catalog::from_descriptor`].
//!
//! ```
//! use esdsl_schema::SchemaFile;
//! use esdsl_schema::catalog::Catalog;
//!
//! let file = SchemaFile::parse("schemas/bank.toml", "bank.toml", r#"
//!     [aggregates.Account]
//!     [events.AccountOpened]
//!     aggregate = "Account"
//!     doc = "An account was opened."
//!     [events.AccountOpened.v1]
//!     owner = "string"
//! "#)?;
//! let pages = Catalog::new(vec![file]).pages();
//! let paths: Vec<&str> = pages.iter().map(|p| p.path.as_str()).collect();
//! assert_eq!(paths, ["index.html", "search.js", "bank/Account.html", "bank/AccountOpened.html"]);
//! assert!(pages[3].text.contains("An account was opened."));
//! # Ok::<(), esdsl_schema::Report>(())
//! ```

mod diagram;
mod diff;
mod html;
mod pages;

use std::path::Path;

use crate::diag::Report;
use crate::lock::Lock;
use crate::schema_file::SchemaFile;

/// The catalog of a set of schemas, with the lock that records their history.
#[derive(Debug, Clone)]
pub struct Catalog {
    files: Vec<SchemaFile>,
    lock: Option<Lock>,
    title: String,
}

/// One file of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page {
    /// Where it goes, relative to the output directory, with `/` separators.
    pub path: String,
    /// Its content (HTML, or the search script).
    pub text: String,
}

/// Why [`Catalog::from_descriptor`] could not build a catalog.
#[derive(Debug)]
#[non_exhaustive]
pub enum CatalogError {
    /// The descriptor is not a valid schema.
    Invalid(Report),
    /// The lock is not a valid lock.
    InvalidLock(Report),
    /// The lock exists but could not be read.
    Io {
        /// The lock file.
        path: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

impl std::fmt::Display for CatalogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CatalogError::Invalid(report) | CatalogError::InvalidLock(report) => {
                f.write_str(&report.render())
            }
            CatalogError::Io { path, .. } => write!(f, "cannot read `{}`", path.display()),
        }
    }
}

impl std::error::Error for CatalogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CatalogError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Catalog {
    /// The catalog of these schema files, without lock history. Pages of a file go under
    /// a directory named after its lock key without `.toml` (`bank.toml` -> `bank/`).
    pub fn new(files: Vec<SchemaFile>) -> Catalog {
        Catalog {
            files,
            lock: None,
            title: "Event catalog".to_owned(),
        }
    }

    /// Shows the lock's history of each event version: the whole lock, so that entries are
    /// numbered as in the file (entries about other schema files are not shown).
    #[must_use]
    pub fn with_lock(mut self, lock: Lock) -> Catalog {
        self.lock = Some(lock);
        self
    }

    /// The index page's title [default: `Event catalog`].
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Catalog {
        self.title = title.into();
        self
    }

    /// The catalog of events declared with derives: `descriptor` is the text
    /// `esdsl_runtime::describe::SchemaDescriptor::to_toml` writes, `name` the name its lock
    /// entries are under (the one given to `esdsl_schema::evolve::assert_compatible`), and
    /// `lock` the lock file, whose history is shown when it exists.
    ///
    /// ```
    /// use esdsl_schema::catalog::Catalog;
    ///
    /// let descriptor = "[aggregates.Cart]\n[events.ItemAdded]\naggregate = \"Cart\"\n\
    ///                   [events.ItemAdded.v1]\nsku = \"string\"\n";
    /// let dir = tempfile::tempdir()?;
    /// let catalog = Catalog::from_descriptor("shop", descriptor, &dir.path().join("esdsl.lock"))?;
    /// let written = catalog.write_to(&dir.path().join("catalog"))?;
    /// assert!(dir.path().join("catalog/shop/ItemAdded.html").is_file());
    /// assert_eq!(written, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CatalogError::Invalid`] when the descriptor is not a valid schema,
    /// [`CatalogError::InvalidLock`] when the lock file is not a valid lock, and
    /// [`CatalogError::Io`] when it exists but cannot be read.
    pub fn from_descriptor(
        name: &str,
        descriptor: &str,
        lock: &Path,
    ) -> Result<Catalog, CatalogError> {
        let label = format!("{name} (derive descriptor)");
        let file = SchemaFile::parse(&label, name, descriptor).map_err(CatalogError::Invalid)?;
        let catalog = Catalog::new(vec![file]);
        match std::fs::read_to_string(lock) {
            Ok(text) => {
                let parsed = Lock::parse(&lock.display().to_string(), &text)
                    .map_err(CatalogError::InvalidLock)?;
                Ok(catalog.with_lock(parsed))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(catalog),
            Err(source) => Err(CatalogError::Io {
                path: lock.to_owned(),
                source,
            }),
        }
    }

    /// Every file of the catalog: `index.html`, `search.js`, then each schema file's pages in
    /// declaration order (aggregates, events, record types, enums).
    pub fn pages(&self) -> Vec<Page> {
        pages::build(&self.files, self.lock.as_ref(), &self.title)
    }

    /// Writes [`Catalog::pages`] under `dir`, creating directories as needed, rewriting only
    /// files whose content changed, and returns how many files the catalog has. Files already
    /// in `dir` that the catalog does not write are left alone.
    ///
    /// # Errors
    ///
    /// The first I/O error met creating a directory or writing a file.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<usize> {
        let pages = self.pages();
        for page in &pages {
            let path = dir.join(&page.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            if std::fs::read(&path).ok().as_deref() != Some(page.text.as_bytes()) {
                std::fs::write(&path, &page.text)?;
            }
        }
        Ok(pages.len())
    }
}
