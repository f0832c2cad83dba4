//! The documented contract matches the code: every exit code of the installer and of the builder is
//! in the program's `--help` and in README.md (the installer's in ARCHITECTURE.md too) with the
//! same meaning; every command line of README's examples names a command and options the program
//! has, and every command the programs list is in README.

use std::{collections::BTreeMap, fs, process::Command};

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

/// The programs README's examples run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Program {
    Builder,
    Installer,
    Xtask,
}

/// One command line of an example: the program and the words after it (up to a comment, a pipe,
/// `&&` or `;`).
#[derive(Debug, PartialEq)]
struct Example {
    program: Program,
    words: Vec<String>,
}

/// The command lines of the fenced code blocks of a markdown document, a continued line (`\`)
/// joined to the next. A program's name counts where it starts a command (first, after `&&`,
/// `|`, `;` or `sudo`), not as an argument (`verify go-offline-installer`); commented-out
/// examples (`# later: go-offline-builder verify-sums ...`) count too, so they stay true.
fn examples(doc: &str) -> Vec<Example> {
    let mut lines = Vec::new();
    let mut fenced = false;
    let mut pending = String::new();
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            continue;
        }
        match line.trim_end().strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => lines.push(std::mem::take(&mut pending) + line),
        }
    }
    let mut found = Vec::new();
    for line in lines {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        for (i, token) in tokens.iter().enumerate() {
            let program = match token.trim_start_matches("./") {
                "go-offline-builder" => Program::Builder,
                "go-offline-installer" => Program::Installer,
                "xtask" if i > 0 && tokens[i - 1] == "cargo" => Program::Xtask,
                _ => continue,
            };
            // (a file named like the program, as an argument, is no command)
            let first = if program == Program::Xtask { i - 1 } else { i };
            let starts_command = first == 0
                || ["&&", "||", "|", ";", "#", "sudo"].contains(&tokens[first - 1])
                || tokens[first - 1].ends_with(':');
            if !starts_command {
                continue;
            }
            let words = tokens[i + 1..]
                .iter()
                .take_while(|w| !w.starts_with('#') && !w.starts_with('(') && !["&&", "||", "|", ";"].contains(w))
                .map(|w| w.to_string())
                .collect();
            found.push(Example { program, words });
        }
    }
    found
}

/// The subcommands a clap `--help` lists (its `Commands:` section), `help` left out.
fn commands_of(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// Whether a `--help` text describes the option `opt` (`--key`, `-o`).
fn help_has_option(help: &str, opt: &str) -> bool {
    help.lines().any(|l| {
        l.trim_start().split([',', ' ', '=', '[', '<']).any(|w| w == opt)
            || l.trim_start().starts_with(&format!("{opt},"))
    })
}

#[test]
fn example_parsing() {
    let doc = "text ./go-offline-installer --bogus\n```sh\n./go-offline-builder build --go a.tar.gz \\\n    --key k -o go-offline-installer  # -> --x\ngo-offline-builder attach go-offline-installer --signature s\ncargo xtask fuzz --seconds 5 && go-offline-installer status --json | jq\n# later: go-offline-builder verify-sums DIR --key p\n```\n";
    let ex = |program, words: &[&str]| Example { program, words: words.iter().map(|w| w.to_string()).collect() };
    assert_eq!(
        examples(doc),
        [
            ex(Program::Builder, &["build", "--go", "a.tar.gz", "--key", "k", "-o", "go-offline-installer"]),
            ex(Program::Builder, &["attach", "go-offline-installer", "--signature", "s"]),
            ex(Program::Xtask, &["fuzz", "--seconds", "5"]),
            ex(Program::Installer, &["status", "--json"]),
            ex(Program::Builder, &["verify-sums", "DIR", "--key", "p"]),
        ]
    );
    let help =
        "Commands:\n  build   Build\n  help    Print\n\nOptions:\n  -o, --output <FILE>  Out\n      --key=<K>  Key\n";
    assert_eq!(commands_of(help), ["build"]);
    for (opt, has) in [("-o", true), ("--output", true), ("--key", true), ("--out", false), ("--k", false)] {
        assert_eq!(help_has_option(help, opt), has, "{opt}");
    }
}

/// README's examples name commands and options the programs have (checked against each
/// command's own `--help`), and README shows every command the two programs list; the tasks
/// README names are tasks of `cargo xtask`, with the options they read.
#[test]
fn readme_examples_match_the_programs() {
    let readme = fs::read_to_string(workspace().join("README.md")).unwrap();
    let xtask: String = ["main.rs", "test.rs", "fuzz.rs", "bench.rs", "deny.rs", "dist.rs"]
        .iter()
        .map(|f| fs::read_to_string(workspace().join("xtask/src").join(f)).unwrap())
        .collect();
    let help = |program: Program, command: Option<&str>| -> String {
        let mut cmd = match program {
            Program::Builder => builder(),
            Program::Installer => Command::new(stub(AMD64)),
            Program::Xtask => unreachable!("cargo xtask is read from its source"),
        };
        stdout(&ok(cmd.args(command).arg("--help")))
    };
    let mut commands: BTreeMap<Program, Vec<String>> = BTreeMap::new();
    for program in [Program::Builder, Program::Installer] {
        commands.insert(program, commands_of(&help(program, None)));
    }
    let found = examples(&readme);
    assert!(found.len() > 30, "README's examples were not found: {found:?}");
    for Example { program, words } in &found {
        let shown = format!("{program:?} {}", words.join(" "));
        let command = words.first().filter(|w| !w.starts_with('-')).map(String::as_str);
        if *program == Program::Xtask {
            let task = command.unwrap_or_else(|| panic!("README: `cargo xtask` without a task: {shown}"));
            assert!(xtask.contains(&format!("Some(\"{task}\")")), "README: `cargo xtask {task}` is no task: {shown}");
            for opt in words.iter().filter(|w| w.starts_with("--")) {
                assert!(xtask.contains(&format!("\"{opt}\"")), "README: cargo xtask {task} reads no {opt}: {shown}");
            }
            continue;
        }
        // The installer's first word may be an argument of the install (a path, a version).
        let command = command.filter(|c| commands[program].iter().any(|k| k == c));
        if *program == Program::Builder {
            assert!(command.is_some(), "README: go-offline-builder without one of its commands: {shown}");
        }
        let text = help(*program, command);
        for opt in words.iter().filter(|w| w.starts_with('-') && w.len() > 1) {
            let opt = opt.split('=').next().unwrap_or(opt);
            assert!(help_has_option(&text, opt), "README: {opt} is no option of {shown} (see its --help)");
        }
    }
    for (program, listed) in &commands {
        for command in listed {
            let shown = found.iter().any(|e| e.program == *program && e.words.first() == Some(command));
            assert!(shown, "README shows no example of {program:?} {command}");
        }
    }
}
