//! `coffer item …`: create, get, edit, delete, list, history and restore items of every type
//! (login, note, secret, card, identity). Flags map onto `coffer_client::model::ItemData`
//! ([`ItemFlags::apply`]); secrets can come from standard input (`--password -`, `--totp -`,
//! `--body -`) so that they never appear in `argv`. `item get` masks hidden values unless
//! `--reveal`, `--field` or `--json` is given.

use std::io::Read as _;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use coffer_client::model::{Card, CustomField, Identity, ItemData, ItemType};
use coffer_client::{Client, ClientError};
use coffer_crypto::otp::Totp;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cmd_generate::GenerateArgs;
use crate::input::{self, Stdin};
use crate::output::Out;
use crate::view;

/// What stands for a hidden value.
pub(crate) const MASK: &str = "********";

#[derive(Debug, Subcommand)]
pub(crate) enum ItemCommand {
    /// Create an item.
    Create(Box<CreateArgs>),
    /// Show an item (by id, name or unique prefix of either).
    Get(GetArgs),
    /// Change an item: flags set or add values, --remove-* take them away.
    Edit(Box<EditArgs>),
    /// Delete an item (its history stays until the vault is deleted).
    Delete {
        /// The item (id, name or unique prefix).
        item: String,
        /// The vault (when the item name is not unique across vaults).
        #[arg(long, value_name = "VAULT")]
        vault: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// List items (all vaults, or one), optionally filtered by a search text.
    List {
        /// Only this vault.
        #[arg(long, value_name = "VAULT")]
        vault: Option<String>,
        /// Case-insensitive text matched against name, username, URLs and tags.
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
    },
    /// Share one item alone, read-only, with a member of the vault's workspace (they need not be
    /// in the vault; their identity must be confirmed). Managers of the vault only.
    Share {
        /// The item (id, name or unique prefix).
        item: String,
        /// The vault (when the item name is not unique across vaults).
        #[arg(long, value_name = "VAULT")]
        vault: Option<String>,
        /// The member's email.
        #[arg(long, value_name = "EMAIL")]
        user: String,
    },
    /// Stop sharing one item with a member (the vault's key rotates at the next sync of a
    /// manager, giving the item a fresh key).
    Unshare {
        /// The item (id, name or unique prefix).
        item: String,
        /// The vault.
        #[arg(long, value_name = "VAULT")]
        vault: Option<String>,
        /// The member's email.
        #[arg(long, value_name = "EMAIL")]
        user: String,
    },
    /// Items shared with you alone (`coffer item get NAME` shows one).
    Shared,
    /// An item's revisions, newest first.
    History {
        /// The item.
        item: String,
        /// The vault.
        #[arg(long, value_name = "VAULT")]
        vault: Option<String>,
    },
    /// Make an old revision the current one (a new revision with its content).
    Restore {
        /// The item.
        item: String,
        /// The revision to bring back.
        #[arg(long, value_name = "N")]
        revision: u64,
        /// The vault.
        #[arg(long, value_name = "VAULT")]
        vault: Option<String>,
    },
}

/// Values of an item, shared by `create` and `edit`.
#[derive(Debug, Args)]
pub(crate) struct ItemFlags {
    /// Username (logins).
    #[arg(long, value_name = "U")]
    username: Option<String>,
    /// Password; `-` reads it from standard input (keeps it out of the process list).
    #[arg(long, value_name = "P", conflicts_with = "generate")]
    password: Option<String>,
    /// Generate the password (see the generator options below).
    #[arg(long)]
    generate: bool,
    /// A URL (repeatable).
    #[arg(long = "url", value_name = "URL")]
    urls: Vec<String>,
    /// TOTP: an otpauth://totp/ URI or a bare base32 secret; `-` reads it from standard input.
    #[arg(long, value_name = "URI-OR-SECRET")]
    totp: Option<String>,
    /// A one-time backup code (repeatable).
    #[arg(long = "backup-code", value_name = "CODE")]
    backup_codes: Vec<String>,
    /// Notes (free text).
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// The secret of a `secret` item; `-` reads all of standard input.
    #[arg(long, value_name = "TEXT")]
    body: Option<String>,
    /// A custom field `name=value` (repeatable).
    #[arg(long = "field", value_name = "NAME=VALUE")]
    fields: Vec<String>,
    /// A hidden custom field `name=value` (repeatable).
    #[arg(long = "hidden-field", value_name = "NAME=VALUE")]
    hidden_fields: Vec<String>,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Card number.
    #[arg(long, value_name = "NUMBER", help_heading = "Card")]
    card_number: Option<String>,
    /// Name on the card.
    #[arg(long, value_name = "NAME", help_heading = "Card")]
    card_holder: Option<String>,
    /// Card expiry (e.g. 12/29).
    #[arg(long, value_name = "MM/YY", help_heading = "Card")]
    card_expiry: Option<String>,
    /// Card security code.
    #[arg(long, value_name = "CVV", help_heading = "Card")]
    card_cvv: Option<String>,
    /// Card brand.
    #[arg(long, value_name = "BRAND", help_heading = "Card")]
    card_brand: Option<String>,
    /// Full name.
    #[arg(long, value_name = "NAME", help_heading = "Identity")]
    full_name: Option<String>,
    /// E-mail address.
    #[arg(long, value_name = "EMAIL", help_heading = "Identity")]
    email: Option<String>,
    /// Phone number.
    #[arg(long, value_name = "PHONE", help_heading = "Identity")]
    phone: Option<String>,
    /// Postal address.
    #[arg(long, value_name = "ADDRESS", help_heading = "Identity")]
    address: Option<String>,
    /// Company.
    #[arg(long, value_name = "COMPANY", help_heading = "Identity")]
    company: Option<String>,
    #[command(flatten, next_help_heading = "Generator (with --generate)")]
    gen_opts: GenerateArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The vault (name, id or unique prefix).
    #[arg(long, value_name = "VAULT")]
    vault: String,
    /// The item type: login, note, secret, card or identity.
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_type)]
    item_type: ItemType,
    /// The item's name.
    #[arg(long, value_name = "NAME")]
    name: String,
    #[command(flatten)]
    flags: ItemFlags,
}

#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// The item (id, name or unique prefix).
    item: String,
    /// The vault.
    #[arg(long, value_name = "VAULT")]
    vault: Option<String>,
    /// Print only this field's raw value (password, username, url, totp, notes, body, urls,
    /// tags, backup_codes, card.number, identity.email, a custom field's name, …).
    #[arg(long, value_name = "FIELD")]
    field: Option<String>,
    /// Show hidden values.
    #[arg(long)]
    reveal: bool,
}

#[derive(Debug, Args)]
pub(crate) struct EditArgs {
    /// The item (id, name or unique prefix).
    item: String,
    /// The vault.
    #[arg(long, value_name = "VAULT")]
    vault: Option<String>,
    /// A new name.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    #[command(flatten)]
    flags: ItemFlags,
    /// Remove a URL (repeatable).
    #[arg(long = "remove-url", value_name = "URL")]
    remove_urls: Vec<String>,
    /// Remove a custom field by name (repeatable).
    #[arg(long = "remove-field", value_name = "NAME")]
    remove_fields: Vec<String>,
    /// Remove a tag (repeatable).
    #[arg(long = "remove-tag", value_name = "TAG")]
    remove_tags: Vec<String>,
    /// Remove a backup code (repeatable).
    #[arg(long = "remove-backup-code", value_name = "CODE")]
    remove_backup_codes: Vec<String>,
    /// Remove the TOTP secret.
    #[arg(long, conflicts_with = "totp")]
    remove_totp: bool,
    /// Refuse (a conflict, nothing written) unless the item is still at revision N: for
    /// scripts that read an item, then edit it.
    #[arg(long, value_name = "N")]
    if_revision: Option<u64>,
}

fn parse_type(s: &str) -> std::result::Result<ItemType, String> {
    s.parse::<ItemType>().map_err(|e| e.to_string())
}

/// Splits `name=value`.
fn split_field(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => bail!("a field is given as NAME=VALUE (got a value without a name or '=')"),
    }
}

/// A TOTP given as an `otpauth://totp/` URI or a bare base32 secret, checked and written as a
/// full URI (the item's name becomes the issuer of a bare secret when it can).
pub(crate) fn normalize_totp(value: &str, item_name: &str) -> Result<Zeroizing<String>> {
    let value = value.trim();
    let is_uri = value
        .get(..10)
        .is_some_and(|p| p.eq_ignore_ascii_case("otpauth://"));
    let totp = if is_uri {
        Totp::from_uri(value).context("the TOTP URI is not valid")?
    } else {
        let bare = || {
            Totp::from_secret_base32(value)
                .context("the TOTP value is neither an otpauth://totp/ URI nor a base32 secret")
        };
        bare()?.with_issuer(item_name).or_else(|_| bare())?
    };
    Ok(totp.to_uri())
}

fn push_unique(list: &mut Vec<String>, v: String) {
    if !list.contains(&v) {
        list.push(v);
    }
}

impl ItemFlags {
    /// Sets what the flags give on `d`: scalar values replace, URLs, tags, backup codes and
    /// custom fields are added (a field of the same name is replaced).
    fn apply(&self, d: &mut ItemData, stdin: &mut Stdin) -> Result<Option<f64>> {
        let mut strength = None;
        if let Some(u) = &self.username {
            d.username = Some(u.clone());
        }
        if self.generate {
            let (pw, bits) = self.gen_opts.generate()?;
            d.password = Some(pw.as_str().to_owned());
            strength = Some(bits);
        } else if let Some(p) = &self.password {
            d.password = Some(if p == "-" {
                input::password(stdin, true)?.expose_secret().to_owned()
            } else {
                p.clone()
            });
        }
        for u in &self.urls {
            push_unique(&mut d.urls, u.clone());
        }
        if let Some(t) = &self.totp {
            let raw = if t == "-" {
                Zeroizing::new(input::code(stdin, true, "")?)
            } else {
                Zeroizing::new(t.clone())
            };
            d.totp = Some(normalize_totp(&raw, &d.name)?.as_str().to_owned());
        }
        for c in &self.backup_codes {
            push_unique(&mut d.backup_codes, c.clone());
        }
        if let Some(n) = &self.note {
            d.notes = Some(n.clone());
        }
        if let Some(b) = &self.body {
            d.body = Some(if b == "-" {
                let mut all = Zeroizing::new(String::new());
                std::io::stdin()
                    .lock()
                    .read_to_string(&mut all)
                    .context("cannot read the body from standard input")?;
                while all.ends_with('\n') || all.ends_with('\r') {
                    all.pop();
                }
                all.as_str().to_owned()
            } else {
                b.clone()
            });
        }
        for (list, hidden) in [(&self.fields, false), (&self.hidden_fields, true)] {
            for f in list {
                let (name, value) = split_field(f)?;
                match d.fields.iter_mut().find(|x| x.name == name) {
                    Some(x) => {
                        x.value = value;
                        x.hidden = hidden;
                    }
                    None => d.fields.push(CustomField {
                        name,
                        value,
                        hidden,
                    }),
                }
            }
        }
        for t in &self.tags {
            push_unique(&mut d.tags, t.clone());
        }
        let card_given = [
            &self.card_number,
            &self.card_holder,
            &self.card_expiry,
            &self.card_cvv,
            &self.card_brand,
        ]
        .iter()
        .any(|v| v.is_some());
        if card_given {
            let card = d.card.get_or_insert_with(Card::default);
            let set = |slot: &mut Option<String>, v: &Option<String>| {
                if let Some(v) = v {
                    *slot = Some(v.clone());
                }
            };
            set(&mut card.number, &self.card_number);
            set(&mut card.cardholder, &self.card_holder);
            set(&mut card.expiry, &self.card_expiry);
            set(&mut card.cvv, &self.card_cvv);
            set(&mut card.brand, &self.card_brand);
        }
        let identity_given = [
            &self.full_name,
            &self.email,
            &self.phone,
            &self.address,
            &self.company,
        ]
        .iter()
        .any(|v| v.is_some());
        if identity_given {
            let id = d.identity.get_or_insert_with(Identity::default);
            let set = |slot: &mut Option<String>, v: &Option<String>| {
                if let Some(v) = v {
                    *slot = Some(v.clone());
                }
            };
            set(&mut id.full_name, &self.full_name);
            set(&mut id.email, &self.email);
            set(&mut id.phone, &self.phone);
            set(&mut id.address, &self.address);
            set(&mut id.company, &self.company);
        }
        Ok(strength)
    }

    /// Refuses flags that make no sense for the item type.
    fn check_type(&self, t: ItemType) -> Result<()> {
        let card = self.card_number.is_some()
            || self.card_holder.is_some()
            || self.card_expiry.is_some()
            || self.card_cvv.is_some()
            || self.card_brand.is_some();
        let identity = self.full_name.is_some()
            || self.email.is_some()
            || self.phone.is_some()
            || self.address.is_some()
            || self.company.is_some();
        if card && t != ItemType::Card {
            bail!("--card-* options are for card items, not {t}");
        }
        if identity && t != ItemType::Identity {
            bail!(
                "--full-name/--email/--phone/--address/--company are for identity items, not {t}"
            );
        }
        Ok(())
    }
}

/// Builds the item of `coffer item create`.
pub(crate) fn item_from_create(
    a: &CreateArgs,
    stdin: &mut Stdin,
) -> Result<(ItemData, Option<f64>)> {
    if a.name.trim().is_empty() {
        bail!("an item needs a name (--name)");
    }
    a.flags.check_type(a.item_type)?;
    let mut d = ItemData::new(a.item_type, a.name.clone());
    let bits = a.flags.apply(&mut d, stdin)?;
    d.validate()?;
    Ok((d, bits))
}

/// Applies `coffer item edit` flags to a copy of the current item.
pub(crate) fn apply_edit(a: &EditArgs, d: &mut ItemData, stdin: &mut Stdin) -> Result<Option<f64>> {
    a.flags.check_type(d.item_type)?;
    if let Some(n) = &a.name {
        if n.trim().is_empty() {
            bail!("an item needs a name");
        }
        d.name = n.clone();
    }
    let bits = a.flags.apply(d, stdin)?;
    for u in &a.remove_urls {
        let before = d.urls.len();
        d.urls.retain(|x| x != u);
        if d.urls.len() == before {
            bail!("the item has no URL {u:?}");
        }
    }
    for f in &a.remove_fields {
        let before = d.fields.len();
        d.fields.retain(|x| &x.name != f);
        if d.fields.len() == before {
            bail!("the item has no custom field {f:?}");
        }
    }
    for t in &a.remove_tags {
        let before = d.tags.len();
        d.tags.retain(|x| x != t);
        if d.tags.len() == before {
            bail!("the item has no tag {t:?}");
        }
    }
    for c in &a.remove_backup_codes {
        let before = d.backup_codes.len();
        d.backup_codes.retain(|x| x != c);
        if d.backup_codes.len() == before {
            bail!("the item has no such backup code");
        }
    }
    if a.remove_totp {
        d.totp = None;
    }
    d.validate()?;
    Ok(bits)
}

/// The whole item as JSON, every value revealed (for `--json` and scripts).
pub(crate) fn item_json(d: &ItemData) -> Result<Value> {
    let mut o: Value = serde_json::from_slice(&d.overview_json()?)?;
    let det: Value = serde_json::from_slice(&d.details_json()?)?;
    if let (Some(o), Value::Object(det)) = (o.as_object_mut(), det) {
        for (k, mut v) in det {
            if k == "attachments"
                && let Some(list) = v.as_array_mut()
            {
                for a in list.iter_mut().filter_map(Value::as_object_mut) {
                    a.remove("key");
                }
            }
            o.insert(k, v);
        }
    }
    Ok(o)
}

/// `(label, value, hidden)` rows of an item for `item get`.
pub(crate) fn item_rows(d: &ItemData) -> Vec<(String, String, bool)> {
    let mut rows: Vec<(String, String, bool)> = Vec::new();
    let mut put = |k: &str, v: &str, hidden: bool| rows.push((k.to_owned(), v.to_owned(), hidden));
    put("type", d.item_type.as_str(), false);
    put("name", &d.name, false);
    if let Some(u) = &d.username {
        put("username", u, false);
    }
    if let Some(p) = &d.password {
        put("password", p, true);
    }
    for u in &d.urls {
        put("url", u, false);
    }
    if let Some(t) = &d.totp {
        put("totp", t, true);
    }
    for c in &d.backup_codes {
        put("backup code", c, true);
    }
    if let Some(b) = &d.body {
        put("body", b, true);
    }
    if let Some(c) = &d.card {
        let fields = [
            ("card holder", &c.cardholder, false),
            ("card number", &c.number, true),
            ("card expiry", &c.expiry, false),
            ("card cvv", &c.cvv, true),
            ("card brand", &c.brand, false),
        ];
        for (k, v, h) in fields {
            if let Some(v) = v {
                put(k, v, h);
            }
        }
    }
    if let Some(i) = &d.identity {
        let fields = [
            ("full name", &i.full_name),
            ("email", &i.email),
            ("phone", &i.phone),
            ("address", &i.address),
            ("company", &i.company),
            ("job title", &i.job_title),
            ("birth date", &i.birth_date),
            ("passport", &i.passport_number),
            ("licence", &i.license_number),
            ("national id", &i.national_id),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                put(k, v, matches!(k, "passport" | "licence" | "national id"));
            }
        }
    }
    for f in &d.fields {
        put(&format!("field {}", f.name), &f.value, f.hidden);
    }
    if !d.tags.is_empty() {
        put("tags", &d.tags.join(", "), false);
    }
    if let Some(n) = &d.notes {
        put("notes", n, false);
    }
    for a in &d.attachments {
        put(
            "attachment",
            &format!("{} ({} bytes)", a.name, a.size),
            false,
        );
    }
    put("created", &view::time(d.created_at), false);
    put("updated", &view::time(d.updated_at), false);
    rows
}

/// Asks `question` on the terminal; refuses without a terminal (scripts pass `--yes`).
pub(crate) fn confirm(question: &str, yes: bool) -> Result<()> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question}: refusing without a terminal to confirm on; pass --yes");
    }
    let mut err = std::io::stderr().lock();
    write!(err, "{question} [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        bail!("cancelled")
    }
}

/// Runs an `item` command.
pub(crate) async fn run(
    out: &Out,
    json: bool,
    stdin: &mut Stdin,
    client: &mut Client,
    cmd: ItemCommand,
) -> Result<()> {
    match cmd {
        ItemCommand::Create(a) => {
            let (data, bits) = item_from_create(&a, stdin)?;
            let item = client.item_create(&a.vault, data).await?;
            let text = match bits {
                Some(b) => format!(
                    "created {} \"{}\" ({}, generated password of {b:.0} bits)",
                    item.data.item_type, item.data.name, item.id
                ),
                None => format!(
                    "created {} \"{}\" ({})",
                    item.data.item_type, item.data.name, item.id
                ),
            };
            out.message(
                &view::meta_json(&item.id.to_string(), item.revision, &item.data),
                &text,
            )?;
        }
        ItemCommand::Get(a) => {
            let item = match client.item_get(&a.item, a.vault.as_deref()).await {
                // not in a vault of yours: perhaps an item shared with you alone
                Err(ClientError::NotFound { kind: "item", .. }) if a.vault.is_none() => {
                    client.shared_item(&a.item).await?
                }
                r => r?,
            };
            if let Some(f) = &a.field {
                match item.data.field(f) {
                    Some(v) => {
                        let v = Zeroizing::new(v);
                        out.message(&json!({ "field": f, "value": v.as_str() }), &v)?;
                    }
                    None => bail!("the item \"{}\" has no field {f:?}", item.data.name),
                }
            } else if json {
                let mut v = item_json(&item.data)?;
                if let Some(o) = v.as_object_mut() {
                    o.insert("id".into(), json!(item.id.to_string()));
                    o.insert("revision".into(), json!(item.revision));
                    o.insert("vault_id".into(), json!(item.vault_id.to_string()));
                }
                out.message(&v, "")?;
            } else {
                let mut rows = item_rows(&item.data);
                rows.push(("id".into(), item.id.to_string(), false));
                rows.push(("revision".into(), item.revision.to_string(), false));
                view::print_rows(&rows, a.reveal)?;
            }
            view::offline_notice(client);
        }
        ItemCommand::Edit(a) => {
            let current = client.item_get(&a.item, a.vault.as_deref()).await?;
            if let Some(expected) = a.if_revision
                && expected != current.revision
            {
                return Err(ClientError::Conflict(format!(
                    "item \"{}\" ({}) changed since revision {expected}: the server has revision \
                     {}; nothing was written",
                    current.data.name, current.id, current.revision
                ))
                .into());
            }
            let mut data = current.data.clone();
            let bits = apply_edit(&a, &mut data, stdin)?;
            if data == current.data {
                bail!("nothing to change: give the values to set");
            }
            let id = current.id.to_string();
            let item = client.item_update(&id, a.vault.as_deref(), data).await?;
            let mut text = format!(
                "updated \"{}\" (revision {})",
                item.data.name, item.revision
            );
            if let Some(b) = bits {
                text.push_str(&format!(", generated password of {b:.0} bits"));
            }
            out.message(
                &view::meta_json(&item.id.to_string(), item.revision, &item.data),
                &text,
            )?;
        }
        ItemCommand::Delete { item, vault, yes } => {
            let current = client.item_get(&item, vault.as_deref()).await?;
            confirm(&format!("delete item \"{}\"?", current.data.name), yes)?;
            let id = current.id.to_string();
            client.item_delete(&id, vault.as_deref()).await?;
            out.message(
                &json!({"deleted": id, "name": current.data.name}),
                &format!("deleted \"{}\"", current.data.name),
            )?;
        }
        ItemCommand::List { vault, search } => {
            let items = client.items(vault.as_deref(), search.as_deref()).await?;
            view::item_list(out, json, &items)?;
            view::offline_notice(client);
        }
        ItemCommand::Share { item, vault, user } => {
            let r = client.item_share(&item, vault.as_deref(), &user).await?;
            out.message(
                &json!({"item": item, "user_id": r.user_id, "devices": r.devices,
                        "grants": r.grants}),
                &format!(
                    "shared \"{item}\" with {user} ({} device(s), read-only)",
                    r.devices
                ),
            )?;
        }
        ItemCommand::Unshare { item, vault, user } => {
            let u = client.item_unshare(&item, vault.as_deref(), &user).await?;
            out.message(
                &json!({"item": item, "user_id": u, "unshared": true}),
                &format!(
                    "\"{item}\" is no longer shared with {user}; the vault's key rotates at \
                     the next sync of a manager"
                ),
            )?;
        }
        ItemCommand::Shared => {
            let items = client.shared_items().await?;
            let rows: Vec<serde_json::Value> = items
                .iter()
                .map(|i| view::meta_json(&i.id.to_string(), i.revision, &i.data))
                .collect();
            let text = items
                .iter()
                .map(|i| format!("{}  {}  {}", i.data.name, i.data.item_type, i.id))
                .collect::<Vec<_>>()
                .join("\n");
            out.message(
                &serde_json::Value::Array(rows),
                if text.is_empty() {
                    "no items are shared with you alone"
                } else {
                    &text
                },
            )?;
        }
        ItemCommand::History { item, vault } => {
            let h = client.item_history(&item, vault.as_deref()).await?;
            view::history(out, json, &h)?;
            view::offline_notice(client);
        }
        ItemCommand::Restore {
            item,
            revision,
            vault,
        } => {
            let restored = client
                .item_restore(&item, vault.as_deref(), revision)
                .await?;
            out.message(
                &view::meta_json(&restored.id.to_string(), restored.revision, &restored.data),
                &format!(
                    "restored \"{}\" from revision {revision} (now revision {})",
                    restored.data.name, restored.revision
                ),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn bare_secret_becomes_a_uri() {
        let uri = normalize_totp("gezd gnbv gy3t qojq gezdgnbvgy3tqojq", "Acme").unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{}", uri.as_str());
        let t = Totp::from_uri(&uri).unwrap();
        assert_eq!(t.code_at(59).unwrap(), "287082");
        assert_eq!(t.issuer(), Some("Acme"));
        // a name with a colon cannot be an issuer: the URI has none
        let uri = normalize_totp("GEZDGNBVGY3TQOJQ", "a:b").unwrap();
        assert_eq!(Totp::from_uri(&uri).unwrap().issuer(), None);
        let eight = normalize_totp(
            "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8",
            "x",
        )
        .unwrap();
        assert_eq!(
            Totp::from_uri(&eight).unwrap().code_at(59).unwrap(),
            "94287082"
        );
        assert!(normalize_totp("not base32 !!", "x").is_err());
        assert!(normalize_totp("otpauth://hotp/x?secret=GEZDGNBV&counter=1", "x").is_err());
    }

    #[test]
    fn field_split() {
        assert_eq!(
            split_field("pin=12=34").unwrap(),
            ("pin".to_owned(), "12=34".to_owned())
        );
        assert!(split_field("=x").is_err());
        assert!(split_field("novalue").is_err());
    }
}
