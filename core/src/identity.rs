//! Row identity rules (CONTRACT.md §1) shared by every backend.

use crate::error::{Error, IdentityPart, Result};

/// The longest namespace, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 255;
/// The longest key, in bytes.
pub const MAX_KEY_LEN: usize = 4096;
/// The payload size every backend accepts at the least: 16 MiB.
pub const MIN_PAYLOAD_LIMIT: u64 = 16 * 1024 * 1024;
/// The most tags a row carries (CONTRACT.md §9).
pub const MAX_TAGS: usize = 16;
/// The longest tag, in bytes (CONTRACT.md §9).
pub const MAX_TAG_LEN: usize = 255;

/// Checks one tag: 1..=255 bytes of UTF-8, any character.
pub fn check_tag(tag: &str) -> Result<()> {
    if tag.is_empty() || tag.len() > MAX_TAG_LEN {
        return Err(Error::InvalidTags {
            reason: format!("a tag of {} bytes; tags are 1..=255 bytes", tag.len()),
        });
    }
    Ok(())
}

/// Checks a row's tags: at most 16, each a valid [tag](check_tag).
pub fn check_tags(tags: &crate::types::Tags) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::InvalidTags {
            reason: format!("{} tags; a row carries at most 16", tags.len()),
        });
    }
    tags.iter().try_for_each(|t| check_tag(t))
}

/// Checks a namespace: 1..=255 bytes of UTF-8, any character.
pub fn check_namespace(namespace: &str) -> Result<()> {
    check(IdentityPart::Namespace, namespace.len(), MAX_NAMESPACE_LEN)
}

/// Checks a `(namespace, key)` identity: a valid namespace and a key of
/// 1..=4096 bytes of UTF-8, any character.
pub fn check_identity(namespace: &str, key: &str) -> Result<()> {
    check_namespace(namespace)?;
    check(IdentityPart::Key, key.len(), MAX_KEY_LEN)
}

/// Checks a payload's size against a store's limit.
pub fn check_payload(len: usize, limit: u64) -> Result<()> {
    let size = len as u64;
    if size > limit { Err(Error::PayloadTooLarge { size, limit }) } else { Ok(()) }
}

fn check(part: IdentityPart, len: usize, max: usize) -> Result<()> {
    if len == 0 {
        return Err(Error::InvalidKey { part, len, reason: "must not be empty" });
    }
    if len > max {
        let reason = match part {
            IdentityPart::Namespace => "must be at most 255 bytes",
            IdentityPart::Key => "must be at most 4096 bytes",
        };
        return Err(Error::InvalidKey { part, len, reason });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_checked_in_bytes_at_both_ends() {
        assert!(check_identity("n", "k").is_ok());
        assert!(check_identity(&"n".repeat(255), &"k".repeat(4096)).is_ok());
        let e = check_identity("", "k").unwrap_err();
        assert!(matches!(e, Error::InvalidKey { part: IdentityPart::Namespace, len: 0, .. }));
        assert!(check_identity(&"n".repeat(256), "k").is_err());
        assert!(check_identity("n", "").is_err());
        // 'é' is 2 bytes: 2049 of them are 4098 bytes.
        let e = check_identity("n", &"é".repeat(2049)).unwrap_err();
        assert!(matches!(e, Error::InvalidKey { part: IdentityPart::Key, len: 4098, .. }));
        assert!(check_identity("a\0:/", "\0").is_ok());
    }

    #[test]
    fn tags_are_checked_by_count_and_length() {
        let tags = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        assert!(check_tags(&tags(&[])).is_ok());
        assert!(check_tags(&tags(&["a", &"t".repeat(255)])).is_ok());
        assert!(matches!(check_tags(&tags(&[""])), Err(Error::InvalidTags { .. })));
        assert!(matches!(check_tags(&tags(&[&"t".repeat(256)])), Err(Error::InvalidTags { .. })));
        let sixteen: Vec<String> = (0..16).map(|i| i.to_string()).collect();
        assert!(check_tags(&sixteen.iter().cloned().collect()).is_ok());
        let seventeen: Vec<String> = (0..17).map(|i| i.to_string()).collect();
        let e = check_tags(&seventeen.into_iter().collect()).unwrap_err();
        assert!(e.to_string().contains("17 tags"), "{e}");
    }

    #[test]
    fn payload_limit_is_inclusive() {
        assert!(check_payload(16, 16).is_ok());
        assert!(matches!(
            check_payload(17, 16),
            Err(Error::PayloadTooLarge { size: 17, limit: 16 })
        ));
    }
}
