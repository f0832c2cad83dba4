//! The offline `go.env`: the defaults written into `$GOROOT/go.env` ([`OFFLINE_DEFAULTS`]),
//! `--go-env` overrides on top, and the rewrite that keeps the shipped file's comments and the
//! settings it does not override. The file is part of the tree, so it is signed and listed like
//! every other file.

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    error::BuildError,
    source::{Node, Tree},
};

/// The offline defaults written into `$GOROOT/go.env`: the go command never downloads a
/// toolchain, and never reaches a module proxy; checksum verification (GOSUMDB) stays as shipped.
/// `local+path`: a go.mod asking for a newer Go than this one runs the installed one of that
/// name found on PATH (the installer's `PREFIX/bin/go1.N.P` links), or fails naming it.
pub const OFFLINE_DEFAULTS: &[(&str, &str)] = &[("GOPROXY", "off"), ("GOTOOLCHAIN", "local+path")];

/// Parses `--go-env` arguments on top of the offline defaults.
pub fn go_env_overrides(args: &[String]) -> Result<BTreeMap<String, String>, BuildError> {
    let mut env: BTreeMap<String, String> =
        OFFLINE_DEFAULTS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    for arg in args {
        let (k, v) = arg.split_once('=').ok_or_else(|| BuildError::GoEnv(arg.clone()))?;
        let key_ok = !k.is_empty() && k.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok || v.bytes().any(|b| b.is_ascii_control()) {
            return Err(BuildError::GoEnv(arg.clone()));
        }
        env.insert(k.to_string(), v.to_string());
    }
    Ok(env)
}

/// Rewrites a `go.env` file: values of keys in `set` replace the shipped ones in place, keys not
/// present are appended. Returns the new text and every KEY=VALUE it then defines.
pub fn rewrite_go_env(original: &str, set: &BTreeMap<String, String>) -> (String, BTreeMap<String, String>) {
    let mut out = String::new();
    let mut done = BTreeSet::new();
    let mut all = BTreeMap::new();
    for line in original.lines() {
        let key = line.split_once('=').map(|(k, _)| k.trim()).filter(|k| !k.starts_with('#') && !k.is_empty());
        match key.and_then(|k| set.get_key_value(k)) {
            Some((k, v)) => {
                out.push_str(&format!("{k}={v}\n"));
                done.insert(k.clone());
                all.insert(k.clone(), v.clone());
            }
            None => {
                out.push_str(line);
                out.push('\n');
                if let Some((k, v)) = line.split_once('=').filter(|(k, _)| !k.trim_start().starts_with('#')) {
                    all.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
        }
    }
    let missing: Vec<_> = set.iter().filter(|(k, _)| !done.contains(*k)).collect();
    if !missing.is_empty() {
        out.push_str(
            "\n# Offline defaults set by go-offline-builder. The environment and 'go env -w' override them.\n",
        );
        for (k, v) in missing {
            out.push_str(&format!("{k}={v}\n"));
            all.insert(k.clone(), v.clone());
        }
    }
    (out, all)
}

/// Writes the offline defaults and `overrides` into the tree's `go.env`, so they are signed and
/// listed like every other file; returns every setting it holds.
pub(crate) fn offline_go_env(tree: &mut Tree, overrides: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let original_env = tree.file("go.env").map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    let (go_env_text, go_env) = rewrite_go_env(&original_env, overrides);
    tree.nodes.insert("go.env".into(), Node::File { mode: 0o644, data: go_env_text.into_bytes() });
    go_env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_env_keeps_comments_and_sumdb() {
        let shipped = "# comment\nGOPROXY=https://mirror.example,direct\nGOSUMDB=sum.example\n\nGOTOOLCHAIN=auto\n";
        let set = go_env_overrides(&["GOFLAGS=-mod=mod".into()]).unwrap();
        let (text, all) = rewrite_go_env(shipped, &set);
        assert_eq!(
            text,
            "# comment\nGOPROXY=off\nGOSUMDB=sum.example\n\nGOTOOLCHAIN=local+path\n\n# Offline defaults set by go-offline-builder. The environment and 'go env -w' override them.\nGOFLAGS=-mod=mod\n"
        );
        assert_eq!(all.get("GOSUMDB").map(String::as_str), Some("sum.example"));
        assert_eq!(all.get("GOPROXY").map(String::as_str), Some("off"));
        assert!(go_env_overrides(&["lower=x".into()]).is_err());
        assert!(go_env_overrides(&["NOEQUALS".into()]).is_err());
    }
}
