//! Keeping secrets out of the cache: header redaction, the write guard, and
//! the bounded, redacted text of a cached failure.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use cachestore_core::{Headers, redact_url};

/// Which headers are stripped before a row is stored, so that secrets never
/// reach the cache. Names match case-insensitively (`AUTHORIZATION` is
/// `authorization`).
///
/// The default strips the common secret-bearing headers:
/// `Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie`,
/// `X-Api-Key`, `Api-Key`, `X-Auth-Token`, `X-Access-Token`,
/// `X-Goog-Api-Key`, `X-Amz-Security-Token`, `X-Csrf-Token`,
/// `X-Xsrf-Token`, `Private-Token` (GitLab), `X-Upstream-Authorization` and
/// `Ocp-Apim-Subscription-Key` (Azure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redaction {
    names: BTreeSet<String>,
}

const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-access-token",
    "x-goog-api-key",
    "x-amz-security-token",
    "x-csrf-token",
    "x-xsrf-token",
    "private-token",
    "x-upstream-authorization",
    "ocp-apim-subscription-key",
];

impl Default for Redaction {
    fn default() -> Self {
        Redaction { names: SECRET_HEADERS.iter().map(|s| (*s).to_owned()).collect() }
    }
}

impl Redaction {
    /// Strips nothing.
    pub fn none() -> Self {
        Redaction { names: BTreeSet::new() }
    }

    /// Also strips `name` (any case).
    pub fn strip(mut self, name: &str) -> Self {
        self.names.insert(name.to_ascii_lowercase());
        self
    }

    /// No longer strips `name` (any case).
    pub fn keep(mut self, name: &str) -> Self {
        self.names.remove(&name.to_ascii_lowercase());
        self
    }

    /// Whether `name` (any case) is stripped.
    pub fn strips(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// Removes the redacted headers from `headers`.
    pub fn apply(&self, headers: &mut Headers) {
        if !self.names.is_empty() {
            headers.retain(|name, _| !self.strips(name));
        }
    }
}

/// A value about to be stored, as a write guard sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct WriteCandidate<'a> {
    /// Its namespace.
    pub namespace: &'a str,
    /// Its key.
    pub key: &'a str,
    /// The encoded payload.
    pub payload: &'a [u8],
    /// The headers that would be stored (already redacted).
    pub headers: &'a Headers,
}

/// A check run before every write of a [`Cache`](crate::Cache): `Err(reason)`
/// refuses the write. Set with
/// [`CacheBuilder::write_guard`](crate::CacheBuilder::write_guard).
pub type WriteGuard = Arc<dyn Fn(&WriteCandidate<'_>) -> Result<(), String> + Send + Sync>;

/// Field names that hold secrets, compared after lowercasing and removing
/// `-` and `_`.
const SECRET_FIELDS: &[&str] = &[
    "apikey",
    "apisecret",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "authtoken",
    "token",
    "secret",
    "clientsecret",
    "password",
    "passwd",
    "authorization",
    "privatekey",
    "sessionid",
    "cookie",
];

fn is_secret_name(name: &str) -> bool {
    let folded: String =
        name.chars().filter(|c| *c != '-' && *c != '_').collect::<String>().to_ascii_lowercase();
    SECRET_FIELDS.contains(&folded.as_str())
}

/// The JSON paths (`$.user.api_key`, `$.items[2].token`) of fields in `json`
/// whose names say they hold a secret (`api_key`, `apiKey`, `access_token`,
/// `client_secret`, `password`, ...) and whose value is a non-empty string
/// or a number. A payload that is not JSON has none.
///
/// ```
/// let found = cachestore::secret_fields(br#"{"title":"x","auth":{"api_key":"k-123"}}"#);
/// assert_eq!(found, vec!["$.auth.api_key".to_owned()]);
/// ```
pub fn secret_fields(json: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    walk(&value, "$".to_owned(), &mut found);
    found
}

fn walk(value: &serde_json::Value, path: String, found: &mut Vec<String>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (name, v) in map {
                let here = format!("{path}.{name}");
                let filled = match v {
                    Value::String(s) => !s.is_empty(),
                    Value::Number(_) => true,
                    _ => false,
                };
                if filled && is_secret_name(name) {
                    found.push(here);
                } else {
                    walk(v, here, found);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// A ready write guard: refuses a payload holding secret-looking JSON
/// fields ([`secret_fields`]), naming the fields, never their values.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cachestore::Result<()> {
/// use cachestore::{Cache, SetOptions};
///
/// let cache = Cache::builder(cachestore::open("memory://")?)
///     .write_guard(cachestore::refuse_secret_fields)
///     .build();
/// let leaked = serde_json::json!({"results": [], "api_key": "sk-live-123"});
/// let refused = cache.set("tmdb", "search", &leaked, SetOptions::new()).await;
/// assert!(refused.is_err());
/// assert!(!refused.unwrap_err().to_string().contains("sk-live-123"));
/// # Ok(()) }
/// ```
pub fn refuse_secret_fields(candidate: &WriteCandidate<'_>) -> Result<(), String> {
    let found = secret_fields(candidate.payload);
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!("the payload holds secret-looking fields: {}", found.join(", ")))
    }
}

/// The longest failure text a cached failure keeps, in bytes.
pub const MAX_FAILURE_TEXT: usize = 512;

/// A failure's text as it is stored: URLs redacted ([`redact_url`]),
/// `name=value` and `name: value` pairs whose name says secret have their
/// value replaced, and cut at [`MAX_FAILURE_TEXT`] bytes on a character
/// boundary.
pub(crate) fn failure_text(error: &dyn fmt::Display) -> String {
    let text = error.to_string();
    let mut out = String::with_capacity(text.len().min(MAX_FAILURE_TEXT + 8));
    let mut hide_next = false;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if hide_next && !word.is_empty() {
            out.push_str("***");
            hide_next = false;
            continue;
        }
        out.push_str(&redact_word(word, &mut hide_next));
    }
    if out.len() > MAX_FAILURE_TEXT {
        let mut end = MAX_FAILURE_TEXT;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("...");
    }
    out
}

fn redact_word(word: &str, hide_next: &mut bool) -> String {
    if word.contains("://") {
        return redact_url(word);
    }
    if let Some((name, _)) = word.split_once('=')
        && is_secret_name(name.trim_start_matches(['?', '&', '"', '\'']))
    {
        return format!("{name}=***");
    }
    if let Some(name) = word.strip_suffix(':')
        && (is_secret_name(name) || SECRET_HEADERS.contains(&name.to_ascii_lowercase().as_str()))
    {
        *hide_next = true;
    }
    word.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_text_hides_secrets_and_is_bounded() {
        let e = "GET https://bob:hunter2@api.example/x?api_key=K1 failed: token=T2 Authorization: Bearer-T3";
        let t = failure_text(&e);
        for secret in ["hunter2", "K1", "T2", "Bearer-T3"] {
            assert!(!t.contains(secret), "{secret} leaked in {t}");
        }
        assert!(t.contains("failed"), "{t}");
        let long = "é".repeat(1000);
        let t = failure_text(&long);
        assert!(t.len() <= MAX_FAILURE_TEXT + 3, "{}", t.len());
        assert!(t.ends_with("..."));
    }

    #[test]
    fn secret_names_fold_case_and_separators() {
        for name in ["api_key", "apiKey", "API-KEY", "access_token", "clientSecret", "password"] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["title", "key", "tokens_used", "monkey"] {
            assert!(!is_secret_name(name), "{name}");
        }
        let found = secret_fields(br#"{"a":[{"token":"x"},{"token":""}],"n":{"password":7}}"#);
        assert_eq!(found, vec!["$.a[0].token".to_owned(), "$.n.password".to_owned()]);
        assert!(secret_fields(b"not json").is_empty());
    }

    #[test]
    fn redaction_is_case_insensitive() {
        let mut h = Headers::new();
        h.insert("AUTHORIZATION".into(), "Bearer x".into());
        h.insert("X-Goog-Api-Key".into(), "k".into());
        h.insert("ETag".into(), "v1".into());
        Redaction::default().apply(&mut h);
        assert_eq!(h.keys().collect::<Vec<_>>(), vec!["ETag"]);
    }
}
