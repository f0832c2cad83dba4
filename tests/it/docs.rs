//! The documented contract matches the code: every exit code is in `--help`, README.md and
//! ARCHITECTURE.md with the same meaning.

use std::fs;

use stub::exit::TABLE;

use crate::support::*;

/// `| code | meaning |` rows of a markdown table, as (code, meaning).
fn table_rows(doc: &str) -> Vec<(i32, String)> {
    doc.lines()
        .filter_map(|l| {
            let mut cells = l.strip_prefix('|')?.split('|').map(str::trim);
            let code = cells.next()?.parse().ok()?;
            Some((code, cells.next()?.replace('`', "")))
        })
        .collect()
}

#[test]
fn exit_codes_are_documented_everywhere() {
    let help = stdout(&ok(std::process::Command::new(stub(AMD64)).arg("--help")));
    for doc in ["README.md", "ARCHITECTURE.md"] {
        let text = fs::read_to_string(workspace().join(doc)).unwrap();
        let rows = table_rows(&text);
        let codes: Vec<i32> = rows.iter().map(|r| r.0).collect();
        let expected: Vec<i32> = TABLE.iter().map(|r| r.0).collect();
        assert_eq!(codes, expected, "{doc}: exit code table differs from stub::exit::TABLE");
        for ((code, meaning), (_, documented)) in TABLE.iter().zip(&rows) {
            assert_eq!(documented, meaning, "{doc}: exit code {code}");
        }
    }
    for (code, meaning) in TABLE {
        assert!(help.contains(&format!("{code:>3}  {meaning}")), "--help lacks exit code {code}");
    }
}
