//! The item model: what a login, note, secret, card or identity holds, and how it is split into
//! the two sealed fields of an item (`docs/protocol.md` §15.1): `o`, the **overview** (type,
//! name, username, URLs, tags, timestamps: what search and lists need) and `d`, the
//! **details** (everything else: password, TOTP URI, backup codes, notes, body, custom fields,
//! card, identity, attachments).
//!
//! Both are JSON objects. Unknown keys are rejected with a clear error (an item written by a
//! newer client is refused rather than silently losing data on the next edit). Every string a
//! user typed is zeroized when the [`ItemData`] is dropped (a [`Card`], [`Identity`] or
//! [`CustomField`] on its own is zeroized by `zeroize()` only, so that struct-update syntax works
//! on them), and `Debug` shows no value.

use std::fmt;
use std::str::FromStr;

use coffer_proto::api::B64;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{ClientError, Result};

/// Name of the overview field of a sealed item.
pub const OVERVIEW_FIELD: &str = "o";
/// Name of the details field of a sealed item.
pub const DETAILS_FIELD: &str = "d";
/// Name of the one field of a vault record.
pub const VAULT_RECORD_FIELD: &str = "v";

/// The kind of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemType {
    /// Username, password, URLs, TOTP.
    Login,
    /// Free text.
    Note,
    /// One secret value (API key, token) in `body`.
    Secret,
    /// A payment card.
    Card,
    /// A person's identity details.
    Identity,
}

impl ItemType {
    /// Every item type.
    pub const ALL: [ItemType; 5] = [
        ItemType::Login,
        ItemType::Note,
        ItemType::Secret,
        ItemType::Card,
        ItemType::Identity,
    ];

    /// The stable string form.
    pub const fn as_str(self) -> &'static str {
        match self {
            ItemType::Login => "login",
            ItemType::Note => "note",
            ItemType::Secret => "secret",
            ItemType::Card => "card",
            ItemType::Identity => "identity",
        }
    }
}

impl fmt::Display for ItemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ItemType {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Self> {
        ItemType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                ClientError::Invalid(format!(
                    "unknown item type {:?}: expected one of login, note, secret, card, identity",
                    s.chars().take(64).collect::<String>()
                ))
            })
    }
}

/// A user-defined field.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize, Zeroize)]
#[serde(deny_unknown_fields)]
pub struct CustomField {
    /// Its name (unique within the item by convention).
    pub name: String,
    /// Its value.
    pub value: String,
    /// Whether lists and `get` hide the value unless asked.
    #[serde(default)]
    pub hidden: bool,
}

impl fmt::Debug for CustomField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomField")
            .field("name", &"<redacted>")
            .field("value", &"<redacted>")
            .field("hidden", &self.hidden)
            .finish()
    }
}

/// A payment card.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize, Zeroize)]
#[serde(deny_unknown_fields)]
pub struct Card {
    /// Name on the card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cardholder: Option<String>,
    /// Card number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// Expiry, as typed (e.g. `12/29`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
    /// Security code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvv: Option<String>,
    /// Brand (Visa, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
}

impl Card {
    /// The names `ItemData::field` accepts after `card.`.
    pub const FIELDS: [&'static str; 5] = ["cardholder", "number", "expiry", "cvv", "brand"];

    fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "cardholder" => &mut self.cardholder,
            "number" => &mut self.number,
            "expiry" => &mut self.expiry,
            "cvv" => &mut self.cvv,
            "brand" => &mut self.brand,
            _ => return None,
        })
    }

    fn get(&self, name: &str) -> Option<&Option<String>> {
        Some(match name {
            "cardholder" => &self.cardholder,
            "number" => &self.number,
            "expiry" => &self.expiry,
            "cvv" => &self.cvv,
            "brand" => &self.brand,
            _ => return None,
        })
    }
}

impl fmt::Debug for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Card(<redacted>)")
    }
}

/// A person's identity details.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize, Zeroize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Postal address (free text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Job title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    /// Birth date, as typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    /// Passport number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passport_number: Option<String>,
    /// Driving licence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_number: Option<String>,
    /// National identification number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub national_id: Option<String>,
}

impl Identity {
    /// The names `ItemData::field` accepts after `identity.`.
    pub const FIELDS: [&'static str; 10] = [
        "full_name",
        "email",
        "phone",
        "address",
        "company",
        "job_title",
        "birth_date",
        "passport_number",
        "license_number",
        "national_id",
    ];

    fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "full_name" => &mut self.full_name,
            "email" => &mut self.email,
            "phone" => &mut self.phone,
            "address" => &mut self.address,
            "company" => &mut self.company,
            "job_title" => &mut self.job_title,
            "birth_date" => &mut self.birth_date,
            "passport_number" => &mut self.passport_number,
            "license_number" => &mut self.license_number,
            "national_id" => &mut self.national_id,
            _ => return None,
        })
    }

    fn get(&self, name: &str) -> Option<&Option<String>> {
        Some(match name {
            "full_name" => &self.full_name,
            "email" => &self.email,
            "phone" => &self.phone,
            "address" => &self.address,
            "company" => &self.company,
            "job_title" => &self.job_title,
            "birth_date" => &self.birth_date,
            "passport_number" => &self.passport_number,
            "license_number" => &self.license_number,
            "national_id" => &self.national_id,
            _ => return None,
        })
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identity(<redacted>)")
    }
}

/// An attachment listed in an item's details (protocol.md §16).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRef {
    /// Client-chosen UUID (the attachment id in the stream context and the URL).
    pub id: String,
    /// File name as the user gave it.
    pub name: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// The file key wrapped by the item's attachment wrap key.
    pub key: B64,
}

impl fmt::Debug for AttachmentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentRef")
            .field("id", &self.id)
            .field("name", &"<redacted>")
            .field("size", &self.size)
            .finish()
    }
}

impl Drop for AttachmentRef {
    fn drop(&mut self) {
        self.name.zeroize();
    }
}

/// Everything one item holds, decrypted.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ItemData {
    /// The kind of item.
    #[zeroize(skip)]
    pub item_type: ItemType,
    /// Its name (shown in lists, searched).
    pub name: String,
    /// Username (logins).
    pub username: Option<String>,
    /// Password (logins).
    pub password: Option<String>,
    /// URLs (logins), the first is the main one.
    pub urls: Vec<String>,
    /// TOTP secret as an `otpauth://` URI.
    pub totp: Option<String>,
    /// One-time backup codes.
    pub backup_codes: Vec<String>,
    /// Free-text notes (every type).
    pub notes: Option<String>,
    /// The secret text of a `secret` item.
    pub body: Option<String>,
    /// User-defined fields.
    pub fields: Vec<CustomField>,
    /// Tags (searched).
    pub tags: Vec<String>,
    /// Card details (`card` items).
    pub card: Option<Card>,
    /// Identity details (`identity` items).
    pub identity: Option<Identity>,
    /// Attachments.
    #[zeroize(skip)]
    pub attachments: Vec<AttachmentRef>,
    /// Unix seconds, writing client's clock.
    pub created_at: i64,
    /// Unix seconds, writing client's clock.
    pub updated_at: i64,
}

impl fmt::Debug for ItemData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemData")
            .field("item_type", &self.item_type)
            .field("name", &"<redacted>")
            .field("fields", &self.fields.len())
            .field("urls", &self.urls.len())
            .field("attachments", &self.attachments.len())
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// The overview part of an item (field `o`), also what the local cache keeps for search.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct Overview {
    /// Item type.
    #[serde(rename = "type")]
    #[zeroize(skip)]
    pub item_type: ItemType,
    /// Name.
    pub name: String,
    /// Username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl fmt::Debug for Overview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Overview")
            .field("item_type", &self.item_type)
            .finish_non_exhaustive()
    }
}

impl Overview {
    /// Case-insensitive match of `needle` (already lower-cased) against name, username, URLs
    /// and tags.
    pub fn matches(&self, needle_lower: &str) -> bool {
        let hit = |s: &str| s.to_lowercase().contains(needle_lower);
        hit(&self.name)
            || self.username.as_deref().is_some_and(hit)
            || self.urls.iter().any(|u| hit(u))
            || self.tags.iter().any(|t| hit(t))
    }

    /// Parses the overview field's JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| ClientError::Invalid(format!("item overview (field o) is malformed: {e}")))
    }
}

#[derive(Serialize)]
struct DetailsOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    password: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    totp: &'a Option<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    backup_codes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: &'a Option<String>,
    #[serde(skip_serializing_if = "<[CustomField]>::is_empty")]
    fields: &'a [CustomField],
    #[serde(skip_serializing_if = "Option::is_none")]
    card: &'a Option<Card>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: &'a Option<Identity>,
    #[serde(skip_serializing_if = "<[AttachmentRef]>::is_empty")]
    attachments: &'a [AttachmentRef],
}

#[derive(Serialize)]
struct OverviewOut<'a> {
    #[serde(rename = "type")]
    item_type: ItemType,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: &'a Option<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    urls: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
    created_at: i64,
    updated_at: i64,
}

#[derive(Deserialize, Default, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct DetailsIn {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    totp: Option<String>,
    #[serde(default)]
    backup_codes: Vec<String>,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    fields: Vec<CustomField>,
    #[serde(default)]
    card: Option<Card>,
    #[serde(default)]
    identity: Option<Identity>,
    #[serde(default)]
    #[zeroize(skip)]
    attachments: Vec<AttachmentRef>,
}

impl ItemData {
    /// An empty item of a type with a name; both timestamps are now.
    pub fn new(item_type: ItemType, name: impl Into<String>) -> Self {
        let now = now_unix();
        ItemData {
            item_type,
            name: name.into(),
            username: None,
            password: None,
            urls: Vec::new(),
            totp: None,
            backup_codes: Vec::new(),
            notes: None,
            body: None,
            fields: Vec::new(),
            tags: Vec::new(),
            card: None,
            identity: None,
            attachments: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// The value of a named field: `name`, `type`, `username`, `password`, `totp` (the URI),
    /// `notes`, `body`, `url` (the first URL), `urls` and `tags` and `backup_codes` (one per
    /// line), `card.<cardholder|number|expiry|cvv|brand>`, `identity.<full_name|email|…>`,
    /// else a custom field of that name. `None` when unset or unknown.
    pub fn field(&self, name: &str) -> Option<String> {
        let joined = |v: &[String]| (!v.is_empty()).then(|| v.join("\n"));
        match name {
            "name" => Some(self.name.clone()),
            "type" => Some(self.item_type.as_str().to_owned()),
            "username" => self.username.clone(),
            "password" => self.password.clone(),
            "totp" => self.totp.clone(),
            "notes" => self.notes.clone(),
            "body" => self.body.clone(),
            "url" => self.urls.first().cloned(),
            "urls" => joined(&self.urls),
            "tags" => joined(&self.tags),
            "backup_codes" => joined(&self.backup_codes),
            _ => {
                if let Some(sub) = name.strip_prefix("card.")
                    && let Some(card) = &self.card
                    && let Some(v) = card.get(sub)
                {
                    return v.clone();
                }
                if let Some(sub) = name.strip_prefix("identity.")
                    && let Some(id) = &self.identity
                    && let Some(v) = id.get(sub)
                {
                    return v.clone();
                }
                self.fields
                    .iter()
                    .find(|f| f.name == name)
                    .map(|f| f.value.clone())
            }
        }
    }

    /// Sets (or with `None` clears) a named field, with the names [`ItemData::field`] reads
    /// (`url` replaces the first URL; `urls`, `tags` and `backup_codes` take one value per
    /// line). Any other name sets a custom field (created hidden when `hidden`). `type` cannot
    /// be set.
    pub fn set_field(&mut self, name: &str, value: Option<String>, hidden: bool) -> Result<()> {
        let lines = |v: Option<String>| -> Vec<String> {
            v.map(|s| {
                s.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
        };
        match name {
            "type" => {
                return Err(ClientError::Invalid(
                    "the type of an item cannot be changed".into(),
                ));
            }
            "name" => match value {
                Some(v) if !v.trim().is_empty() => self.name = v,
                _ => return Err(ClientError::Invalid("an item needs a name".into())),
            },
            "username" => self.username = value,
            "password" => self.password = value,
            "totp" => self.totp = value,
            "notes" => self.notes = value,
            "body" => self.body = value,
            "url" => match value {
                Some(v) if self.urls.is_empty() => self.urls.push(v),
                Some(v) => self.urls[0] = v,
                None if !self.urls.is_empty() => {
                    self.urls.remove(0);
                }
                None => {}
            },
            "urls" => self.urls = lines(value),
            "tags" => self.tags = lines(value),
            "backup_codes" => self.backup_codes = lines(value),
            _ => {
                if let Some(sub) = name.strip_prefix("card.") {
                    let card = self.card.get_or_insert_with(Card::default);
                    let slot = card.slot(sub).ok_or_else(|| {
                        ClientError::Invalid(format!(
                            "unknown card field {sub:?}: expected one of {}",
                            Card::FIELDS.join(", ")
                        ))
                    })?;
                    *slot = value;
                    return Ok(());
                }
                if let Some(sub) = name.strip_prefix("identity.") {
                    let id = self.identity.get_or_insert_with(Identity::default);
                    let slot = id.slot(sub).ok_or_else(|| {
                        ClientError::Invalid(format!(
                            "unknown identity field {sub:?}: expected one of {}",
                            Identity::FIELDS.join(", ")
                        ))
                    })?;
                    *slot = value;
                    return Ok(());
                }
                if name.is_empty() {
                    return Err(ClientError::Invalid("a field needs a name".into()));
                }
                match (value, self.fields.iter().position(|f| f.name == name)) {
                    (Some(v), Some(i)) => self.fields[i].value = v,
                    (Some(v), None) => self.fields.push(CustomField {
                        name: name.to_owned(),
                        value: v,
                        hidden,
                    }),
                    (None, Some(i)) => {
                        self.fields.remove(i);
                    }
                    (None, None) => {}
                }
            }
        }
        Ok(())
    }

    /// Checks what every item needs: a non-empty name, custom field names non-empty.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(ClientError::Invalid("an item needs a name".into()));
        }
        if self.fields.iter().any(|f| f.name.is_empty()) {
            return Err(ClientError::Invalid("a custom field needs a name".into()));
        }
        Ok(())
    }

    /// The overview of this item (what field `o` holds).
    pub fn overview(&self) -> Overview {
        Overview {
            item_type: self.item_type,
            name: self.name.clone(),
            username: self.username.clone(),
            urls: self.urls.clone(),
            tags: self.tags.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The JSON of the overview field `o`.
    pub fn overview_json(&self) -> Result<Zeroizing<Vec<u8>>> {
        let o = OverviewOut {
            item_type: self.item_type,
            name: &self.name,
            username: &self.username,
            urls: &self.urls,
            tags: &self.tags,
            created_at: self.created_at,
            updated_at: self.updated_at,
        };
        serde_json::to_vec(&o)
            .map(Zeroizing::new)
            .map_err(|e| ClientError::Invalid(format!("cannot encode item overview: {e}")))
    }

    /// The JSON of the details field `d`.
    pub fn details_json(&self) -> Result<Zeroizing<Vec<u8>>> {
        let d = DetailsOut {
            password: &self.password,
            totp: &self.totp,
            backup_codes: &self.backup_codes,
            notes: &self.notes,
            body: &self.body,
            fields: &self.fields,
            card: &self.card,
            identity: &self.identity,
            attachments: &self.attachments,
        };
        serde_json::to_vec(&d)
            .map(Zeroizing::new)
            .map_err(|e| ClientError::Invalid(format!("cannot encode item details: {e}")))
    }

    /// The two sealed fields of the item, `[("d", details), ("o", overview)]`.
    pub fn to_fields(&self) -> Result<Vec<(String, Zeroizing<Vec<u8>>)>> {
        Ok(vec![
            (DETAILS_FIELD.to_owned(), self.details_json()?),
            (OVERVIEW_FIELD.to_owned(), self.overview_json()?),
        ])
    }

    /// Rebuilds an item from its overview and details JSON.
    pub fn from_json_parts(overview: &[u8], details: &[u8]) -> Result<Self> {
        let o = Overview::from_json(overview)?;
        let mut d: DetailsIn = serde_json::from_slice(details).map_err(|e| {
            ClientError::Invalid(format!("item details (field d) are malformed: {e}"))
        })?;
        Ok(ItemData {
            item_type: o.item_type,
            name: o.name.clone(),
            username: o.username.clone(),
            urls: o.urls.clone(),
            tags: o.tags.clone(),
            created_at: o.created_at,
            updated_at: o.updated_at,
            password: d.password.take(),
            totp: d.totp.take(),
            backup_codes: std::mem::take(&mut d.backup_codes),
            notes: d.notes.take(),
            body: d.body.take(),
            fields: std::mem::take(&mut d.fields),
            card: d.card.take(),
            identity: d.identity.take(),
            attachments: std::mem::take(&mut d.attachments),
        })
    }

    /// Rebuilds an item from the opened fields of a sealed item (exactly `d` and `o`).
    pub fn from_fields(fields: &[(String, Zeroizing<Vec<u8>>)]) -> Result<Self> {
        let get = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v);
        if let Some((extra, _)) = fields
            .iter()
            .find(|(k, _)| k != OVERVIEW_FIELD && k != DETAILS_FIELD)
        {
            return Err(ClientError::Invalid(format!(
                "item has an unknown field {:?} (written by a newer client?)",
                extra.chars().take(64).collect::<String>()
            )));
        }
        match (get(OVERVIEW_FIELD), get(DETAILS_FIELD)) {
            (Some(o), Some(d)) => Self::from_json_parts(o, d),
            _ => Err(ClientError::Invalid(
                "item lacks its overview or details field".into(),
            )),
        }
    }
}

/// The content of a vault record (field `v` of item [`coffer_proto::vault::VAULT_RECORD_ITEM`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultRecord {
    /// Vault name.
    pub name: String,
    /// Optional description.
    #[serde(default)]
    pub description: Option<String>,
}

impl fmt::Debug for VaultRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VaultRecord(<redacted>)")
    }
}

impl VaultRecord {
    /// JSON form.
    pub fn to_json(&self) -> Result<Zeroizing<Vec<u8>>> {
        serde_json::to_vec(self)
            .map(Zeroizing::new)
            .map_err(|e| ClientError::Invalid(format!("cannot encode vault record: {e}")))
    }

    /// Parses the JSON form.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| ClientError::Invalid(format!("vault record is malformed: {e}")))
    }
}

/// Current Unix time in seconds.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_login() -> ItemData {
        let mut d = ItemData::new(ItemType::Login, "GitHub");
        d.username = Some("octo".into());
        d.password = Some("hunter2-secret".into());
        d.urls = vec!["https://github.com".into(), "https://gh.io".into()];
        d.totp = Some("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP".into());
        d.backup_codes = vec!["a1".into(), "b2".into()];
        d.notes = Some("note".into());
        d.fields = vec![CustomField {
            name: "pin".into(),
            value: "1234".into(),
            hidden: true,
        }];
        d.tags = vec!["work".into()];
        d.attachments = vec![AttachmentRef {
            id: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
            name: "a.txt".into(),
            size: 3,
            key: B64(vec![1, 2, 3]),
        }];
        d
    }

    #[test]
    fn split_and_merge_round_trip_every_type() {
        for t in ItemType::ALL {
            let mut d = full_login();
            d.item_type = t;
            d.card = Some(Card {
                number: Some("4111".into()),
                cvv: Some("123".into()),
                ..Card::default()
            });
            d.identity = Some(Identity {
                email: Some("a@b".into()),
                ..Identity::default()
            });
            d.body = Some("sk_live".into());
            let fields = d.to_fields().unwrap();
            let back = ItemData::from_fields(&fields).unwrap();
            assert_eq!(back, d);
            assert_eq!(t.to_string().parse::<ItemType>().unwrap(), t);
        }
    }

    #[test]
    fn overview_holds_no_secret_and_details_no_name() {
        let d = full_login();
        let o = String::from_utf8(d.overview_json().unwrap().to_vec()).unwrap();
        assert!(o.contains("GitHub") && o.contains("octo") && o.contains("\"type\":\"login\""));
        assert!(!o.contains("hunter2") && !o.contains("JBSWY3DP") && !o.contains("1234"));
        let det = String::from_utf8(d.details_json().unwrap().to_vec()).unwrap();
        assert!(det.contains("hunter2") && !det.contains("GitHub") && !det.contains("octo"));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let d = full_login();
        let o = d.overview_json().unwrap();
        let err = ItemData::from_json_parts(&o, br#"{"password":"x","future":1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = ItemData::from_json_parts(br#"{"type":"login","name":"x"}"#, b"{}").unwrap_err();
        assert!(err.to_string().contains("overview"), "{err}");
        let err = ItemData::from_json_parts(
            br#"{"type":"boat","name":"x","created_at":0,"updated_at":0}"#,
            b"{}",
        )
        .unwrap_err();
        assert!(err.to_string().contains("overview"), "{err}");
        let mut fields = d.to_fields().unwrap();
        fields.push(("z".into(), Zeroizing::new(b"1".to_vec())));
        assert!(ItemData::from_fields(&fields).is_err());
        assert!(ItemData::from_fields(&fields[..1]).is_err());
        assert!("Login".parse::<ItemType>().is_err());
    }

    #[test]
    fn field_lookup_and_set() {
        let mut d = full_login();
        assert_eq!(d.field("password").as_deref(), Some("hunter2-secret"));
        assert_eq!(d.field("url").as_deref(), Some("https://github.com"));
        assert_eq!(d.field("pin").as_deref(), Some("1234"));
        assert_eq!(d.field("card.number"), None);
        assert_eq!(d.field("nope"), None);
        d.set_field("card.number", Some("4242".into()), false)
            .unwrap();
        assert_eq!(d.field("card.number").as_deref(), Some("4242"));
        d.set_field("identity.email", Some("x@y".into()), false)
            .unwrap();
        assert_eq!(d.field("identity.email").as_deref(), Some("x@y"));
        assert!(
            d.set_field("card.colour", Some("red".into()), false)
                .is_err()
        );
        assert!(d.set_field("type", Some("note".into()), false).is_err());
        d.set_field("pin", None, false).unwrap();
        assert_eq!(d.field("pin"), None);
        d.set_field("tags", Some("a\nb\n".into()), false).unwrap();
        assert_eq!(d.tags, vec!["a".to_string(), "b".to_string()]);
    }

    #[test]
    fn debug_shows_no_value() {
        let d = full_login();
        let s = format!("{d:?} {:?} {:?}", d.overview(), d.fields[0]);
        for secret in ["hunter2", "GitHub", "octo", "1234", "pin", "a.txt"] {
            assert!(!s.contains(secret), "{s}");
        }
    }

    #[test]
    fn search_matches_case_insensitively() {
        let o = full_login().overview();
        assert!(o.matches("github"));
        assert!(o.matches("gh.io"));
        assert!(o.matches("work"));
        assert!(o.matches("oct"));
        assert!(!o.matches("hunter"));
    }
}
