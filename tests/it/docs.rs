//! The documented contract matches the code: every exit code of the installer and of the builder is
//! in the program's `--help` and in README.md (the installer's in ARCHITECTURE.md too) with the
//! same meaning.

use std::{fs, process::Command};

use crate::support::*;

/// A table of exit codes as the docs hold it: (code, meaning), backticks dropped.
type CodeTable = Vec<(i32, String)>;

/// The exit code tables of a markdown document, in order: each run of `|` lines holding rows
/// that start with a number (`| code | meaning |` tables; their header and rule are skipped).
fn code_tables(doc: &str) -> Vec<CodeTable> {
    let mut tables = Vec::new();
    let mut current = CodeTable::new();
    for line in doc.lines() {
        let Some(row) = line.trim_start().strip_prefix('|') else {
            if !current.is_empty() {
                tables.push(std::mem::take(&mut current));
            }
            continue;
        };
        let mut cells = row.split('|').map(str::trim);
        if let (Some(Ok(code)), Some(meaning)) = (cells.next().map(str::parse), cells.next()) {
            current.push((code, meaning.replace('`', "")));
        }
    }
    if !current.is_empty() {
        tables.push(current);
    }
    tables
}

fn owned(table: &[(i32, &str)]) -> CodeTable {
    table.iter().map(|(code, meaning)| (*code, meaning.to_string())).collect()
}

#[test]
fn table_parsing() {
    let doc = "text\n\n| code | meaning |\n|---|---|\n| 0 | ok |\n| 4 | bad `--go-env` |\n\nmore\n\n| 1 | x |\n";
    assert_eq!(code_tables(doc), [owned(&[(0, "ok"), (4, "bad --go-env")]), owned(&[(1, "x")])]);
    assert!(code_tables("| what | size |\n|---|---|\n| ours | 1 |\n").is_empty());
}

#[test]
fn exit_codes_are_documented_everywhere() {
    let installer = owned(format::exit::TABLE);
    let builder_codes = owned(builder::exit::TABLE);
    let installer_help = stdout(&ok(Command::new(stub(AMD64)).arg("--help")));
    let builder_help = stdout(&ok(builder().arg("--help")));
    // (whose codes, the table in the code, where it is defined, the documents that list it, --help)
    let cases: &[(&str, &CodeTable, &str, &[&str], &str)] = &[
        ("installer", &installer, "format::exit::TABLE", &["README.md", "ARCHITECTURE.md"], &installer_help),
        ("builder", &builder_codes, "builder::exit::TABLE", &["README.md"], &builder_help),
    ];
    for (program, table, source, docs, help) in cases {
        for doc in *docs {
            let tables = code_tables(&fs::read_to_string(workspace().join(doc)).unwrap());
            // The table most like the code's (by rows in common) is the one meant to document it.
            let closest = tables.iter().max_by_key(|t| t.iter().filter(|row| table.contains(row)).count());
            assert_eq!(closest, Some(*table), "{doc}: the {program}'s exit code table differs from {source}");
        }
        for (code, meaning) in table.iter() {
            assert!(help.contains(&format!("{code:>3}  {meaning}")), "{program} --help lacks exit code {code}");
        }
    }
    // No stale table: every table of exit codes in the docs is one of the two.
    for doc in ["README.md", "ARCHITECTURE.md"] {
        for t in code_tables(&fs::read_to_string(workspace().join(doc)).unwrap()) {
            assert!(t == installer || t == builder_codes, "{doc}: a table of exit codes of neither program: {t:#?}");
        }
    }
}
