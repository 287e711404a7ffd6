//! Store URLs as the backends read them: `scheme://path?option=value&…`.
//!
//! The facade's `open` only looks at the scheme and hands the whole URL to
//! the backend's `from_url`, which takes its own options with
//! [`StoreUrl::take`] and friends and ends with [`StoreUrl::finish`], so an
//! option no backend took (a typo) is an error. Paths and option values are
//! percent-decoded after the query is split off (`%3F` for a `?` in a path,
//! `%25` for a `%`). Every message shows the URL without its secrets
//! ([`redact_url`](crate::redact_url)).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// A URL split into scheme, path and options.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl {
    shown: String,
    raw: String,
    scheme: String,
    path: String,
    options: BTreeMap<String, String>,
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the raw URL: it may hold a password.
        f.debug_struct("StoreUrl").field("url", &self.shown).finish_non_exhaustive()
    }
}

fn config(message: String) -> Error {
    Error::Config { message }
}

fn decode(shown: &str, s: &str) -> Result<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| config(format!("{shown}: a part does not percent-decode to UTF-8")))
}

impl StoreUrl {
    /// Splits `url`; [`Error::Config`] when it has no `scheme://`.
    pub fn parse(url: &str) -> Result<StoreUrl> {
        let shown = crate::redact_url(url);
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            config(format!(
                "{shown:?} is not a store URL; expected scheme://path, e.g. \
                 sqlite:///var/cache/app.sqlite"
            ))
        })?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut options = BTreeMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            options.insert(decode(&shown, k)?, decode(&shown, v)?);
        }
        Ok(StoreUrl {
            scheme: scheme.to_ascii_lowercase(),
            path: decode(&shown, path)?,
            shown,
            raw: url.to_owned(),
            options,
        })
    }

    /// The URL as a message may show it: without its secrets.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The URL as given, for connecting only: never show it.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The scheme, in lower case.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The options not taken yet.
    pub fn options(&self) -> &BTreeMap<String, String> {
        &self.options
    }

    /// The file path: `sqlite:///abs` is `/abs`, `sqlite://rel` is `rel`;
    /// [`Error::Config`] when there is none.
    pub fn file(&self) -> Result<PathBuf> {
        if self.path.is_empty() {
            return Err(config(format!(
                "{}: no file path; e.g. {}:///var/cache/app.db",
                self.shown, self.scheme
            )));
        }
        Ok(PathBuf::from(&self.path))
    }

    /// Fails unless the scheme is one of `schemes` (a backend checks that
    /// the URL is its own).
    pub fn expect_scheme(&self, schemes: &[&str]) -> Result<()> {
        if schemes.contains(&self.scheme.as_str()) {
            return Ok(());
        }
        Err(config(format!("{}: not a {} URL", self.shown, schemes.join(":// or ") + "://")))
    }

    /// Takes option `key`'s value.
    pub fn take(&mut self, key: &str) -> Option<String> {
        self.options.remove(key)
    }

    /// Takes option `key` as `true`/`false` (`1`/`0`, `yes`/`no`).
    pub fn take_bool(&mut self, key: &str) -> Result<Option<bool>> {
        self.take(key)
            .map(|v| match v.as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(config(format!("{}: {key}={v:?} is not true or false", self.shown))),
            })
            .transpose()
    }

    /// Takes option `key` as a whole number.
    pub fn take_u64(&mut self, key: &str) -> Result<Option<u64>> {
        self.take(key)
            .map(|v| {
                v.parse().map_err(|_| {
                    config(format!("{}: {key}={v:?} is not a whole number", self.shown))
                })
            })
            .transpose()
    }

    /// Takes option `key`, which must be the name of one of `choices`;
    /// returns that choice's value.
    pub fn take_choice<T: Copy>(&mut self, key: &str, choices: &[(&str, T)]) -> Result<Option<T>> {
        self.take(key)
            .map(|v| {
                choices.iter().find(|(name, _)| *name == v).map(|&(_, value)| value).ok_or_else(
                    || {
                        let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
                        config(format!(
                            "{}: {key}={v:?}; {}:// takes {}",
                            self.shown,
                            self.scheme,
                            names.join(" or ")
                        ))
                    },
                )
            })
            .transpose()
    }

    /// Fails on any option no one took.
    pub fn finish(&self) -> Result<()> {
        match self.options.keys().next() {
            None => Ok(()),
            Some(k) => {
                Err(config(format!("{}: unknown option {k:?} for {}://", self.shown, self.scheme)))
            }
        }
    }
}

/// For a backend's tests of its `from_url`: every URL in `refused` must be
/// refused with [`Error::Config`]; `Err` names the
/// first that was not.
pub fn check_refused<B>(
    from_url: impl Fn(&str) -> Result<B>,
    refused: &[&str],
) -> std::result::Result<(), String> {
    for url in refused {
        match from_url(url) {
            Err(crate::Error::Config { .. }) => {}
            Err(e) => return Err(format!("{url}: {e:?}, not a Config error")),
            Ok(_) => return Err(format!("{url} was taken")),
        }
    }
    Ok(())
}

/// `set(builder, value)` when an option was given, else `builder`: one line
/// per option in a `from_url`.
///
/// ```
/// # use cachestore_core::raw::url::{StoreUrl, apply};
/// let mut url = StoreUrl::parse("x://?n=3").unwrap();
/// let n = apply(0, url.take_u64("n").unwrap(), |_, n| n);
/// assert_eq!(apply(n, url.take_u64("absent").unwrap(), |_, n| n), 3);
/// ```
pub fn apply<B, T>(builder: B, value: Option<T>, set: impl FnOnce(B, T) -> B) -> B {
    match value {
        Some(value) => set(builder, value),
        None => builder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_path_and_options() {
        let u = StoreUrl::parse("SQLite:///var/cache/my%20app%3F.sqlite?durability=full&x=")
            .expect("parse");
        assert_eq!(u.scheme(), "sqlite");
        assert_eq!(u.file().expect("file"), PathBuf::from("/var/cache/my app?.sqlite"));
        assert_eq!(u.options().get("durability").map(String::as_str), Some("full"));
        assert_eq!(u.options().get("x").map(String::as_str), Some(""));
        let rel = StoreUrl::parse("redb://cache/app.redb").expect("parse");
        assert_eq!(rel.file().expect("file"), PathBuf::from("cache/app.redb"));
        assert!(StoreUrl::parse("no-scheme").is_err());
        assert!(StoreUrl::parse("sqlite://").expect("parse").file().is_err());
    }

    #[test]
    fn options_are_taken_typed_and_leftovers_refused() {
        let mut u = StoreUrl::parse("x://p?a=1&b=yes&c=full&d=odd").expect("parse");
        assert_eq!(u.take_u64("a").expect("number"), Some(1));
        assert_eq!(u.take_bool("b").expect("bool"), Some(true));
        assert_eq!(u.take_choice("c", &[("normal", 0), ("full", 1)]).expect("choice"), Some(1));
        assert!(u.finish().is_err(), "d was not taken");
        assert!(u.take_choice("d", &[("even", ())]).is_err());
        assert!(u.finish().is_ok());
        let mut no = StoreUrl::parse("x://p?a=false&b=0&c=no&d=true&e=1").expect("parse");
        let bools: Vec<_> =
            ["a", "b", "c", "d", "e"].map(|k| no.take_bool(k).expect("bool")).into();
        assert_eq!(bools, [Some(false), Some(false), Some(false), Some(true), Some(true)]);
        let mut bad = StoreUrl::parse("x://p?n=lots&t=maybe").expect("parse");
        assert!(bad.take_u64("n").is_err() && bad.take_bool("t").is_err());
    }

    #[test]
    fn secrets_are_never_shown() {
        let u = StoreUrl::parse("redis://u:hunter2@h/0?cluster=maybe").expect("parse");
        assert!(!u.shown().contains("hunter2") && !format!("{u:?}").contains("hunter2"));
        assert_eq!(u.shown(), "redis://u:***@h/0?cluster=maybe");
        let mut u = u;
        let err = u.take_bool("cluster").expect_err("maybe");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(u.raw().contains("hunter2"), "the raw URL is kept for connecting");
    }

    #[test]
    fn check_refused_names_the_first_url_taken() {
        let from_url = |url: &str| match url {
            "ok" => Ok(()),
            "io" => Err(crate::Error::io("x", std::io::Error::other("x"))),
            _ => Err(crate::Error::Config { message: "no".into() }),
        };
        assert_eq!(check_refused(from_url, &["a", "b"]), Ok(()));
        assert_eq!(check_refused(from_url, &["a", "ok", "io"]), Err("ok was taken".to_owned()));
        let err = check_refused(from_url, &["io"]).expect_err("not a Config error");
        assert!(err.starts_with("io: Io") && err.ends_with("not a Config error"), "{err}");
    }
}
