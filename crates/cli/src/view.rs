//! How the vault, item, history and attachment commands print: key/value tables with hidden
//! values masked, lists as tables (or `--json`), progress bars for attachments, and the SDK's
//! offline notice on standard error after a read served from the cache.

use std::io::{IsTerminal as _, Write as _};

use anyhow::Result;
use coffer_client::model::ItemData;
use coffer_client::{Client, HistoryEntry, ItemSummary, SyncReport, VaultSummary};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::{Value, json};

use crate::cmd_item::MASK;
use crate::output::Out;

/// A Unix time as RFC 3339 (or the number when out of range).
pub(crate) fn time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// A table in the style of the other commands.
pub(crate) fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !header.is_empty() {
        t.set_header(header.iter().copied());
    }
    t
}

fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

/// Prints `(label, value, hidden)` rows, hidden values masked unless `reveal`.
pub(crate) fn print_rows(rows: &[(String, String, bool)], reveal: bool) -> Result<()> {
    let mut t = table(&[]);
    for (k, v, hidden) in rows {
        let shown = if *hidden && !reveal {
            MASK.to_owned()
        } else {
            v.clone()
        };
        t.add_row(vec![k.clone(), shown]);
    }
    print(&t.to_string())
}

/// Prints the SDK's notice (reads served from the cache while the server is unreachable) on
/// standard error.
pub(crate) fn offline_notice(client: &Client) {
    if let Some(n) = client.offline_notice() {
        eprintln!("{n}");
    }
}

/// The string form of a JSON value for a table cell.
fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| cell(Some(x)))
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}

/// Prints a list of serialisable rows: their JSON array, or a table of `columns`
/// (`(header, json key)`; keys ending in `_at` are shown as times).
pub(crate) fn list<T: Serialize>(
    out: &Out,
    json: bool,
    rows: &[T],
    columns: &[(&str, &str)],
) -> Result<()> {
    let values: Vec<Value> = rows
        .iter()
        .map(serde_json::to_value)
        .collect::<std::result::Result<_, _>>()?;
    if json {
        return out.message(&values, "");
    }
    let header: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    let mut t = table(&header);
    for v in &values {
        t.add_row(
            columns
                .iter()
                .map(|(_, key)| match v.get(key) {
                    Some(Value::Number(n)) if key.ends_with("_at") => {
                        n.as_i64().map_or_else(|| n.to_string(), time)
                    }
                    other => cell(other),
                })
                .collect::<Vec<_>>(),
        );
    }
    print(&t.to_string())
}

/// A progress bar on standard error for `total` bytes, hidden unless standard error is a
/// terminal.
pub(crate) fn bytes_bar(total: u64, msg: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(
        Some(total),
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(msg.to_owned());
    pb
}

/// A short JSON of an item without its values: id, revision, type, name.
pub(crate) fn meta_json(id: &str, revision: u64, d: &ItemData) -> Value {
    json!({
        "id": id,
        "revision": revision,
        "type": d.item_type,
        "name": d.name,
    })
}

/// A vault as JSON.
pub(crate) fn vault_json(v: &VaultSummary) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "description": v.description,
        "workspace_id": v.workspace_id,
        "role": v.role,
        "items": v.items,
        "epoch": v.epoch,
    })
}

/// `coffer vault list`.
pub(crate) fn vault_list(out: &Out, json: bool, vaults: &[VaultSummary]) -> Result<()> {
    let rows: Vec<Value> = vaults.iter().map(vault_json).collect();
    list(
        out,
        json,
        &rows,
        &[
            ("name", "name"),
            ("items", "items"),
            ("role", "role"),
            ("workspace", "workspace_id"),
            ("description", "description"),
            ("id", "id"),
        ],
    )
}

/// A listed item as JSON (overview values only: no secret).
pub(crate) fn item_summary_json(i: &ItemSummary) -> Value {
    json!({
        "id": i.id,
        "vault_id": i.vault_id,
        "vault": i.vault_name,
        "type": i.item_type,
        "name": i.name,
        "username": i.username,
        "urls": i.urls,
        "tags": i.tags,
        "revision": i.revision,
        "updated_at": i.updated_at,
    })
}

/// `coffer item list`.
pub(crate) fn item_list(out: &Out, json: bool, items: &[ItemSummary]) -> Result<()> {
    let rows: Vec<Value> = items.iter().map(item_summary_json).collect();
    list(
        out,
        json,
        &rows,
        &[
            ("name", "name"),
            ("type", "type"),
            ("username", "username"),
            ("vault", "vault"),
            ("updated", "updated_at"),
            ("id", "id"),
        ],
    )
}

/// `coffer item history`: the revisions, newest first; `--json` includes each revision's
/// values (for scripts), the table only their overview.
pub(crate) fn history(out: &Out, json: bool, entries: &[HistoryEntry]) -> Result<()> {
    if json {
        let v = entries
            .iter()
            .map(|e| {
                Ok(json!({
                    "revision": e.revision,
                    "deleted": e.deleted,
                    "created_at": e.created_at,
                    "data": match &e.data {
                        Some(d) => crate::cmd_item::item_json(d)?,
                        None => Value::Null,
                    },
                }))
            })
            .collect::<Result<Vec<Value>>>()?;
        return out.message(&v, "");
    }
    let mut t = table(&["revision", "written", "name", "username", ""]);
    for e in entries {
        let (name, user) = match &e.data {
            Some(d) => (d.name.clone(), d.username.clone().unwrap_or_default()),
            None => (String::new(), String::new()),
        };
        t.add_row(vec![
            e.revision.to_string(),
            time(e.created_at),
            name,
            user,
            if e.deleted { "deleted" } else { "" }.to_owned(),
        ]);
    }
    print(&t.to_string())
}

/// `coffer sync`: what changed.
pub(crate) fn sync_report(out: &Out, r: &SyncReport) -> Result<()> {
    for n in &r.notices {
        eprintln!("note: {n}");
    }
    let mut text = format!(
        "synced: {} vault(s), {} item change(s), {} bytes",
        r.vaults, r.items_changed, r.bytes
    );
    if !r.rotated.is_empty() {
        text.push_str(&format!("; rotated {} vault key(s)", r.rotated.len()));
    }
    if r.replicated > 0 {
        text.push_str(&format!(
            "; issued {} grant(s) to members' devices",
            r.replicated
        ));
    }
    out.message(
        &json!({"vaults": r.vaults, "items_changed": r.items_changed, "bytes": r.bytes,
                "rotated": r.rotated, "replicated": r.replicated}),
        &text,
    )
}
