//! Where a scan runs, judged once for every backend.

use crate::error::Result;
use crate::identity::check_namespace;
use crate::types::ScanCursor;

/// The rows a [`scan`](crate::CacheStore::scan) may return: those of
/// `namespace` (every namespace when `None`) that sort strictly after
/// `after`, in `(namespace, key)` byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanRange<'a> {
    /// The one namespace scanned, if any.
    pub namespace: Option<&'a str>,
    /// The identity the scan resumes strictly after, if any. With a
    /// namespace, its namespace is that namespace.
    pub after: Option<(&'a str, &'a str)>,
}

impl<'a> ScanRange<'a> {
    /// The range of a scan of `namespace` resuming after `after`; `None`
    /// when nothing can follow (the cursor is past the namespace). A cursor
    /// before the namespace starts the scan at its first row. An invalid
    /// namespace is [`Error::InvalidKey`](crate::Error::InvalidKey).
    pub fn new(namespace: Option<&'a str>, after: Option<&'a ScanCursor>) -> Result<Option<Self>> {
        if let Some(ns) = namespace {
            check_namespace(ns)?;
        }
        let after = after.map(|c| (c.namespace.as_str(), c.key.as_str()));
        // `str` orders by bytes, the scan order.
        Ok(match (namespace, after) {
            (Some(ns), Some((at, _))) if at > ns => None,
            (Some(ns), Some((at, _))) if at < ns => Some(ScanRange { namespace, after: None }),
            _ => Some(ScanRange { namespace, after }),
        })
    }

    /// Whether the row `(namespace, key)` is in the range.
    pub fn contains(&self, namespace: &str, key: &str) -> bool {
        self.namespace.is_none_or(|want| want == namespace)
            && self.after.is_none_or(|after| (namespace, key) > after)
    }
}

#[cfg(test)]
mod tests {
    use super::ScanRange;
    use crate::ScanCursor;

    fn cursor(ns: &str, key: &str) -> ScanCursor {
        ScanCursor { namespace: ns.into(), key: key.into() }
    }

    #[test]
    fn a_cursor_past_the_namespace_ends_the_scan_and_one_before_starts_it() {
        let past = cursor("b", "");
        assert_eq!(ScanRange::new(Some("a"), Some(&past)).unwrap(), None);
        let before = cursor("", "zzz");
        let range = ScanRange::new(Some("a"), Some(&before)).unwrap().unwrap();
        assert_eq!(range, ScanRange { namespace: Some("a"), after: None });
        let within = cursor("a", "k");
        let range = ScanRange::new(Some("a"), Some(&within)).unwrap().unwrap();
        assert!(
            !range.contains("a", "k") && range.contains("a", "k\0") && !range.contains("b", "z")
        );
        let all = ScanRange::new(None, Some(&within)).unwrap().unwrap();
        assert!(all.contains("b", "") && !all.contains("a", "j") && !all.contains("", "z"));
        assert!(ScanRange::new(Some(""), None).is_err(), "an empty namespace is invalid");
    }
}
