//! The README's "Where to look" table names files that exist.

use std::path::Path;

#[test]
fn every_path_in_the_where_to_look_table_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let table = readme
        .split("## Where to look")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Where to look section");
    // The second column of each row: the files.
    let paths: Vec<&str> = (table.lines())
        .filter_map(|l| l.strip_prefix('|')?.split('|').nth(1))
        .flat_map(|files| files.split('`').skip(1).step_by(2))
        .collect();
    assert!(paths.len() > 30, "{paths:?}");
    let missing: Vec<&&str> = (paths.iter()).filter(|p| !root.join(p).exists()).collect();
    assert!(missing.is_empty(), "missing: {missing:?}");
}
