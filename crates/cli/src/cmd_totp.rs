//! `coffer totp ITEM`: the current TOTP code of an item and the seconds it stays valid
//! (`--at` fixes the time for scripts and tests). Works from the cache when offline.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use coffer_client::Client;
use coffer_crypto::otp::Totp;
use serde_json::json;

use crate::output::Out;
use crate::view;

#[derive(Debug, Args)]
pub(crate) struct TotpArgs {
    /// The item (id, name or unique prefix).
    item: String,
    /// The vault.
    #[arg(long, value_name = "VAULT")]
    vault: Option<String>,
    /// Compute the code at this Unix time (seconds) instead of now.
    #[arg(long, value_name = "UNIX_SECONDS")]
    at: Option<u64>,
}

/// Runs `coffer totp`.
pub(crate) async fn run(out: &Out, client: &mut Client, a: TotpArgs) -> Result<()> {
    let item = client.item_get(&a.item, a.vault.as_deref()).await?;
    let Some(uri) = item.data.totp.as_deref() else {
        bail!("the item \"{}\" has no TOTP secret", item.data.name);
    };
    let totp = Totp::from_uri(uri).context("the item's TOTP URI is not valid")?;
    let now = match a.at {
        Some(t) => t,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let code = totp.code_at(now)?;
    let left = totp.seconds_left(now);
    out.message(
        &json!({"code": code, "seconds_left": left, "period": totp.period(), "at": now}),
        &format!("{code} ({left}s left)"),
    )?;
    view::offline_notice(client);
    Ok(())
}
