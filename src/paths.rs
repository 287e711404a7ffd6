//! Where a cache lives by default.

use std::path::PathBuf;

use cachestore_core::{Error, Result};

/// The platform's cache directory for `app`, by OS convention (through the
/// `directories` crate), and the file `cache.sqlite` in it:
/// `~/.cache/<app>/cache.sqlite` on Linux (`$XDG_CACHE_HOME` if set),
/// `~/Library/Caches/<app>/cache.sqlite` on macOS,
/// `%LOCALAPPDATA%\<app>\cache\cache.sqlite` on Windows.
///
/// The directory is not created here; the SQLite backend creates it (mode
/// 0700) when it opens the store. Fails with [`Error::Config`] when the
/// system reports no home directory, or `app` is empty.
pub fn default_cache_path(app: &str) -> Result<PathBuf> {
    if app.trim().is_empty() {
        return Err(Error::Config { message: "default_cache_path: the app name is empty".into() });
    }
    let dirs = directories::ProjectDirs::from("", "", app).ok_or_else(|| Error::Config {
        message: "no home directory is known for this user, so there is no default cache \
                  path; pass a path explicitly"
            .into(),
    })?;
    Ok(dirs.cache_dir().join("cache.sqlite"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_path_ends_in_the_app_and_file() {
        let path = default_cache_path("cachestore-test-app").expect("a home directory");
        assert!(path.ends_with("cache.sqlite"), "{}", path.display());
        assert!(path.display().to_string().contains("cachestore-test-app"));
        assert!(default_cache_path(" ").is_err());
    }
}
