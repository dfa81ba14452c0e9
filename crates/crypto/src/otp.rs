//! One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238) with SHA-1, SHA-256 or SHA-512, 6 to
//! 8 digits, and the `otpauth://` key URI format of Google Authenticator
//! (<https://github.com/google/google-authenticator/wiki/Key-Uri-Format>), for item TOTP
//! secrets and for MFA enrolment.
//!
//! Parsing is strict and never panics: every bad input is a [`CryptoError::Otp`] that says what
//! is wrong. Secrets live in [`SecretVec`]; [`Totp`] and [`Hotp`] print them as `***` in `Debug`,
//! and anything that contains them in text (the URI, the base32 form) is returned as
//! [`Zeroizing<String>`].
//!
//! URI rules applied: scheme `otpauth` and type `totp`/`hotp` (case-insensitive); label
//! `issuer:account` or `account`, percent-decoded, the separator a literal or encoded colon,
//! spaces before the account ignored, neither part may contain a colon or a control character;
//! `secret` required, base32 in either case, padding and spaces tolerated; `algorithm`
//! `SHA1`/`SHA256`/`SHA512` (default SHA1); `digits` 6–8 (default 6); `period` ≥ 1 (default 30,
//! totp only); `counter` required for hotp; `issuer` must equal the label's issuer when both are
//! present; a parameter may not repeat; unknown parameters (`image`, …) are ignored.

use core::fmt;
use core::fmt::Write as _;

use data_encoding::{BASE32_NOPAD, Encoding};
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use zeroize::Zeroizing;

use crate::error::{CryptoError, Result};
use crate::secret::{SecretBytes, SecretVec};

/// Default TOTP period in seconds.
pub const DEFAULT_PERIOD: u64 = 30;
/// Default number of digits.
pub const DEFAULT_DIGITS: u8 = 6;
/// Longest secret accepted, in bytes.
pub const MAX_SECRET_LEN: usize = 128;
/// Longest `otpauth://` URI accepted, in bytes.
pub const MAX_URI_LEN: usize = 4096;
/// Longest issuer or account name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Length of a secret made by [`generate_secret`] (160 bits, RFC 4226 §4).
pub const GENERATED_SECRET_LEN: usize = 20;

/// Characters left as they are in a URI label or parameter (RFC 3986 unreserved).
const URI_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The HMAC hash of an OTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OtpAlgorithm {
    /// HMAC-SHA-1, the default of RFC 4226 and of most authenticators.
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl OtpAlgorithm {
    /// The name used in `otpauth://` URIs: `SHA1`, `SHA256` or `SHA512`.
    pub fn uri_name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }

    /// Parses a URI name, case-insensitively.
    pub fn from_uri_name(name: &str) -> Result<Self> {
        if name.eq_ignore_ascii_case("SHA1") {
            Ok(Self::Sha1)
        } else if name.eq_ignore_ascii_case("SHA256") {
            Ok(Self::Sha256)
        } else if name.eq_ignore_ascii_case("SHA512") {
            Ok(Self::Sha512)
        } else {
            Err(CryptoError::Otp(
                "unknown algorithm (expected SHA1, SHA256 or SHA512)",
            ))
        }
    }
}

/// HOTP (RFC 4226 §5.3) of `counter`: `digits` (6 to 8) decimal digits, zero-padded.
pub fn hotp(secret: &[u8], counter: u64, digits: u8, alg: OtpAlgorithm) -> Result<String> {
    check_digits(digits)?;
    check_secret_len(secret.len())?;
    let msg = counter.to_be_bytes();
    let mac = match alg {
        OtpAlgorithm::Sha1 => hmac_bytes::<Hmac<Sha1>>(secret, &msg)?,
        OtpAlgorithm::Sha256 => hmac_bytes::<Hmac<Sha256>>(secret, &msg)?,
        OtpAlgorithm::Sha512 => hmac_bytes::<Hmac<Sha512>>(secret, &msg)?,
    };
    // Dynamic truncation: the low 4 bits of the last byte pick 4 bytes; the top bit is dropped.
    let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
    let window = mac
        .get(offset..offset + 4)
        .ok_or(CryptoError::Otp("hmac output too short"))?;
    let bin = u32::from_be_bytes([window[0] & 0x7f, window[1], window[2], window[3]]);
    let code = bin % 10u32.pow(u32::from(digits));
    Ok(format!("{code:0width$}", width = usize::from(digits)))
}

/// A fresh 20-byte (160-bit) OTP secret from the OS CSPRNG, for MFA enrolment.
pub fn generate_secret() -> Result<SecretVec> {
    let bytes = SecretBytes::<GENERATED_SECRET_LEN>::random()?;
    Ok(SecretVec::from_slice(bytes.expose_secret()))
}

/// A TOTP generator (RFC 6238, T0 = 0) with its display names.
#[derive(PartialEq, Eq)]
pub struct Totp {
    secret: SecretVec,
    alg: OtpAlgorithm,
    digits: u8,
    period: u64,
    issuer: Option<String>,
    account: Option<String>,
}

impl Totp {
    /// Checks and wraps the parameters: a secret of 1 to 128 bytes, 6 to 8 digits, a period of at
    /// least one second.
    pub fn new(secret: SecretVec, alg: OtpAlgorithm, digits: u8, period: u64) -> Result<Self> {
        check_secret_len(secret.len())?;
        check_digits(digits)?;
        check_period(period)?;
        Ok(Self {
            secret,
            alg,
            digits,
            period,
            issuer: None,
            account: None,
        })
    }

    /// A bare base32 secret as users paste it (either case, spaces, dashes and `=` padding
    /// tolerated), with the defaults: SHA-1, 6 digits, 30 s.
    pub fn from_secret_base32(secret: &str) -> Result<Self> {
        Self::new(
            decode_base32(secret)?,
            OtpAlgorithm::Sha1,
            DEFAULT_DIGITS,
            DEFAULT_PERIOD,
        )
    }

    /// Parses an `otpauth://totp/…` URI (see the module documentation for the rules). An
    /// `otpauth://hotp/…` URI is refused here; use [`OtpUri::parse`] or [`Hotp::from_uri`].
    pub fn from_uri(uri: &str) -> Result<Self> {
        match OtpUri::parse(uri)? {
            OtpUri::Totp(t) => Ok(t),
            OtpUri::Hotp(_) => Err(CryptoError::Otp(
                "this is an hotp URI, not totp (use OtpUri::parse)",
            )),
        }
    }

    /// The `otpauth://totp/…` URI, with every parameter written out. It contains the secret.
    pub fn to_uri(&self) -> Zeroizing<String> {
        write_uri(
            "totp",
            &self.secret,
            self.alg,
            self.digits,
            ("period", self.period),
            self.issuer.as_deref(),
            self.account.as_deref(),
        )
    }

    /// Sets the issuer (the service name); an empty string clears it. Refuses a colon, a control
    /// character or more than 256 bytes.
    pub fn with_issuer(mut self, issuer: &str) -> Result<Self> {
        self.issuer = check_name(issuer)?;
        Ok(self)
    }

    /// Sets the account name; an empty string clears it. Same rules as
    /// [`with_issuer`](Self::with_issuer).
    pub fn with_account(mut self, account: &str) -> Result<Self> {
        self.account = check_name(account)?;
        Ok(self)
    }

    /// The code for the time step containing `unix_secs`.
    pub fn code_at(&self, unix_secs: u64) -> Result<String> {
        hotp(
            self.secret.expose_secret(),
            unix_secs / self.period,
            self.digits,
            self.alg,
        )
    }

    /// Seconds until the code of `unix_secs` expires: 1 to `period`.
    pub fn seconds_left(&self, unix_secs: u64) -> u64 {
        self.period - unix_secs % self.period
    }

    /// The secret.
    pub fn secret(&self) -> &SecretVec {
        &self.secret
    }

    /// The secret in unpadded upper-case base32, for manual entry in an authenticator.
    pub fn secret_base32(&self) -> Zeroizing<String> {
        encode_base32(&self.secret)
    }

    /// The HMAC hash.
    pub fn algorithm(&self) -> OtpAlgorithm {
        self.alg
    }

    /// Number of digits (6 to 8).
    pub fn digits(&self) -> u8 {
        self.digits
    }

    /// Time step in seconds (at least 1).
    pub fn period(&self) -> u64 {
        self.period
    }

    /// The issuer, if any.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The account name, if any.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }
}

impl fmt::Debug for Totp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Totp")
            .field("secret", &"***")
            .field("alg", &self.alg)
            .field("digits", &self.digits)
            .field("period", &self.period)
            .field("issuer", &self.issuer)
            .field("account", &self.account)
            .finish()
    }
}

/// An HOTP generator (RFC 4226) with its initial counter and display names.
#[derive(PartialEq, Eq)]
pub struct Hotp {
    secret: SecretVec,
    alg: OtpAlgorithm,
    digits: u8,
    counter: u64,
    issuer: Option<String>,
    account: Option<String>,
}

impl Hotp {
    /// Checks and wraps the parameters: a secret of 1 to 128 bytes, 6 to 8 digits.
    pub fn new(secret: SecretVec, alg: OtpAlgorithm, digits: u8, counter: u64) -> Result<Self> {
        check_secret_len(secret.len())?;
        check_digits(digits)?;
        Ok(Self {
            secret,
            alg,
            digits,
            counter,
            issuer: None,
            account: None,
        })
    }

    /// Parses an `otpauth://hotp/…` URI; a totp URI is refused.
    pub fn from_uri(uri: &str) -> Result<Self> {
        match OtpUri::parse(uri)? {
            OtpUri::Hotp(h) => Ok(h),
            OtpUri::Totp(_) => Err(CryptoError::Otp(
                "this is a totp URI, not hotp (use OtpUri::parse)",
            )),
        }
    }

    /// The `otpauth://hotp/…` URI with the current counter. It contains the secret.
    pub fn to_uri(&self) -> Zeroizing<String> {
        write_uri(
            "hotp",
            &self.secret,
            self.alg,
            self.digits,
            ("counter", self.counter),
            self.issuer.as_deref(),
            self.account.as_deref(),
        )
    }

    /// Sets the issuer; same rules as [`Totp::with_issuer`].
    pub fn with_issuer(mut self, issuer: &str) -> Result<Self> {
        self.issuer = check_name(issuer)?;
        Ok(self)
    }

    /// Sets the account name; same rules as [`Totp::with_issuer`].
    pub fn with_account(mut self, account: &str) -> Result<Self> {
        self.account = check_name(account)?;
        Ok(self)
    }

    /// The code for `counter`.
    pub fn code(&self, counter: u64) -> Result<String> {
        hotp(self.secret.expose_secret(), counter, self.digits, self.alg)
    }

    /// The counter given at creation or in the URI.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// The secret.
    pub fn secret(&self) -> &SecretVec {
        &self.secret
    }

    /// The HMAC hash.
    pub fn algorithm(&self) -> OtpAlgorithm {
        self.alg
    }

    /// Number of digits (6 to 8).
    pub fn digits(&self) -> u8 {
        self.digits
    }

    /// The issuer, if any.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The account name, if any.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }
}

impl fmt::Debug for Hotp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hotp")
            .field("secret", &"***")
            .field("alg", &self.alg)
            .field("digits", &self.digits)
            .field("counter", &self.counter)
            .field("issuer", &self.issuer)
            .field("account", &self.account)
            .finish()
    }
}

/// A parsed `otpauth://` URI of either type.
#[derive(Debug, PartialEq, Eq)]
pub enum OtpUri {
    /// `otpauth://totp/…`
    Totp(Totp),
    /// `otpauth://hotp/…`
    Hotp(Hotp),
}

impl OtpUri {
    /// Parses an `otpauth://` URI of either type (rules in the module documentation).
    pub fn parse(uri: &str) -> Result<Self> {
        if uri.len() > MAX_URI_LEN {
            return Err(CryptoError::Otp("URI longer than 4096 bytes"));
        }
        let rest = strip_prefix_ignore_case(uri, "otpauth://")
            .ok_or(CryptoError::Otp("not an otpauth:// URI"))?;
        if rest.contains('#') {
            return Err(CryptoError::Otp("unexpected '#' fragment"));
        }
        let (kind, rest) = rest.split_once('/').ok_or(CryptoError::Otp(
            "missing type and label (otpauth://totp/label?…)",
        ))?;
        let is_totp = if kind.eq_ignore_ascii_case("totp") {
            true
        } else if kind.eq_ignore_ascii_case("hotp") {
            false
        } else {
            return Err(CryptoError::Otp("unknown OTP type (expected totp or hotp)"));
        };
        let (label, query) = rest.split_once('?').ok_or(CryptoError::Otp(
            "missing parameters: the secret is required",
        ))?;
        let (label_issuer, account) = parse_label(label)?;

        let mut p = Params::default();
        for pair in query.split('&').filter(|s| !s.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = if key.eq_ignore_ascii_case("secret") {
                &mut p.secret
            } else if key.eq_ignore_ascii_case("issuer") {
                &mut p.issuer
            } else if key.eq_ignore_ascii_case("algorithm") {
                &mut p.algorithm
            } else if key.eq_ignore_ascii_case("digits") {
                &mut p.digits
            } else if key.eq_ignore_ascii_case("period") {
                &mut p.period
            } else if key.eq_ignore_ascii_case("counter") {
                &mut p.counter
            } else {
                continue;
            };
            if slot.is_some() {
                return Err(CryptoError::Otp("a parameter appears twice"));
            }
            *slot = Some(percent_decode(value)?);
        }

        let secret = match &p.secret {
            Some(s) => decode_base32(s)?,
            None => return Err(CryptoError::Otp("missing secret parameter")),
        };
        let alg = match &p.algorithm {
            Some(a) => OtpAlgorithm::from_uri_name(a)?,
            None => OtpAlgorithm::Sha1,
        };
        let digits = match &p.digits {
            Some(d) => u8::try_from(parse_decimal(d, "digits is not a number")?)
                .map_err(|_| CryptoError::Otp("digits must be 6, 7 or 8"))?,
            None => DEFAULT_DIGITS,
        };
        let param_issuer = match &p.issuer {
            Some(i) => check_name(i)?,
            None => None,
        };
        let issuer = match (label_issuer, param_issuer) {
            (Some(l), Some(q)) if l != q => {
                return Err(CryptoError::Otp(
                    "issuer parameter differs from the label's issuer",
                ));
            }
            (l, q) => q.or(l),
        };

        if is_totp {
            let period = match &p.period {
                Some(s) => parse_decimal(s, "period is not a number")?,
                None => DEFAULT_PERIOD,
            };
            let mut t = Totp::new(secret, alg, digits, period)?;
            t.issuer = issuer;
            t.account = account;
            Ok(Self::Totp(t))
        } else {
            let counter = match &p.counter {
                Some(s) => parse_decimal(s, "counter is not a number")?,
                None => return Err(CryptoError::Otp("missing counter parameter (hotp)")),
            };
            let mut h = Hotp::new(secret, alg, digits, counter)?;
            h.issuer = issuer;
            h.account = account;
            Ok(Self::Hotp(h))
        }
    }
}

/// The raw, percent-decoded values of the known query parameters.
#[derive(Default)]
struct Params {
    secret: Option<Zeroizing<String>>,
    issuer: Option<Zeroizing<String>>,
    algorithm: Option<Zeroizing<String>>,
    digits: Option<Zeroizing<String>>,
    period: Option<Zeroizing<String>>,
    counter: Option<Zeroizing<String>>,
}

fn hmac_bytes<M: Mac + KeyInit>(key: &[u8], msg: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let mut mac = <M as KeyInit>::new_from_slice(key).map_err(|_| CryptoError::Otp("hmac key"))?;
    mac.update(msg);
    Ok(Zeroizing::new(mac.finalize().into_bytes().to_vec()))
}

fn check_digits(digits: u8) -> Result<()> {
    if (6..=8).contains(&digits) {
        Ok(())
    } else {
        Err(CryptoError::Otp("digits must be 6, 7 or 8"))
    }
}

fn check_period(period: u64) -> Result<()> {
    if period == 0 {
        Err(CryptoError::Otp("period must be at least 1 second"))
    } else {
        Ok(())
    }
}

fn check_secret_len(len: usize) -> Result<()> {
    if len == 0 {
        Err(CryptoError::Otp("secret is empty"))
    } else if len > MAX_SECRET_LEN {
        Err(CryptoError::Otp("secret longer than 128 bytes"))
    } else {
        Ok(())
    }
}

/// An issuer or account name: empty means none; no colon, no control character, ≤ 256 bytes.
fn check_name(name: &str) -> Result<Option<String>> {
    if name.is_empty() {
        return Ok(None);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(CryptoError::Otp("issuer or account longer than 256 bytes"));
    }
    if name.contains(':') {
        return Err(CryptoError::Otp("issuer or account contains a colon"));
    }
    if name.chars().any(char::is_control) {
        return Err(CryptoError::Otp(
            "issuer or account contains a control character",
        ));
    }
    Ok(Some(name.to_owned()))
}

/// `issuer:account` or `account`; the colon may be literal or `%3A`, spaces may precede the
/// account.
fn parse_label(label: &str) -> Result<(Option<String>, Option<String>)> {
    let decoded = percent_decode(label)?;
    match decoded.split_once(':') {
        Some((issuer, account)) => Ok((
            check_name(issuer)?,
            check_name(account.trim_start_matches(' '))?,
        )),
        None => Ok((None, check_name(decoded.trim_start_matches(' '))?)),
    }
}

/// Strict percent-decoding: every `%` must start two hex digits, and the result must be UTF-8.
fn percent_decode(s: &str) -> Result<Zeroizing<String>> {
    let bytes = s.as_bytes();
    // Reserved up front: decoding never grows, so no reallocation leaves a copy behind.
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|c| hex_value(*c));
            let lo = bytes.get(i + 2).and_then(|c| hex_value(*c));
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err(CryptoError::Otp("bad percent-encoding")),
            }
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    let text = core::str::from_utf8(&out)
        .map_err(|_| CryptoError::Otp("percent-decoded text is not UTF-8"))?;
    let mut owned = Zeroizing::new(String::with_capacity(text.len()));
    owned.push_str(text);
    Ok(owned)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A decimal number of ASCII digits only (no sign, no spaces), at most `u64::MAX`.
fn parse_decimal(s: &str, msg: &'static str) -> Result<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CryptoError::Otp(msg));
    }
    s.parse::<u64>().map_err(|_| CryptoError::Otp(msg))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Unpadded base32 (RFC 4648) that ignores the unused low bits of the last symbol, as
/// authenticators do.
fn base32_lenient() -> Result<Encoding> {
    let mut spec = BASE32_NOPAD.specification();
    spec.check_trailing_bits = false;
    spec.encoding()
        .map_err(|_| CryptoError::Otp("base32 specification"))
}

fn decode_base32(text: &str) -> Result<SecretVec> {
    let mut clean = Zeroizing::new(String::with_capacity(text.len()));
    for c in text.chars() {
        if c.is_ascii_whitespace() || c == '-' {
            continue;
        }
        clean.push(c.to_ascii_uppercase());
    }
    let symbols = clean.trim_end_matches('=');
    if symbols.is_empty() {
        return Err(CryptoError::Otp("secret is empty"));
    }
    if !symbols
        .bytes()
        .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    {
        return Err(CryptoError::Otp(
            "secret is not base32 (letters A-Z and digits 2-7)",
        ));
    }
    if symbols.len() > MAX_SECRET_LEN * 8 / 5 + 1 {
        return Err(CryptoError::Otp("secret longer than 128 bytes"));
    }
    let bytes = base32_lenient()?
        .decode(symbols.as_bytes())
        .map_err(|_| CryptoError::Otp("secret has an impossible base32 length"))?;
    let secret = SecretVec::new(bytes);
    check_secret_len(secret.len())?;
    Ok(secret)
}

fn encode_base32(secret: &SecretVec) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(BASE32_NOPAD.encode_len(secret.len())));
    BASE32_NOPAD.encode_append(secret.expose_secret(), &mut out);
    out
}

fn write_uri(
    kind: &str,
    secret: &SecretVec,
    alg: OtpAlgorithm,
    digits: u8,
    (last_key, last_value): (&str, u64),
    issuer: Option<&str>,
    account: Option<&str>,
) -> Zeroizing<String> {
    let b32 = encode_base32(secret);
    let names = issuer.map_or(0, str::len) + account.map_or(0, str::len);
    let mut out = Zeroizing::new(String::with_capacity(128 + b32.len() + 6 * names));
    // Writing to a String cannot fail; the results are ignored rather than unwrapped.
    let _ = write!(out, "otpauth://{kind}/");
    if let Some(i) = issuer {
        let _ = write!(out, "{}:", utf8_percent_encode(i, URI_SET));
    }
    if let Some(a) = account {
        let _ = write!(out, "{}", utf8_percent_encode(a, URI_SET));
    }
    out.push_str("?secret=");
    out.push_str(&b32);
    if let Some(i) = issuer {
        let _ = write!(out, "&issuer={}", utf8_percent_encode(i, URI_SET));
    }
    let _ = write!(
        out,
        "&algorithm={}&digits={digits}&{last_key}={last_value}",
        alg.uri_name()
    );
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";
    /// base32 of `RFC_SECRET`.
    const RFC_B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    fn otp_err(r: Result<impl fmt::Debug>) -> &'static str {
        match r {
            Err(CryptoError::Otp(m)) => m,
            other => panic!("expected an Otp error, got {other:?}"),
        }
    }

    #[test]
    fn rfc4226_first_codes() {
        assert_eq!(
            hotp(RFC_SECRET, 0, 6, OtpAlgorithm::Sha1).unwrap(),
            "755224"
        );
        assert_eq!(
            hotp(RFC_SECRET, 9, 6, OtpAlgorithm::Sha1).unwrap(),
            "520489"
        );
        // 7 digits keeps one more digit of the same truncated value (RFC 4226 D: 1284755224).
        assert_eq!(
            hotp(RFC_SECRET, 0, 7, OtpAlgorithm::Sha1).unwrap(),
            "4755224"
        );
    }

    #[test]
    fn hotp_refuses_bad_digits_and_empty_secret() {
        for d in [0, 5, 9, 10] {
            assert_eq!(
                otp_err(hotp(RFC_SECRET, 0, d, OtpAlgorithm::Sha1)),
                "digits must be 6, 7 or 8"
            );
        }
        assert_eq!(
            otp_err(hotp(&[], 0, 6, OtpAlgorithm::Sha1)),
            "secret is empty"
        );
    }

    #[test]
    fn totp_time_steps_and_seconds_left() {
        let t = Totp::new(SecretVec::from_slice(RFC_SECRET), OtpAlgorithm::Sha1, 8, 30).unwrap();
        assert_eq!(t.code_at(59).unwrap(), "94287082");
        assert_eq!(t.code_at(30).unwrap(), t.code_at(59).unwrap());
        assert_ne!(t.code_at(59).unwrap(), t.code_at(60).unwrap());
        assert_eq!(t.seconds_left(59), 1);
        assert_eq!(t.seconds_left(60), 30);
        assert_eq!(t.seconds_left(61), 29);
        let one = Totp::new(SecretVec::from_slice(RFC_SECRET), OtpAlgorithm::Sha1, 6, 1).unwrap();
        assert_eq!(one.seconds_left(12345), 1);
        assert_eq!(
            one.code_at(1).unwrap(),
            hotp(RFC_SECRET, 1, 6, OtpAlgorithm::Sha1).unwrap()
        );
        assert_eq!(
            otp_err(Totp::new(
                SecretVec::from_slice(RFC_SECRET),
                OtpAlgorithm::Sha1,
                6,
                0
            )),
            "period must be at least 1 second"
        );
    }

    #[test]
    fn from_secret_base32_is_lenient_about_presentation() {
        let t = Totp::from_secret_base32("gezd gnbv-gy3t qojq gezd gnbv gy3t qojq").unwrap();
        assert_eq!(t.secret().expose_secret(), RFC_SECRET);
        assert_eq!(
            (t.digits(), t.period(), t.algorithm()),
            (6, 30, OtpAlgorithm::Sha1)
        );
        // Padding is tolerated; "MY" is 1 byte with padding "MY======".
        let p = Totp::from_secret_base32("MY======").unwrap();
        assert_eq!(p.secret().expose_secret(), b"f");
        assert_eq!(otp_err(Totp::from_secret_base32("")), "secret is empty");
        assert_eq!(
            otp_err(Totp::from_secret_base32("ABC1")),
            "secret is not base32 (letters A-Z and digits 2-7)"
        );
        assert_eq!(
            otp_err(Totp::from_secret_base32("ABC")),
            "secret has an impossible base32 length"
        );
        assert_eq!(
            otp_err(Totp::from_secret_base32(&"A".repeat(400))),
            "secret longer than 128 bytes"
        );
    }

    #[test]
    fn parses_full_google_example() {
        let uri = "otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30";
        let t = Totp::from_uri(uri).unwrap();
        assert_eq!(t.issuer(), Some("ACME Co"));
        assert_eq!(t.account(), Some("john.doe@email.com"));
        assert_eq!(
            t.secret_base32().as_str(),
            "HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ"
        );
        assert_eq!(
            (t.digits(), t.period(), t.algorithm()),
            (6, 30, OtpAlgorithm::Sha1)
        );
    }

    #[test]
    fn parses_variants() {
        // Encoded colon, spaces before the account, lower-case secret, defaults.
        let t = Totp::from_uri(&format!(
            "OTPAUTH://TOTP/Example%3A%20%20alice?secret={}",
            RFC_B32.to_lowercase()
        ))
        .unwrap();
        assert_eq!((t.issuer(), t.account()), (Some("Example"), Some("alice")));
        assert_eq!(t.secret().expose_secret(), RFC_SECRET);
        // Issuer only as a parameter; unknown parameters ignored; other algorithm and digits.
        let t = Totp::from_uri(&format!(
            "otpauth://totp/bob?issuer=Corp&secret={RFC_B32}&image=https%3A%2F%2Fx&algorithm=sha512&digits=8&period=60&"
        ))
        .unwrap();
        assert_eq!((t.issuer(), t.account()), (Some("Corp"), Some("bob")));
        assert_eq!(
            (t.algorithm(), t.digits(), t.period()),
            (OtpAlgorithm::Sha512, 8, 60)
        );
        // Empty label.
        let t = Totp::from_uri(&format!("otpauth://totp/?secret={RFC_B32}")).unwrap();
        assert_eq!((t.issuer(), t.account()), (None, None));
        // HOTP.
        let h = Hotp::from_uri(&format!("otpauth://hotp/x?secret={RFC_B32}&counter=5")).unwrap();
        assert_eq!(h.counter(), 5);
        assert_eq!(h.code(5).unwrap(), "254676");
        assert!(matches!(
            OtpUri::parse(&format!("otpauth://hotp/x?secret={RFC_B32}&counter=0")).unwrap(),
            OtpUri::Hotp(_)
        ));
    }

    #[test]
    fn hostile_uris_are_clear_errors() {
        let s = RFC_B32;
        let cases: Vec<(String, &str)> = vec![
            (
                format!("https://totp/x?secret={s}"),
                "not an otpauth:// URI",
            ),
            (
                format!("otpauth:/totp/x?secret={s}"),
                "not an otpauth:// URI",
            ),
            ("otpauth:".into(), "not an otpauth:// URI"),
            (
                format!("otpauth://totp?secret={s}"),
                "missing type and label (otpauth://totp/label?…)",
            ),
            (
                format!("otpauth://motp/x?secret={s}"),
                "unknown OTP type (expected totp or hotp)",
            ),
            (
                "otpauth://totp/x".into(),
                "missing parameters: the secret is required",
            ),
            (
                "otpauth://totp/x?issuer=A".into(),
                "missing secret parameter",
            ),
            ("otpauth://totp/x?secret=".into(), "secret is empty"),
            (
                "otpauth://totp/x?secret=AB!D".into(),
                "secret is not base32 (letters A-Z and digits 2-7)",
            ),
            (
                format!("otpauth://totp/x?secret={s}&digits=5"),
                "digits must be 6, 7 or 8",
            ),
            (
                format!("otpauth://totp/x?secret={s}&digits=9"),
                "digits must be 6, 7 or 8",
            ),
            (
                format!("otpauth://totp/x?secret={s}&digits=300"),
                "digits must be 6, 7 or 8",
            ),
            (
                format!("otpauth://totp/x?secret={s}&digits=%2B6"),
                "digits is not a number",
            ),
            (
                format!("otpauth://totp/x?secret={s}&digits="),
                "digits is not a number",
            ),
            (
                format!("otpauth://totp/x?secret={s}&period=0"),
                "period must be at least 1 second",
            ),
            (
                format!("otpauth://totp/x?secret={s}&period=-30"),
                "period is not a number",
            ),
            (
                format!("otpauth://totp/x?secret={s}&period=99999999999999999999999"),
                "period is not a number",
            ),
            (
                format!("otpauth://totp/x?secret={s}&algorithm=MD5"),
                "unknown algorithm (expected SHA1, SHA256 or SHA512)",
            ),
            (
                format!("otpauth://totp/x%zz?secret={s}"),
                "bad percent-encoding",
            ),
            (
                format!("otpauth://totp/x%4?secret={s}"),
                "bad percent-encoding",
            ),
            (
                format!("otpauth://totp/x?secret={s}&issuer=%"),
                "bad percent-encoding",
            ),
            (
                format!("otpauth://totp/x%FF?secret={s}"),
                "percent-decoded text is not UTF-8",
            ),
            (
                format!("otpauth://totp/x%0A?secret={s}"),
                "issuer or account contains a control character",
            ),
            (
                format!("otpauth://totp/A:b:c?secret={s}"),
                "issuer or account contains a colon",
            ),
            (
                format!("otpauth://totp/A:b?secret={s}&issuer=B"),
                "issuer parameter differs from the label's issuer",
            ),
            (
                format!("otpauth://totp/x?secret={s}&secret={s}"),
                "a parameter appears twice",
            ),
            (
                format!("otpauth://totp/x?secret={s}#frag"),
                "unexpected '#' fragment",
            ),
            (
                format!("otpauth://hotp/x?secret={s}"),
                "missing counter parameter (hotp)",
            ),
            (
                format!("otpauth://hotp/x?secret={s}&counter=x"),
                "counter is not a number",
            ),
            (
                format!("otpauth://totp/{}?secret={s}", "a".repeat(5000)),
                "URI longer than 4096 bytes",
            ),
        ];
        for (uri, msg) in cases {
            assert_eq!(otp_err(OtpUri::parse(&uri)), msg, "{uri}");
        }
        assert_eq!(
            otp_err(Totp::from_uri(&format!(
                "otpauth://hotp/x?secret={s}&counter=1"
            ))),
            "this is an hotp URI, not totp (use OtpUri::parse)"
        );
        assert_eq!(
            otp_err(Hotp::from_uri(&format!("otpauth://totp/x?secret={s}"))),
            "this is a totp URI, not hotp (use OtpUri::parse)"
        );
        // Multi-byte UTF-8 at the scheme boundary must not panic on slicing.
        assert!(OtpUri::parse("otpauth:/é").is_err());
        assert!(OtpUri::parse("ötpauth://totp/x").is_err());
    }

    #[test]
    fn to_uri_round_trips_and_encodes_names() {
        let t = Totp::new(
            SecretVec::from_slice(RFC_SECRET),
            OtpAlgorithm::Sha256,
            7,
            45,
        )
        .unwrap()
        .with_issuer("Big Co & Sons/?#%")
        .unwrap()
        .with_account("ann+1@example.com")
        .unwrap();
        let uri = t.to_uri();
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/Big%20Co%20%26%20Sons%2F%3F%23%25:ann%2B1%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Big%20Co%20%26%20Sons%2F%3F%23%25&algorithm=SHA256&digits=7&period=45"
        );
        assert_eq!(Totp::from_uri(&uri).unwrap(), t);
        let h = Hotp::new(SecretVec::from_slice(b"k"), OtpAlgorithm::Sha1, 6, 42).unwrap();
        assert_eq!(
            h.to_uri().as_str(),
            "otpauth://hotp/?secret=NM&algorithm=SHA1&digits=6&counter=42"
        );
        assert_eq!(Hotp::from_uri(&h.to_uri()).unwrap(), h);
        assert_eq!(
            otp_err(
                Totp::from_secret_base32(RFC_B32)
                    .unwrap()
                    .with_issuer("a:b")
            ),
            "issuer or account contains a colon"
        );
    }

    #[test]
    fn debug_redacts_secret() {
        let t = Totp::from_secret_base32(RFC_B32)
            .unwrap()
            .with_account("me")
            .unwrap();
        let d = format!("{t:?}");
        assert!(d.contains("secret: \"***\"") && d.contains("me"), "{d}");
        assert!(!d.contains("GEZD") && !d.contains("49, 50"), "{d}");
        let h = Hotp::new(SecretVec::from_slice(RFC_SECRET), OtpAlgorithm::Sha1, 6, 0).unwrap();
        assert!(!format!("{h:?}").contains("GEZD"));
    }

    #[test]
    fn generated_secrets_are_20_random_bytes() {
        let a = generate_secret().unwrap();
        let b = generate_secret().unwrap();
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        let t = Totp::new(a, OtpAlgorithm::Sha1, 6, 30).unwrap();
        assert_eq!(t.secret_base32().len(), 32);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn uri_round_trips(
            secret in proptest::collection::vec(any::<u8>(), 1..=64),
            alg in prop_oneof![Just(OtpAlgorithm::Sha1), Just(OtpAlgorithm::Sha256), Just(OtpAlgorithm::Sha512)],
            digits in 6u8..=8,
            period in 1u64..=u64::MAX,
            issuer in "[^:\\p{Cc}]{0,20}",
            account in "[^:\\p{Cc}]{0,20}",
        ) {
            // A leading space before the account is not significant in the format.
            let account = account.trim_start_matches(' ');
            let t = Totp::new(SecretVec::new(secret), alg, digits, period).unwrap()
                .with_issuer(&issuer).unwrap()
                .with_account(account).unwrap();
            prop_assert_eq!(Totp::from_uri(&t.to_uri()).unwrap(), t);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = OtpUri::parse(&s);
            let _ = OtpUri::parse(&format!("otpauth://totp/{s}"));
            let _ = Totp::from_secret_base32(&s);
        }

        #[test]
        fn codes_have_the_requested_width(counter in any::<u64>(), digits in 6u8..=8) {
            let code = hotp(RFC_SECRET, counter, digits, OtpAlgorithm::Sha256).unwrap();
            prop_assert_eq!(code.len(), usize::from(digits));
            prop_assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
