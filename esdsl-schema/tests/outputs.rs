//! The catalog and the exports of a small schema, held as snapshots (review a changed snapshot
//! like code), and the properties no snapshot review should have to catch: everything from a
//! schema is escaped, and the same input gives the same bytes.

use esdsl_schema::SchemaFile;
use esdsl_schema::catalog::Catalog;
use esdsl_schema::export::{self, AsyncApiInfo};
use esdsl_schema::lock::Lock;

/// Version 1 as locked, before `v2` and the `<script>` docs were added.
const LOCKED: &str = r#"
[aggregates.Shop]
id = "string"
doc = "A shop."

[events.ItemAdded]
aggregate = "Shop"
doc = "An item was added."
[events.ItemAdded.v1]
sku = "string"
qty = "i32"
"#;

const CURRENT: &str = r#"
[aggregates.Shop]
id = "string"
doc = "A shop."

[events.ItemAdded]
aggregate = "Shop"
doc = "An item was added."
[events.ItemAdded.v1]
sku = "string"
qty = "i32"
[events.ItemAdded.v2]
code = { type = "string", renamed_from = "sku", doc = "<script>alert('sku')</script> & more" }
qty = "i64"
size = { type = "Size", default = "m" }
place = "option<Place>"
added_at = { type = "timestamp", default = 2024-01-02T03:04:05Z }

[events.ShopClosed]
aggregate = "Shop"
retired = true
renamed_from = ["ShopShut"]
[events.ShopClosed.v1]

[types.Place]
shelf = { type = "u32", doc = "</td></tr><img src=x onerror=alert(1)>" }
tags = "map<list<uuid>>"

[enums.Size]
doc = "A \"size\"."
variants = ["s", "m", "xl-large"]
"#;

fn files() -> Vec<SchemaFile> {
    vec![SchemaFile::parse("schemas/shop.toml", "shop.toml", CURRENT).expect("valid schema")]
}

fn lock() -> Lock {
    let old = SchemaFile::parse("schemas/shop.toml", "shop.toml", LOCKED).expect("valid schema");
    let mut lock = Lock::new();
    lock.update(&[old]);
    lock
}

fn catalog() -> Catalog {
    Catalog::new(files()).with_lock(lock())
}

fn joined(pages: impl IntoIterator<Item = (String, String)>) -> String {
    pages
        .into_iter()
        .map(|(path, text)| format!("==> {path} <==\n{text}"))
        .collect()
}

#[test]
fn catalog_pages() {
    let pages = catalog().pages();
    let paths: Vec<&str> = pages.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "index.html",
            "search.js",
            "shop/Shop.html",
            "shop/ItemAdded.html",
            "shop/ShopClosed.html",
            "shop/Place.html",
            "shop/Size.html",
        ]
    );
    insta::assert_snapshot!(joined(pages.into_iter().map(|p| (p.path, p.text))));
}

#[test]
fn nothing_from_a_schema_reaches_a_page_unescaped() {
    let pages = catalog().pages();
    let item = pages
        .iter()
        .find(|p| p.path == "shop/ItemAdded.html")
        .expect("the event's page");
    assert!(
        item.text
            .contains("&lt;script&gt;alert(&#39;sku&#39;)&lt;/script&gt; &amp; more"),
        "the field doc, escaped"
    );
    for page in &pages {
        assert!(!page.text.contains("<script>alert"), "{}", page.path);
        assert!(!page.text.contains("<img src=x"), "{}", page.path);
        assert!(!page.text.contains("</td></tr><img"), "{}", page.path);
    }
    // The search index holds the docs too, as JavaScript string text that cannot end a script.
    let search = &pages[1].text;
    assert!(search.contains("\\u003cscript\\u003ealert('sku')"));
    assert!(!search.contains("<script") && !search.contains("</"));
}

#[test]
fn the_lock_history_and_each_version_s_lock_state_are_shown() {
    let pages = catalog().pages();
    let item = &pages[3].text;
    assert!(item.contains(
        "id=\"v1\">\n<h2>Version 1 <span class=\"badge auto\" title=\"lock entry 2\">locked</span>"
    ));
    assert!(item.contains("<h2>Version 2 <span class=\"badge\">newest</span> <span class=\"badge manual\">not locked yet</span>"));
    assert!(item.contains("<tr><td>#2</td><td><a href=\"#v1\">v1</a>: 2 fields</td>"));
    // Without a lock, pages say nothing about locking.
    let unlocked = Catalog::new(files()).pages();
    assert!(!unlocked[3].text.contains("locked"));
    assert!(!unlocked[3].text.contains("Lock history"));
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    assert_eq!(catalog().pages(), catalog().pages());
    assert_eq!(
        export::json_schemas(&files()),
        export::json_schemas(&files())
    );
}

#[test]
fn json_schemas() {
    let schemas = export::json_schemas(&files());
    insta::assert_snapshot!(joined(schemas.into_iter().map(|s| (s.path, s.text))));
}

#[test]
fn asyncapi_document() {
    let info = AsyncApiInfo {
        title: "Shop".into(),
        version: "1.2.3".into(),
    };
    insta::assert_snapshot!(export::asyncapi(&files(), &info));
}

#[test]
fn two_files_with_the_same_names_keep_apart() {
    let a = SchemaFile::parse("a/shop.toml", "a/shop.toml", LOCKED).expect("valid");
    let b = SchemaFile::parse("b.shop.toml", "b/shop.toml", LOCKED).expect("valid");
    let paths: Vec<String> = Catalog::new(vec![a.clone(), b.clone()])
        .pages()
        .into_iter()
        .map(|p| p.path)
        .collect();
    assert_eq!(
        paths,
        [
            "index.html",
            "search.js",
            "a_shop/Shop.html",
            "a_shop/ItemAdded.html",
            "b_shop/Shop.html",
            "b_shop/ItemAdded.html"
        ]
    );
    let doc = export::asyncapi(&[a, b], &AsyncApiInfo::default());
    assert!(doc.contains("\"Shop\": {") && doc.contains("\"b_shop.Shop\": {"));
    assert!(doc.contains("\"ItemAdded.v1\": {") && doc.contains("\"b_shop.ItemAdded.v1\": {"));
}

#[test]
fn keys_that_give_the_same_directory_name_are_numbered() {
    let a = SchemaFile::parse("x", "a/shop.toml", LOCKED).expect("valid");
    let b = SchemaFile::parse("y", "a_shop.toml", LOCKED).expect("valid");
    let paths: Vec<String> = export::json_schemas(&[a, b])
        .into_iter()
        .map(|s| s.path)
        .collect();
    assert_eq!(
        paths,
        [
            "a_shop/ItemAdded.v1.schema.json",
            "a_shop-2/ItemAdded.v1.schema.json"
        ]
    );
}

#[test]
fn the_catalog_error_can_cross_threads() {
    fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
    assert_error::<esdsl_schema::catalog::CatalogError>();
}

#[test]
fn a_descriptor_that_is_not_a_valid_schema_or_lock_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lock = dir.path().join("esdsl.lock");
    let error = Catalog::from_descriptor("shop", "[events.X]\n", &lock).expect_err("invalid");
    assert!(matches!(
        error,
        esdsl_schema::catalog::CatalogError::Invalid(_)
    ));
    std::fs::write(&lock, "format = 99\n").expect("write");
    let error = Catalog::from_descriptor("shop", LOCKED, &lock).expect_err("invalid lock");
    assert!(matches!(
        error,
        esdsl_schema::catalog::CatalogError::InvalidLock(_)
    ));
    // A directory where the lock should be cannot be read.
    let error = Catalog::from_descriptor("shop", LOCKED, dir.path()).expect_err("unreadable");
    assert!(matches!(
        error,
        esdsl_schema::catalog::CatalogError::Io { .. }
    ));
    assert!(error.to_string().starts_with("cannot read `"));
}
