//! What the CLI prints: human tables (comfy-table) or, with `--json`, one stable JSON document per
//! line on standard output. Progress spinners go to standard error and only on a terminal.

use std::io::Write as _;
use std::time::Duration;

use anyhow::Result;
use coffer_client::{LoginOutcome, Status};
use coffer_proto::api::{
    AuditEntry, DeviceInfo, InviteInfo, MemberInfo, SessionInfo, WorkspaceInfo,
};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::json;

/// The output mode.
pub(crate) struct Out {
    json: bool,
}

/// A spinner on standard error (hidden when standard error is not a terminal).
pub(crate) fn spinner(msg: &'static str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}…") {
        pb.set_style(style);
    }
    pb.set_message(msg);
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

pub(crate) fn time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !header.is_empty() {
        t.set_header(header.iter().copied());
    }
    t
}

impl Out {
    pub(crate) fn new(json: bool) -> Self {
        Self { json }
    }

    fn print_json<T: Serialize + ?Sized>(&self, v: &T) -> Result<()> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, v)?;
        writeln!(out)?;
        out.flush()?;
        Ok(())
    }

    fn print(&self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")?;
        out.flush()?;
        Ok(())
    }

    /// A result: `value` as JSON, or `text`.
    pub(crate) fn message<T: Serialize + ?Sized>(&self, value: &T, text: &str) -> Result<()> {
        if self.json {
            self.print_json(value)
        } else {
            self.print(text)
        }
    }

    pub(crate) fn login(&self, o: &LoginOutcome, verb: &str) -> Result<()> {
        if self.json {
            return self.print_json(o);
        }
        let mut text = format!(
            "{verb} as {} (profile \"{}\")\n  device   {} ({})\n  session  expires {}\n  \
             fingerprint: {}",
            o.email,
            o.profile,
            o.device_id,
            o.device_state,
            time(o.expires_at),
            o.fingerprint
        );
        if o.device_state == coffer_proto::DeviceState::Pending {
            text.push_str(
                "\nThis device is pending approval: run `coffer device approve` on one of your \
                 trusted devices, then `coffer device code` here, and type that code there.",
            );
        }
        self.print(&text)
    }

    pub(crate) fn status(&self, s: &Status) -> Result<()> {
        if self.json {
            return self.print_json(s);
        }
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        let mut t = table(&[]);
        t.add_row(vec!["profile".to_owned(), s.profile.clone()]);
        t.add_row(vec!["server".to_owned(), opt(s.server.clone())]);
        t.add_row(vec!["email".to_owned(), opt(s.email.clone())]);
        t.add_row(vec![
            "user".to_owned(),
            opt(s.user_id.map(|u| u.to_string())),
        ]);
        t.add_row(vec![
            "device".to_owned(),
            opt(s.device_id.map(|u| u.to_string())),
        ]);
        t.add_row(vec!["logged in".to_owned(), s.logged_in.to_string()]);
        t.add_row(vec![
            "unlocked".to_owned(),
            if s.unlocked { "yes" } else { "no (locked)" }.to_owned(),
        ]);
        if let Some(sess) = &s.session {
            t.add_row(vec!["session".to_owned(), sess.session_id.to_string()]);
            t.add_row(vec!["expires".to_owned(), time(sess.expires_at)]);
            t.add_row(vec!["mfa enabled".to_owned(), sess.mfa_enabled.to_string()]);
            t.add_row(vec!["mfa pending".to_owned(), sess.mfa_pending.to_string()]);
        }
        self.print(&t.to_string())
    }

    pub(crate) fn otpauth(&self, uri: &str) -> Result<()> {
        if self.json {
            return self.print_json(&json!({ "otpauth_uri": uri }));
        }
        let qr = qrcode::QrCode::new(uri.as_bytes())
            .map(|c| {
                c.render::<qrcode::render::unicode::Dense1x2>()
                    .dark_color(qrcode::render::unicode::Dense1x2::Light)
                    .light_color(qrcode::render::unicode::Dense1x2::Dark)
                    .quiet_zone(true)
                    .build()
            })
            .unwrap_or_default();
        self.print(&format!(
            "Scan this QR code with your authenticator app, or enter the URI by hand:\n\n{qr}\n\
             {uri}\n"
        ))
    }

    pub(crate) fn recovery_codes(&self, codes: &[String]) -> Result<()> {
        if self.json {
            return self.print_json(&json!({ "mfa_enabled": true, "recovery_codes": codes }));
        }
        let mut text = String::from(
            "MFA is on. Recovery codes (each works once; store them now, they are not shown \
             again):\n",
        );
        for c in codes {
            text.push_str("  ");
            text.push_str(c);
            text.push('\n');
        }
        self.print(text.trim_end())
    }

    pub(crate) fn workspaces(&self, v: &[WorkspaceInfo]) -> Result<()> {
        if self.json {
            return self.print_json(v);
        }
        let mut t = table(&["name", "role", "id"]);
        for w in v {
            t.add_row(vec![
                w.name.clone(),
                w.role.to_string(),
                w.workspace_id.to_string(),
            ]);
        }
        self.print(&t.to_string())
    }

    pub(crate) fn members(&self, v: &[MemberInfo], confirmed: &[&str]) -> Result<()> {
        if self.json {
            let rows: Vec<serde_json::Value> = v
                .iter()
                .zip(confirmed)
                .map(|(m, c)| {
                    serde_json::json!({
                        "user_id": m.user_id, "email": m.email, "role": m.role,
                        "joined_at": m.joined_at, "confirmed": c,
                    })
                })
                .collect();
            return self.print_json(&rows);
        }
        let mut t = table(&["email", "role", "confirmed", "joined", "user id"]);
        for (m, c) in v.iter().zip(confirmed) {
            t.add_row(vec![
                m.email.clone(),
                m.role.to_string(),
                (*c).to_owned(),
                time(m.joined_at),
                m.user_id.to_string(),
            ]);
        }
        self.print(&t.to_string())
    }

    pub(crate) fn invites(&self, v: &[InviteInfo]) -> Result<()> {
        if self.json {
            return self.print_json(v);
        }
        let mut t = table(&["workspace", "role", "invited by", "invite id"]);
        for i in v {
            t.add_row(vec![
                i.workspace_name.clone(),
                i.role.to_string(),
                i.invited_by.clone(),
                i.invite_id.to_string(),
            ]);
        }
        self.print(&t.to_string())
    }

    pub(crate) fn devices(&self, v: &[DeviceInfo]) -> Result<()> {
        if self.json {
            return self.print_json(v);
        }
        let mut t = table(&["id", "name", "state", "created", "last seen", ""]);
        for d in v {
            t.add_row(vec![
                d.device_id.to_string(),
                d.name.clone(),
                d.state.to_string(),
                time(d.created_at),
                time(d.last_seen_at),
                if d.current { "this device" } else { "" }.to_owned(),
            ]);
        }
        self.print(&t.to_string())
    }

    pub(crate) fn sessions(&self, v: &[SessionInfo]) -> Result<()> {
        if self.json {
            return self.print_json(v);
        }
        let mut t = table(&["id", "device", "created", "last used", "expires", ""]);
        for s in v {
            t.add_row(vec![
                s.session_id.to_string(),
                s.device_id.to_string(),
                time(s.created_at),
                time(s.last_used_at),
                time(s.expires_at),
                if s.current { "this session" } else { "" }.to_owned(),
            ]);
        }
        self.print(&t.to_string())
    }

    pub(crate) fn audit(&self, v: &[AuditEntry]) -> Result<()> {
        if self.json {
            return self.print_json(v);
        }
        let mut t = table(&["seq", "time", "action", "actor", "target", "details"]);
        for e in v {
            t.add_row(vec![
                e.seq.to_string(),
                time(e.time),
                e.action.clone(),
                e.actor_user_id.map(|u| u.to_string()).unwrap_or_default(),
                e.target.clone(),
                e.details.clone(),
            ]);
        }
        self.print(&t.to_string())
    }
}
