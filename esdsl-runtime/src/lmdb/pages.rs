//! The data file checked with plain file reads before LMDB maps it.
//!
//! LMDB reads a store through a memory map and trusts what it finds: a page number past the end
//! of a truncated file is a `SIGBUS`, a flipped bit in a branch node a `SIGSEGV`. Both kill the
//! process before any error can be returned. This module reads `data.mdb` with ordinary reads
//! (never the map) and checks, page by page, what LMDB would otherwise follow blindly:
//!
//! - [`check_before_open`], run by every open: the two meta pages and the file's length;
//! - [`walk`], run by `verify`, the read-only tools and `backup`: every B-tree reachable from
//!   both meta pages, with every page number, offset and length bounds-checked.
//!
//! # The layout this module reads (LMDB 0.9 / mdb.master, 64-bit builds)
//!
//! Described here in our own words from `mdb.c`'s `MDB_page`, `MDB_meta`, `MDB_db` and
//! `MDB_node`; all integers are in the host's byte order (little-endian on every platform esdsl
//! runs on).
//!
//! Every page starts with a 16-byte header: the page number (`u64`, at 0), a pad (`u16`, at 8:
//! the key size of a fixed-size duplicates page), the page flags (`u16`, at 10), then either the
//! lower and upper bounds of the free space (two `u16`, at 12 and 14) or, on the first page of
//! an overflow run, the run's length in pages (`u32`, at 12). Flags: branch `0x01`, leaf `0x02`,
//! overflow `0x04`, meta `0x08`, fixed-size duplicates `0x20`, sub-page `0x40`.
//!
//! Pages 0 and 1 are meta pages; the one with the higher transaction id is the current
//! snapshot, the other the one before it. After the header a meta page holds: the magic
//! `0xBEEFC0DE` (`u32`, at 16), the data version (`u32`, at 20, `1`), a fixed-map address
//! (at 24), the map size (`u64`, at 32), two database records (the free-page database at 40,
//! the main database at 88), the last page used (`u64`, at 136) and the transaction id (`u64`,
//! at 144). The page size is kept in the free-page database record's first field.
//!
//! A database record is 48 bytes: a pad (`u32`), flags (`u16`), the tree's depth (`u16`), the
//! counts of branch, leaf and overflow pages and of entries (four `u64`), and the root page
//! (`u64`; all ones for an empty tree).
//!
//! Branch and leaf pages hold, after the header, an array of `u16` node offsets up to `lower`;
//! the nodes themselves lie between `upper` and the end of the page. A node is an 8-byte header
//! (two `u16` that make the data size on a leaf, the flags `u16`, the key size `u16`) followed
//! by the key and, on a leaf, the data. On a branch node the first three `u16` together make the
//! child's page number instead. Leaf node flags: the data lives in an overflow run whose first
//! page number is the node's 8 data bytes (`0x01`), the data is a database record (`0x02`: a
//! named database in the main database), the data holds duplicates (`0x04`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::tables::DATABASES;
use crate::error::{Error, Result};

/// The store's data file in its directory.
pub(crate) const DATA_FILE: &str = "data.mdb";

const MAGIC: u32 = 0xBEEF_C0DE;
const DATA_VERSION: u32 = 1;
const HEADER: usize = 16;
/// How deep LMDB's cursors go (`CURSOR_STACK`); a deeper tree is damaged.
const MAX_DEPTH: u16 = 32;
const NO_PAGE: u64 = u64::MAX;
/// Bytes of a meta page that LMDB reads: the header and the meta fields.
const META_BYTES: usize = 152;
const DB_RECORD: usize = 48;

const P_BRANCH: u16 = 0x01;
const P_LEAF: u16 = 0x02;
const P_OVERFLOW: u16 = 0x04;
const P_META: u16 = 0x08;
const P_LEAF2: u16 = 0x20;
/// The flags a page on disk may carry besides its kind (dirty, loose and keep are in-memory
/// marks that can reach the file).
const P_TRANSIENT: u16 = 0x10 | 0x4000 | 0x8000;

const F_BIGDATA: u16 = 0x01;
const F_SUBDATA: u16 = 0x02;
const F_DUPDATA: u16 = 0x04;

const DB_REVERSEKEY: u16 = 0x02;
const DB_DUPSORT: u16 = 0x04;
const DB_INTEGERKEY: u16 = 0x08;
const DB_DUPFIXED: u16 = 0x10;
/// Every flag a database record may carry (`mdb_dbi_open`'s persistent ones).
const DB_FLAGS: u16 = 0x7e;
const ENV_NOSUBDIR: u16 = 0x4000;

/// One of the two database records of a meta page, or a named database's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DbRecord {
    pad: u32,
    flags: u16,
    depth: u16,
    branch_pages: u64,
    leaf_pages: u64,
    overflow_pages: u64,
    entries: u64,
    root: u64,
}

impl DbRecord {
    fn parse(bytes: &[u8]) -> Option<DbRecord> {
        Some(DbRecord {
            pad: u32_at(bytes, 0)?,
            flags: u16_at(bytes, 4)?,
            depth: u16_at(bytes, 6)?,
            branch_pages: u64_at(bytes, 8)?,
            leaf_pages: u64_at(bytes, 16)?,
            overflow_pages: u64_at(bytes, 24)?,
            entries: u64_at(bytes, 32)?,
            root: u64_at(bytes, 40)?,
        })
    }
}

/// A meta page, read and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    page: u64,
    page_size: u64,
    free: DbRecord,
    main: DbRecord,
    last_page: u64,
    txnid: u64,
}

/// What a walk of the data file found: the file is sound as far as LMDB's structure goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Walk {
    /// Distinct pages read (both snapshots together).
    pub(crate) pages: u64,
    /// The named databases of the current snapshot, in key order.
    pub(crate) databases: Vec<String>,
}

/// The data file of a store, open for plain reads.
struct DataFile {
    file: File,
    /// The path as shown in errors.
    shown: String,
    len: u64,
}

impl DataFile {
    fn damaged(&self, page: Option<u64>, offset: Option<u64>, problem: String) -> Error {
        Error::Damaged {
            file: self.shown.clone(),
            page,
            offset,
            problem,
        }
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.read_exact(buf)
    }

    /// The bytes of both meta pages' headers and fields as they are now (the second at the
    /// page size the first names, or 4096), to tell whether a writer committed meanwhile.
    fn meta_bytes(&mut self) -> Vec<u8> {
        let mut bytes = vec![0u8; 2 * META_BYTES];
        let (first, second) = bytes.split_at_mut(META_BYTES);
        if self.read_at(0, first).is_err() {
            return Vec::new();
        }
        let size = u32_at(first, 40)
            .map(u64::from)
            .filter(|size| size.is_power_of_two() && (256..=65_536).contains(size))
            .unwrap_or(4096);
        if self.read_at(size, second).is_err() {
            return Vec::new();
        }
        bytes
    }

    /// The two meta pages, each checked on its own and both against each other.
    fn metas(&mut self) -> Result<[Meta; 2]> {
        let first = self.meta(0, None)?;
        let second = self.meta(1, Some(first.page_size))?;
        // The length after the meta pages were read: a writer of another process grows the
        // file before it commits a meta page that uses the new pages.
        self.len = self.file.metadata()?.len();
        if second.page_size != first.page_size {
            return Err(self.damaged(
                Some(1),
                Some(first.page_size),
                format!(
                    "the meta pages disagree on the page size ({} and {})",
                    first.page_size, second.page_size
                ),
            ));
        }
        // Transaction N writes meta page N % 2, so the two pages hold consecutive transaction
        // ids (both 0 in a store no transaction has committed to yet).
        let (a, b) = (first.txnid, second.txnid);
        if !(a.abs_diff(b) == 1 || a == 0 && b == 0) {
            return Err(self.damaged(
                Some(0),
                Some(0),
                format!("the meta pages hold transactions {a} and {b}, which are not consecutive"),
            ));
        }
        Ok([first, second])
    }

    /// Meta page `page` (0 or 1), at `page_size` bytes in for page 1 (from page 0).
    fn meta(&mut self, page: u64, page_size: Option<u64>) -> Result<Meta> {
        let offset = page_size.map_or(0, |size| size * page);
        if self.len < offset + META_BYTES as u64 {
            return Err(self.damaged(
                Some(page),
                Some(offset),
                format!(
                    "the file is {} bytes long, too short for meta page {page}",
                    self.len
                ),
            ));
        }
        let mut bytes = [0u8; META_BYTES];
        self.read_at(offset, &mut bytes)?;
        let at = |problem: String| Err(self.damaged(Some(page), Some(offset), problem));
        let (pgno, flags) = (u64_at(&bytes, 0), u16_at(&bytes, 10));
        let (magic, version) = (u32_at(&bytes, 16), u32_at(&bytes, 20));
        let free = DbRecord::parse(&bytes[40..88]);
        let main = DbRecord::parse(&bytes[88..136]);
        let (last_page, txnid) = (u64_at(&bytes, 136), u64_at(&bytes, 144));
        let (
            Some(pgno),
            Some(flags),
            Some(magic),
            Some(version),
            Some(free),
            Some(main),
            Some(last_page),
            Some(txnid),
        ) = (pgno, flags, magic, version, free, main, last_page, txnid)
        else {
            return at("the meta page is cut short".into());
        };
        if magic != MAGIC {
            return at(format!(
                "no LMDB magic number in meta page {page} (found {magic:#010x}, expected \
                 {MAGIC:#010x}): not an LMDB data file, or a damaged one"
            ));
        }
        if version != DATA_VERSION {
            return at(format!(
                "LMDB data version {version} in meta page {page}, this program reads version \
                 {DATA_VERSION}"
            ));
        }
        if flags & !P_TRANSIENT != P_META || pgno != page {
            return at(format!(
                "meta page {page} is marked as page {pgno} with flags {flags:#06x}"
            ));
        }
        let page_size = u64::from(free.pad);
        if !page_size.is_power_of_two() || !(256..=65_536).contains(&page_size) {
            return at(format!("page size {page_size} is not one LMDB writes"));
        }
        if txnid != 0 && txnid % 2 != page {
            return at(format!(
                "meta page {page} holds transaction {txnid}, which LMDB writes to the other one"
            ));
        }
        // The free-page database's flags hold LMDB's persistent environment flags too: its
        // integer keys, and a directory-less environment; esdsl never maps at a fixed address.
        if free.flags & !(ENV_NOSUBDIR | DB_INTEGERKEY) != 0 || free.flags & DB_INTEGERKEY == 0 {
            return at(format!(
                "the free-page database's flags {:#06x} are not LMDB's",
                free.flags
            ));
        }
        if main.flags & !DB_FLAGS != 0 {
            return at(format!(
                "the main database's flags {:#06x} are unknown",
                main.flags
            ));
        }
        if last_page < 1 {
            return at(format!("last page {last_page} is below the meta pages"));
        }
        for (name, db) in [("free-page", free), ("main", main)] {
            if db.root != NO_PAGE && (db.root < 2 || db.root > last_page) {
                return at(format!(
                    "the {name} database's root page {} is outside pages 2 to {last_page}",
                    db.root
                ));
            }
        }
        Ok(Meta {
            page,
            page_size,
            free,
            main,
            last_page,
            txnid,
        })
    }

    /// The current snapshot's meta page (the higher transaction id), with the file long enough
    /// for every page it counts.
    fn current(&self, metas: &[Meta; 2]) -> Result<Meta> {
        let [first, second] = metas;
        let current = if second.txnid > first.txnid {
            *second
        } else {
            *first
        };
        let needed = current
            .last_page
            .saturating_add(1)
            .saturating_mul(current.page_size);
        if self.len < needed {
            // The first page the file does not hold whole.
            let cut = self.len / current.page_size;
            return Err(self.damaged(
                Some(cut),
                Some(cut * current.page_size),
                format!(
                    "the file ends at byte {}, but meta page {} (transaction {}) uses pages up \
                     to {}, which need {needed} bytes: the file was truncated",
                    self.len, current.page, current.txnid, current.last_page
                ),
            ));
        }
        Ok(current)
    }
}

/// What the pre-open check found in a directory.
pub(crate) enum FileState {
    /// No `data.mdb`: a new store.
    Missing,
    /// A zero-length `data.mdb`: LMDB writes a new store's first pages into it.
    Empty,
    /// An LMDB data file whose meta pages and length are sound.
    Lmdb,
}

/// Checks the data file in `dir` against its meta pages before LMDB maps it: both meta pages
/// carry LMDB's magic and data version, agree on the page size, and the file holds every page
/// up to the current snapshot's last page. A missing or empty file is a new store.
///
/// # Errors
///
/// [`Error::Damaged`] naming the file, page, byte offset and problem; I/O errors.
pub(crate) fn check_before_open(dir: &Path) -> Result<FileState> {
    checked(dir, |file| {
        if file.len == 0 {
            return Ok(FileState::Empty);
        }
        let metas = file.metas()?;
        file.current(&metas)?;
        Ok(FileState::Lmdb)
    })
    .map(|state| state.unwrap_or(FileState::Missing))
}

/// Runs `f` on the data file in `dir` (`None` when there is none). When `f` finds damage and
/// the meta pages changed meanwhile (a writer, perhaps of another process, committed while
/// they were read), runs it again on the new state, at most three times.
fn checked<T>(dir: &Path, mut f: impl FnMut(&mut DataFile) -> Result<T>) -> Result<Option<T>> {
    let mut attempts = 0;
    loop {
        let Some(mut file) = open(dir)? else {
            return Ok(None);
        };
        let before = file.meta_bytes();
        match f(&mut file) {
            Err(Error::Damaged { .. }) if attempts < 3 && file.meta_bytes() != before => {
                attempts += 1;
            }
            other => return other.map(Some),
        }
    }
}

/// Checks that `dir` holds a store that exists (not a new or empty one), then
/// [`check_before_open`].
///
/// # Errors
///
/// [`Error::NoStore`] for a missing or empty `data.mdb`; as [`check_before_open`].
pub(crate) fn check_existing(dir: &Path) -> Result<()> {
    let no_store = |reason: &str| Error::NoStore {
        path: dir.display().to_string(),
        reason: reason.to_owned(),
    };
    match check_before_open(dir)? {
        FileState::Missing if !dir.is_dir() => Err(no_store("no such directory")),
        FileState::Missing => Err(no_store("no data.mdb")),
        FileState::Empty => Err(no_store("data.mdb is empty")),
        FileState::Lmdb => Ok(()),
    }
}

/// Walks every B-tree of both snapshots of the data file in `dir` with bounds-checked reads:
/// the free-page database, the main database and every named database recorded in it.
///
/// Checked on every page: its number is inside the file and the snapshot, it is reached once,
/// it says it is the page it is and the kind its place in the tree needs, its free-space bounds
/// and node offsets lie inside it, every key and value fits, overflow runs lie inside the file,
/// keys are in order, leaves sit at the recorded depth (at most 32), and each tree's page and
/// entry counts equal its database record's. Each snapshot's free-page lists hold pages of the
/// snapshot in order, none also in use, and its newest entry is its own transaction's (which a
/// damaged transaction id in a meta page contradicts).
///
/// Run with a read transaction open on the store, so no page reachable from either meta page
/// is reused meanwhile (a reader pins what the transaction before its snapshot freed too).
/// When the walk finds damage and the meta pages changed while it ran (a writer committed), it
/// walks again, at most three times.
///
/// # Errors
///
/// [`Error::NoStore`] for a missing or empty data file; [`Error::Damaged`] for the first
/// damage found, with its page and byte offset; I/O errors.
pub(crate) fn walk(dir: &Path) -> Result<Walk> {
    check_existing(dir)?;
    checked(dir, |file| {
        let metas = file.metas()?;
        walk_snapshots(file, &metas)
    })?
    .ok_or_else(|| Error::NoStore {
        path: dir.display().to_string(),
        reason: "no data.mdb".into(),
    })
}

fn walk_snapshots(file: &mut DataFile, metas: &[Meta; 2]) -> Result<Walk> {
    let current = file.current(metas)?;
    let mut walk = Walk::default();
    let mut distinct = std::collections::HashSet::new();
    // Both snapshots LMDB keeps: it reads the current one, and the previous one is what a
    // reader that began before the last commit still sees. A page they share is read by both
    // walks and counted once.
    let previous = if current.page == 0 {
        metas[1]
    } else {
        metas[0]
    };
    for meta in [previous, current] {
        let mut tree = Snapshot {
            file: &mut *file,
            meta,
            visited: std::collections::HashSet::new(),
            free: Vec::new(),
            databases: Vec::new(),
        };
        tree.walk_all()?;
        distinct.extend(tree.visited.iter().copied());
        if meta == current {
            walk.databases = tree.databases;
        }
    }
    walk.pages = distinct.len() as u64 + 2;
    Ok(walk)
}

/// The walk of one snapshot.
struct Snapshot<'f> {
    file: &'f mut DataFile,
    meta: Meta,
    /// Every page reached in this snapshot: a page reached twice is damage.
    visited: std::collections::HashSet<u64>,
    /// The pages the free-page database lists, each with the transaction that freed it.
    free: Vec<(u64, u64)>,
    /// The named databases found in the main database.
    databases: Vec<String>,
}

/// What one tree holds, counted while walking it.
#[derive(Default)]
struct Counts {
    branch_pages: u64,
    leaf_pages: u64,
    overflow_pages: u64,
    entries: u64,
}

/// Which tree a page belongs to, for messages and for what its leaves may hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tree<'n> {
    Free,
    Main,
    Named(&'n str),
    /// The duplicates of one key of a named database kept in a tree of their own.
    Duplicates(&'n str),
}

impl std::fmt::Display for Tree<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tree::Free => f.write_str("the free-page database"),
            Tree::Main => f.write_str("the main database"),
            Tree::Named(name) => write!(f, "database `{name}`"),
            Tree::Duplicates(name) => write!(f, "a duplicates tree of database `{name}`"),
        }
    }
}

impl Snapshot<'_> {
    fn damaged(&self, page: u64, problem: String) -> Error {
        let offset = page.checked_mul(self.meta.page_size);
        self.file.damaged(
            Some(page),
            offset,
            format!(
                "{problem} (snapshot of transaction {}, meta page {})",
                self.meta.txnid, self.meta.page
            ),
        )
    }

    fn walk_all(&mut self) -> Result<()> {
        self.tree(Tree::Free, self.meta.free)?;
        let mut named = Vec::new();
        self.tree_collecting(Tree::Main, self.meta.main, &mut named)?;
        for (name, record) in named {
            self.tree(Tree::Named(&name), record)?;
            self.databases.push(name);
        }
        // A page listed as free is in no tree: LMDB would hand it to the next write while the
        // snapshot still uses it.
        let mut free = std::mem::take(&mut self.free);
        // Pages a transaction frees are listed under its id, so a snapshot lists none freed
        // after it and, from its second transaction on, some freed by itself (each commit
        // copies at least the main database's leaf it changes): a meta page whose
        // transaction id was damaged names another snapshot than its trees.
        let txnid = self.meta.txnid;
        let newest = free.iter().map(|(_, by)| *by).max();
        if newest.is_some_and(|by| by > txnid) || (txnid >= 2 && newest != Some(txnid)) {
            return Err(self.file.damaged(
                Some(self.meta.page),
                Some(self.meta.page * self.meta.page_size),
                format!(
                    "meta page {} names transaction {txnid}, but its free-page database's \
                     newest entry is from transaction {}",
                    self.meta.page,
                    newest.map_or_else(|| "none".to_owned(), |by| by.to_string())
                ),
            ));
        }
        free.sort_unstable();
        for pair in free.windows(2) {
            if let [(page, by), (next, again)] = pair
                && page == next
            {
                return Err(self.damaged(
                    *page,
                    format!("page listed as free twice (by transactions {by} and {again})"),
                ));
            }
        }
        for (page, by) in free {
            if self.visited.contains(&page) {
                return Err(self.damaged(
                    page,
                    format!("page is in use but listed as freed by transaction {by}"),
                ));
            }
        }
        Ok(())
    }

    /// A free-page database value: a count, then that many page numbers in descending order,
    /// each a data page of this snapshot.
    fn free_list(&mut self, list: &[u8], freed_by: u64) -> std::result::Result<(), String> {
        let count = u64_at(list, 0).ok_or("a free-page list shorter than its count")?;
        if count.checked_mul(8).and_then(|b| b.checked_add(8)) != Some(list.len() as u64) {
            return Err(format!(
                "a free-page list counts {count} pages in {} bytes",
                list.len()
            ));
        }
        let mut above = u64::MAX;
        for at in (8..list.len()).step_by(8) {
            let page = u64_at(list, at).ok_or("a free-page list cut short")?;
            if page >= above || page < 2 || page > self.meta.last_page {
                return Err(format!(
                    "free-page list of transaction {freed_by} holds page {page}: out of order \
                     or outside pages 2 to {}",
                    self.meta.last_page
                ));
            }
            above = page;
            self.free.push((page, freed_by));
        }
        Ok(())
    }

    fn tree(&mut self, tree: Tree<'_>, record: DbRecord) -> Result<()> {
        let mut named = Vec::new();
        self.tree_collecting(tree, record, &mut named)
    }

    /// Walks one tree; the main database's named databases are pushed to `named`.
    fn tree_collecting(
        &mut self,
        tree: Tree<'_>,
        record: DbRecord,
        named: &mut Vec<(String, DbRecord)>,
    ) -> Result<()> {
        let at_root = record.root;
        if record.root == NO_PAGE {
            let counts = [
                u64::from(record.depth),
                record.branch_pages,
                record.leaf_pages,
                record.overflow_pages,
                record.entries,
            ];
            if counts != [0; 5] {
                return Err(self.file.damaged(
                    None,
                    None,
                    format!(
                        "{tree} is empty but its record counts {} entries at depth {} (snapshot \
                         of transaction {})",
                        record.entries, record.depth, self.meta.txnid
                    ),
                ));
            }
            return Ok(());
        }
        if record.depth == 0 || record.depth > MAX_DEPTH {
            return Err(self.damaged(
                at_root,
                format!(
                    "{tree} has depth {}, outside 1 to {MAX_DEPTH}",
                    record.depth
                ),
            ));
        }
        let page_size = usize::try_from(self.meta.page_size).unwrap_or(usize::MAX);
        let mut buf = vec![0u8; page_size];
        let mut counts = Counts::default();
        // Depth first, each page with its level (1 at the root).
        let mut stack = vec![(record.root, 1u16)];
        while let Some((page, level)) = stack.pop() {
            self.read_page(page, &mut buf, tree)?;
            let flags = u16_at(&buf, 10).unwrap_or(0) & !P_TRANSIENT;
            let leaf = level == record.depth;
            let fixed = matches!(tree, Tree::Duplicates(_)) && record.flags & DB_DUPFIXED != 0;
            let expected = match (leaf, fixed) {
                (false, _) => flags == P_BRANCH,
                (true, false) => flags == P_LEAF,
                (true, true) => flags == P_LEAF | P_LEAF2,
            };
            if !expected {
                return Err(self.damaged(
                    page,
                    format!(
                        "page of {tree} at level {level} of {} has flags {flags:#06x}, expected \
                         a {} page",
                        record.depth,
                        if leaf { "leaf" } else { "branch" }
                    ),
                ));
            }
            let Some((lower, upper)) = u16_at(&buf, 12).zip(u16_at(&buf, 14)) else {
                return Err(self.damaged(page, "page header cut short".into()));
            };
            let (lower, upper) = (usize::from(lower), usize::from(upper));
            if lower < HEADER
                || lower > upper
                || upper > page_size
                || !(lower - HEADER).is_multiple_of(2)
            {
                return Err(self.damaged(
                    page,
                    format!(
                        "free-space bounds {lower}..{upper} do not fit a {page_size}-byte page"
                    ),
                ));
            }
            let keys = (lower - HEADER) / 2;
            if keys == 0 {
                return Err(self.damaged(page, format!("page of {tree} holds no node")));
            }
            if flags & P_LEAF2 != 0 {
                let key_size = usize::from(u16_at(&buf, 8).unwrap_or(0));
                if key_size == 0 || keys.saturating_mul(key_size) > page_size - HEADER {
                    return Err(self.damaged(
                        page,
                        format!("{keys} keys of {key_size} bytes do not fit the page"),
                    ));
                }
                counts.leaf_pages += 1;
                counts.entries += keys as u64;
                continue;
            }
            if leaf {
                counts.leaf_pages += 1;
            } else {
                counts.branch_pages += 1;
            }
            // Keys in memcmp order, in the databases whose comparator is known: the main one
            // and esdsl's own (another program may give its databases a comparator of its own).
            let ordered = record.flags & (DB_REVERSEKEY | DB_INTEGERKEY) == 0
                && match tree {
                    Tree::Main => true,
                    Tree::Named(name) => DATABASES.contains(&name),
                    Tree::Free | Tree::Duplicates(_) => false,
                };
            let mut previous_key: Option<(usize, usize)> = None;
            for index in 0..keys {
                let node = usize::from(u16_at(&buf, HEADER + 2 * index).unwrap_or(0));
                let node_at = |snapshot: &Self, problem: String| {
                    snapshot.damaged(
                        page,
                        format!("node {index} (at byte {node} of the page): {problem}"),
                    )
                };
                if node < upper || node + 8 > page_size {
                    return Err(node_at(
                        self,
                        format!("offset outside the node area {upper}..{page_size}"),
                    ));
                }
                let lo = u64::from(u16_at(&buf, node).unwrap_or(0));
                let hi = u64::from(u16_at(&buf, node + 2).unwrap_or(0));
                let node_flags = u16_at(&buf, node + 4).unwrap_or(0);
                let key_size = usize::from(u16_at(&buf, node + 6).unwrap_or(0));
                let key_start = node + 8;
                let key_end = key_start + key_size;
                if key_end > page_size {
                    return Err(node_at(
                        self,
                        format!("a {key_size}-byte key runs past the page"),
                    ));
                }
                if ordered && (leaf || index > 0) {
                    if let Some((start, end)) = previous_key
                        && buf[start..end] >= buf[key_start..key_end]
                    {
                        return Err(node_at(self, "keys out of order".into()));
                    }
                    previous_key = Some((key_start, key_end));
                }
                if !leaf {
                    let child = lo | (hi << 16) | (u64::from(node_flags) << 32);
                    stack.push((child, level + 1));
                    continue;
                }
                counts.entries += 1;
                let data_size = usize::try_from(lo | (hi << 16)).unwrap_or(usize::MAX);
                if node_flags & !(F_BIGDATA | F_SUBDATA | F_DUPDATA) != 0 {
                    return Err(node_at(
                        self,
                        format!("unknown node flags {node_flags:#06x}"),
                    ));
                }
                if node_flags & F_BIGDATA != 0 {
                    if node_flags != F_BIGDATA {
                        return Err(node_at(
                            self,
                            format!(
                                "node flags {node_flags:#06x} combine an overflow value with others"
                            ),
                        ));
                    }
                    let Some(first) = u64_at(&buf, key_end).filter(|_| key_end + 8 <= page_size)
                    else {
                        return Err(node_at(
                            self,
                            "an overflow page number runs past the page".into(),
                        ));
                    };
                    counts.overflow_pages += self.overflow(first, data_size, tree, page, index)?;
                    if tree == Tree::Free {
                        let mut list = vec![0u8; data_size];
                        self.file
                            .read_at(first * self.meta.page_size + HEADER as u64, &mut list)?;
                        let freed_by = u64_at(&buf, key_start).unwrap_or(0);
                        self.free_list(&list, freed_by)
                            .map_err(|problem| node_at(self, problem))?;
                    }
                    continue;
                }
                let data_end = key_end.saturating_add(data_size);
                if data_end > page_size {
                    return Err(node_at(
                        self,
                        format!("a {data_size}-byte value runs past the page"),
                    ));
                }
                let data = &buf[key_end..data_end];
                match (node_flags & F_SUBDATA != 0, node_flags & F_DUPDATA != 0) {
                    (false, false) if tree == Tree::Free => {
                        let freed_by = u64_at(&buf, key_start).filter(|_| key_size == 8);
                        let Some(freed_by) = freed_by else {
                            return Err(node_at(
                                self,
                                format!("a {key_size}-byte key where a transaction id belongs"),
                            ));
                        };
                        self.free_list(data, freed_by)
                            .map_err(|problem| node_at(self, problem))?;
                    }
                    (false, false) => {}
                    (true, false) if tree == Tree::Main => {
                        let record = DbRecord::parse(data).filter(|_| data.len() == DB_RECORD);
                        let Some(record) = record else {
                            return Err(node_at(
                                self,
                                format!(
                                    "a named database's record is {} bytes, not {DB_RECORD}",
                                    data.len()
                                ),
                            ));
                        };
                        let name = String::from_utf8_lossy(&buf[key_start..key_end]).into_owned();
                        // esdsl's own databases are plain (no flags); others may have any
                        // flag `mdb_dbi_open` keeps.
                        let allowed = if DATABASES.contains(&name.as_str()) {
                            0
                        } else {
                            DB_FLAGS
                        };
                        if record.flags & !allowed != 0 {
                            return Err(node_at(
                                self,
                                format!("database `{name}` has flags {:#06x}", record.flags),
                            ));
                        }
                        named.push((name, record));
                    }
                    (true, true) if record.flags & DB_DUPSORT != 0 => {
                        let Tree::Named(name) = tree else {
                            return Err(node_at(
                                self,
                                "duplicates outside a named database".into(),
                            ));
                        };
                        let sub = DbRecord::parse(data).filter(|_| data.len() == DB_RECORD);
                        let Some(sub) = sub else {
                            return Err(node_at(
                                self,
                                "a duplicates tree record of the wrong size".into(),
                            ));
                        };
                        let sub = DbRecord {
                            flags: record.flags,
                            ..sub
                        };
                        self.tree(Tree::Duplicates(name), sub)?;
                    }
                    (false, true) if record.flags & DB_DUPSORT != 0 => {
                        check_sub_page(data).map_err(|problem| node_at(self, problem))?;
                    }
                    _ => {
                        return Err(node_at(
                            self,
                            format!("node flags {node_flags:#06x} do not belong in {tree}"),
                        ));
                    }
                }
            }
            if !leaf && level >= record.depth {
                return Err(self.damaged(page, format!("{tree} is deeper than its depth")));
            }
        }
        let dupsort = record.flags & DB_DUPSORT != 0;
        let counted = [
            ("branch pages", counts.branch_pages, record.branch_pages),
            ("leaf pages", counts.leaf_pages, record.leaf_pages),
            (
                "overflow pages",
                counts.overflow_pages,
                record.overflow_pages,
            ),
            ("entries", counts.entries, record.entries),
        ];
        for (what, found, recorded) in counted {
            // A database with duplicates counts each duplicate, and their trees' pages.
            if dupsort && matches!(tree, Tree::Named(_)) {
                break;
            }
            if found != recorded {
                return Err(self.damaged(
                    at_root,
                    format!("{tree} holds {found} {what}, its record says {recorded}"),
                ));
            }
        }
        Ok(())
    }

    /// Reads `page` into `buf`, checking that it lies in the file and the snapshot, is reached
    /// for the first time, and says it is page `page`.
    fn read_page(&mut self, page: u64, buf: &mut [u8], tree: Tree<'_>) -> Result<()> {
        self.claim(page, tree)?;
        let offset = page * self.meta.page_size;
        self.file.read_at(offset, buf)?;
        let marked = u64_at(buf, 0).unwrap_or(NO_PAGE);
        if marked != page {
            return Err(self.damaged(page, format!("page of {tree} is marked as page {marked}")));
        }
        Ok(())
    }

    /// Marks `page` reached, checking it is a data page of this snapshot inside the file.
    fn claim(&mut self, page: u64, tree: Tree<'_>) -> Result<()> {
        let in_file = self.file.len / self.meta.page_size;
        if page < 2 || page > self.meta.last_page || page >= in_file {
            return Err(self.file.damaged(
                Some(page),
                None,
                format!(
                    "{tree} points at page {page}, outside pages 2 to {} (the file holds {in_file} \
                     pages; snapshot of transaction {})",
                    self.meta.last_page, self.meta.txnid
                ),
            ));
        }
        if !self.visited.insert(page) {
            return Err(self.damaged(page, format!("page reached twice, again from {tree}")));
        }
        Ok(())
    }

    /// Checks the overflow run starting at `first` holding `size` bytes; returns its length in
    /// pages.
    fn overflow(
        &mut self,
        first: u64,
        size: usize,
        tree: Tree<'_>,
        from: u64,
        index: usize,
    ) -> Result<u64> {
        self.claim(first, tree)?;
        let mut header = [0u8; HEADER];
        self.file
            .read_at(first * self.meta.page_size, &mut header)?;
        let marked = u64_at(&header, 0).unwrap_or(NO_PAGE);
        let flags = u16_at(&header, 10).unwrap_or(0) & !P_TRANSIENT;
        let pages = u64::from(u32_at(&header, 12).unwrap_or(0));
        let from_node = format!("(the value of node {index} of page {from})");
        if marked != first || flags != P_OVERFLOW {
            return Err(self.damaged(
                first,
                format!(
                    "overflow page of {tree} {from_node} is marked as page {marked} with flags \
                     {flags:#06x}"
                ),
            ));
        }
        // The pages a value of `size` bytes needs after one page header (LMDB's `OVPAGES`);
        // an updated value may keep a longer run.
        let needed = (HEADER as u64 - 1 + size as u64) / self.meta.page_size + 1;
        let end = first.saturating_add(pages);
        if pages < needed
            || end > self.meta.last_page.saturating_add(1)
            || end > self.file.len / self.meta.page_size
        {
            return Err(self.damaged(
                first,
                format!(
                    "overflow run of {pages} pages {from_node} for {size} bytes (needs {needed}) \
                     does not fit the file and snapshot (last page {})",
                    self.meta.last_page
                ),
            ));
        }
        for page in first + 1..end {
            self.claim(page, tree)?;
        }
        Ok(pages)
    }
}

/// A sub-page of duplicates inside a leaf node: its header bounds inside the value.
fn check_sub_page(data: &[u8]) -> std::result::Result<(), String> {
    let (Some(lower), Some(upper)) = (u16_at(data, 12), u16_at(data, 14)) else {
        return Err(format!("a {}-byte sub-page of duplicates", data.len()));
    };
    let (lower, upper) = (usize::from(lower), usize::from(upper));
    if lower < HEADER || lower > upper || upper > data.len() {
        return Err(format!(
            "sub-page bounds {lower}..{upper} do not fit its {} bytes",
            data.len()
        ));
    }
    Ok(())
}

fn open(dir: &Path) -> Result<Option<DataFile>> {
    let path = dir.join(DATA_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let len = file.metadata()?.len();
    Ok(Some(DataFile {
        file,
        shown: path.display().to_string(),
        len,
    }))
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let slice = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes(slice.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let slice = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(slice.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let slice = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_ne_bytes(slice.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lmdb::LmdbStore;
    use crate::store::{EventStore, ExpectedVersion, Metadata, NewEvent};

    /// A closed store of `events` events in `dir`; its data file's bytes.
    fn store(dir: &Path, events: u64) -> Vec<u8> {
        let store = LmdbStore::open(dir).expect("opens");
        for n in 0..events {
            let event = NewEvent {
                event_type: "Happened".into(),
                schema_version: 1,
                codec: crate::Codec::Json,
                payload: format!(r#"{{"n":{n}}}"#).into_bytes(),
            };
            store
                .append(
                    "Thing-1",
                    ExpectedVersion::Any,
                    vec![event],
                    &Metadata::default(),
                )
                .expect("appends");
        }
        drop(store);
        std::fs::read(dir.join(DATA_FILE)).expect("reads")
    }

    fn damaged(dir: &Path, bytes: &[u8]) -> String {
        std::fs::write(dir.join(DATA_FILE), bytes).expect("writes");
        match walk(dir) {
            Err(error @ Error::Damaged { .. }) => {
                error.to_string().replace(&dir.display().to_string(), "DIR")
            }
            other => panic!("{other:?}"),
        }
    }

    fn txnid(bytes: &[u8], page: usize) -> u64 {
        u64_at(bytes, page * 4096 + 144).expect("a meta page")
    }

    #[test]
    fn a_store_and_its_compacted_copy_walk_clean() {
        let dir = tempfile::tempdir().expect("temp dir");
        store(&dir.path().join("live"), 50);
        let walked = walk(&dir.path().join("live")).expect("walks");
        let mut names = DATABASES.map(str::to_owned).to_vec();
        names.sort();
        assert_eq!(walked.databases, names);
        assert!(walked.pages > 2 + names.len() as u64, "{walked:?}");
        let copy = dir.path().join("copy");
        LmdbStore::backup_read_only(dir.path().join("live"), &copy, &Default::default())
            .expect("backs up");
        assert_eq!(walk(&copy).expect("walks").databases, names);
    }

    #[test]
    fn a_new_or_empty_file_is_a_new_store_before_open_and_no_store_for_a_walk() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(matches!(
            check_before_open(dir.path()),
            Ok(FileState::Missing)
        ));
        std::fs::write(dir.path().join(DATA_FILE), b"").expect("writes");
        assert!(matches!(
            check_before_open(dir.path()),
            Ok(FileState::Empty)
        ));
        assert!(matches!(walk(dir.path()), Err(Error::NoStore { .. })));
    }

    #[test]
    fn damaged_meta_pages_are_named_with_their_page_and_offset() {
        let dir = tempfile::tempdir().expect("temp dir");
        let original = store(dir.path(), 20);

        let mut bytes = original.clone();
        bytes[16] ^= 0x01;
        assert_eq!(
            damaged(dir.path(), &bytes),
            "damaged store file `DIR/data.mdb` at page 0 (byte 0): no LMDB magic number in meta \
             page 0 (found 0xbeefc0df, expected 0xbeefc0de): not an LMDB data file, or a damaged \
             one"
        );

        // The current meta page's transaction id lowered by two: same parity, still
        // consecutive with the other page, but its trees are a later snapshot's.
        let current = if txnid(&original, 1) > txnid(&original, 0) {
            1
        } else {
            0
        };
        let id = txnid(&original, current);
        let mut bytes = original.clone();
        bytes[current * 4096 + 144..current * 4096 + 152].copy_from_slice(&(id - 2).to_ne_bytes());
        assert_eq!(
            damaged(dir.path(), &bytes),
            format!(
                "damaged store file `DIR/data.mdb` at page {current} (byte {}): meta page \
                 {current} names transaction {}, but its free-page database's newest entry is \
                 from transaction {id}",
                current * 4096,
                id - 2
            )
        );

        let mut bytes = original.clone();
        bytes[current * 4096 + 144..current * 4096 + 152].copy_from_slice(&(id + 4).to_ne_bytes());
        assert_eq!(
            damaged(dir.path(), &bytes),
            format!(
                "damaged store file `DIR/data.mdb` at page 0 (byte 0): the meta pages hold \
                 transactions {} and {}, which are not consecutive",
                txnid(&bytes, 0),
                txnid(&bytes, 1)
            )
        );
    }

    #[test]
    fn a_truncated_file_names_its_first_missing_page() {
        let dir = tempfile::tempdir().expect("temp dir");
        let original = store(dir.path(), 20);
        let cut = original.len() - 4096 - 100;
        let message = damaged(dir.path(), &original[..cut]);
        let page = cut / 4096;
        assert!(
            message.starts_with(&format!(
                "damaged store file `DIR/data.mdb` at page {page} (byte {}): the file ends at \
                 byte {cut}, but meta page ",
                page * 4096
            )),
            "{message}"
        );
        assert!(message.ends_with(": the file was truncated"), "{message}");
        assert!(matches!(
            check_before_open(dir.path()),
            Err(Error::Damaged { .. })
        ));
    }

    #[test]
    fn a_leaf_page_that_is_not_where_it_says_is_damage() {
        let dir = tempfile::tempdir().expect("temp dir");
        let original = store(dir.path(), 20);
        let current = if txnid(&original, 1) > txnid(&original, 0) {
            1
        } else {
            0
        };
        // The main database's root: a leaf holding the named databases.
        let root = u64_at(&original, current * 4096 + 128).expect("root");
        let at = usize::try_from(root).expect("small") * 4096;
        let mut bytes = original.clone();
        bytes[at] ^= 0x40;
        let message = damaged(dir.path(), &bytes);
        assert!(
            message.starts_with(&format!(
                "damaged store file `DIR/data.mdb` at page {root} (byte {at}): page of the main \
                 database is marked as page {}",
                root ^ 0x40
            )),
            "{message}"
        );
    }

    /// The walk alone (LMDB never reads these files) on heavily mutated copies of a real
    /// store: any bytes end in a walk or a typed error, never a panic (overflow included).
    #[test]
    fn any_bytes_walk_or_are_damage_never_a_panic() {
        let dir = tempfile::tempdir().expect("temp dir");
        let original = store(&dir.path().join("store"), 120);
        let mut state = 0x5EED_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let case_dir = dir.path().join("case");
        std::fs::create_dir(&case_dir).expect("creates");
        let (mut clean, mut damaged) = (0, 0);
        for case in 0..400 {
            let mut bytes = original.clone();
            let writes = 1 + next() % 64;
            for _ in 0..writes {
                let at = usize::try_from(next() % bytes.len() as u64).expect("small");
                // Whole bytes, often 0xff or 0: lengths, counts and page numbers at extremes.
                bytes[at] = match next() % 4 {
                    0 => 0xff,
                    1 => 0,
                    _ => next().to_le_bytes()[0],
                };
            }
            if case % 10 == 0 {
                let keep = usize::try_from(next() % bytes.len() as u64).expect("small");
                bytes.truncate(keep);
            }
            std::fs::write(case_dir.join(DATA_FILE), &bytes).expect("writes");
            match walk(&case_dir) {
                Ok(_) => clean += 1,
                Err(Error::Damaged { .. } | Error::NoStore { .. }) => damaged += 1,
                Err(other) => panic!("case {case}: {other:?}"),
            }
        }
        assert!(damaged > 300, "{clean} clean, {damaged} damaged");
    }

    #[test]
    fn a_last_page_at_the_top_of_the_range_is_no_overflow() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LmdbStore::open(dir.path()).expect("opens");
        let big = NewEvent {
            event_type: "Big".into(),
            schema_version: 1,
            codec: crate::Codec::Json,
            payload: format!(r#"{{"note":"{}"}}"#, "x".repeat(10_000)).into_bytes(),
        };
        for _ in 0..2 {
            store
                .append(
                    "Thing-1",
                    ExpectedVersion::Any,
                    vec![big.clone()],
                    &Metadata::default(),
                )
                .expect("appends");
        }
        drop(store);
        let mut bytes = std::fs::read(dir.path().join(DATA_FILE)).expect("reads");
        let previous = if txnid(&bytes, 1) > txnid(&bytes, 0) {
            0
        } else {
            1
        };
        bytes[previous * 4096 + 136..previous * 4096 + 144].copy_from_slice(&[0xff; 8]);
        std::fs::write(dir.path().join(DATA_FILE), &bytes).expect("writes");
        // The previous snapshot's pages all lie in the file, so it walks clean.
        walk(dir.path()).expect("walks");
    }
}
