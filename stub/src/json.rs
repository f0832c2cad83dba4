//! The one JSON object `--json` prints for every command: `schema`, `ok`, `action`, `changed`,
//! `error` (`null`, or `{code, kind, message}`), `warnings` when there are any, and the
//! command's own fields (its report).

use installer::{outcome::Outcome, Error};
use serde_json::{json, Map, Value};

use crate::render;

/// Version of the `--json` result schema. Bumped only for incompatible changes.
pub const SCHEMA: u32 = 1;

/// The object for a command that ran (verify-installed's drift is `ok: false` with its error).
pub fn outcome(o: &Outcome) -> Value {
    let mut fields = match serde_json::to_value(&o.report) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let failure = o.failure();
    fields.insert("schema".into(), json!(SCHEMA));
    fields.insert("ok".into(), json!(failure.is_none()));
    fields.insert("action".into(), json!(o.action.name()));
    fields.insert("changed".into(), json!(o.changed));
    fields.insert("error".into(), failure.as_ref().map_or(Value::Null, error));
    if !o.warnings.is_empty() {
        let warnings: Vec<String> = o.warnings.iter().map(render::warning).collect();
        fields.insert("warnings".into(), json!(warnings));
    }
    Value::Object(fields)
}

/// The object for a command that failed.
pub fn failed(action: &str, code: i32, kind: &str, message: &str) -> Value {
    json!({
        "schema": SCHEMA,
        "ok": false,
        "action": action,
        "changed": false,
        "error": { "code": code, "kind": kind, "message": message },
    })
}

fn error(e: &Error) -> Value {
    json!({ "code": e.exit_code(), "kind": e.kind(), "message": render::error(e) })
}
