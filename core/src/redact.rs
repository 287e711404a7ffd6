//! Keeping secrets out of messages: a store URL as it may be shown.

/// Query options whose values are secrets wherever they appear.
const SECRET_OPTIONS: &[&str] =
    &["password", "passwd", "pass", "token", "secret", "auth", "apikey", "api_key", "key"];

/// `url` as it may be shown in a message, a log line or a file: the
/// password of its user information replaced by `***` (the whole user
/// information when it has no `:`, since some services take a token there),
/// and the value of any query option named like a secret (`password`,
/// `token`, `secret`, `auth`, `api_key`, …) too. File URLs (`sqlite://`,
/// `redb://`) keep their paths, even with an `@` in them.
///
/// ```
/// use cachestore_core::redact_url;
/// assert_eq!(redact_url("redis://app:s3cret@10.0.0.5:6379/2"), "redis://app:***@10.0.0.5:6379/2");
/// assert_eq!(redact_url("rediss://tok3n@host/0?password=x&prefix=a"), "rediss://***@host/0?password=***&prefix=a");
/// assert_eq!(redact_url("sqlite:///home/a@b/c.db"), "sqlite:///home/a@b/c.db");
/// ```
pub fn redact_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) if !is_file_scheme(scheme) => match rest.rfind('@') {
            Some(at) => {
                let userinfo = &rest[..at];
                let shown = match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:***"),
                    None => "***".to_owned(),
                };
                format!("{scheme}://{shown}{}", &rest[at..])
            }
            None => head.to_owned(),
        },
        _ => head.to_owned(),
    };
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if is_secret_option(k) => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    out
}

fn is_file_scheme(scheme: &str) -> bool {
    ["sqlite", "redb", "memory", "file"].iter().any(|s| s.eq_ignore_ascii_case(scheme))
}

fn is_secret_option(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_OPTIONS.iter().any(|s| name == *s || name.ends_with(&format!("_{s}")))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_and_tokens_never_survive() {
        for (url, secret) in [
            ("redis://:pw1@h:6379", "pw1"),
            ("redis://user:pw2@h", "pw2"),
            ("rediss://user:p@ss:w/rd@h/0", "p@ss:w/rd"),
            ("redis://tokenonly@h", "tokenonly"),
            ("redis://h/0?password=pw3", "pw3"),
            ("redis://h/0?prefix=a&auth_token=pw4", "pw4"),
            ("redis+cluster://u:pw5@h?cluster=maybe", "pw5"),
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains(secret), "{url} shown as {shown}");
            assert!(shown.contains("***"), "{shown}");
        }
        assert_eq!(redact_url("redis://h:6379/0?prefix=app"), "redis://h:6379/0?prefix=app");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn file_urls_keep_their_paths() {
        for url in
            ["sqlite:///home/a@b/c.db", "REDB:///srv/u:p@x/c.redb", "memory://a@b", "file:///x@y"]
        {
            assert_eq!(redact_url(url), url);
        }
        assert_eq!(redact_url("sqlite:///a@b/c.db?token=t"), "sqlite:///a@b/c.db?token=***");
    }
}
