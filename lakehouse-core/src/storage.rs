//! Object storage: one [`ObjectStore`] rooted at the lakehouse, with validated keys and a
//! size cap.
//!
//! A lakehouse root is a local folder (the default) or `s3://bucket/prefix`. Everything the
//! library stores — data files, catalog manifests, user objects — lives under that root.
//! Keys that the catalog owns (`_catalog/`, `datasets/`, `_vectors/`) are read-only through
//! the public [`Storage`] methods so that user writes can never corrupt a dataset.

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::Serialize;

use crate::error::{Error, Result};

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Default cap on the size of one object written through [`Storage::put`]: 256 MiB.
pub const DEFAULT_MAX_OBJECT_SIZE: u64 = 256 * 1024 * 1024;
/// Key prefixes owned by the library; the public API may read them but not write them.
pub const RESERVED_PREFIXES: [&str; 3] = ["_catalog/", "datasets/", "_vectors/"];

/// Checks a storage key against the rules shared by every entry point.
///
/// Rejected: empty keys, keys over [`MAX_KEY_BYTES`], NUL, CR, LF or tab anywhere, a leading
/// `/`, and any `..` (or empty, or `.`) path segment.
///
/// ```
/// use lakehouse_core::storage::validate_key;
/// assert!(validate_key("docs/readme.txt").is_ok());
/// assert!(validate_key("../etc/passwd").is_err());
/// assert!(validate_key("/abs").is_err());
/// ```
pub fn validate_key(key: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidKey {
            key: key.chars().take(200).collect(),
            reason,
        })
    };
    if key.is_empty() {
        return bad("key is empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return bad("key is longer than 1024 bytes");
    }
    if key.contains('\0') {
        return bad("key contains NUL");
    }
    if key.contains(['\r', '\n', '\t']) {
        return bad("key contains CR, LF or tab");
    }
    if key.starts_with('/') {
        return bad("key starts with '/'");
    }
    for segment in key.split('/') {
        match segment {
            ".." => return bad("key contains a '..' segment"),
            "." => return bad("key contains a '.' segment"),
            "" => return bad("key contains an empty segment ('//' or a trailing '/')"),
            _ => {}
        }
    }
    Ok(())
}

/// Metadata of a stored object, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ObjectInfo {
    /// Key relative to the lakehouse root.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time.
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// Object I/O under the lakehouse root.
///
/// Cheap to clone. Writes are atomic: a reader sees the previous object or the new one.
///
/// Keys are relative to the root; the root may sit under a prefix of the store (an S3 bucket
/// prefix), which this type adds and strips itself.
#[derive(Debug, Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// `""` or `"a/b"`: where the root sits in `store`.
    prefix: Arc<str>,
    max_object_size: u64,
    description: Arc<str>,
    /// The same store as `store` when it is the local file system (for memory-mapping).
    local: Option<Arc<object_store::local::LocalFileSystem>>,
    /// The root's URL (ends in `/`), and the store in which a URL's path names an object:
    /// how Delta tables address their files.
    root_url: url::Url,
    url_store: Arc<dyn ObjectStore>,
}

impl Storage {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        max_object_size: u64,
        description: String,
    ) -> Self {
        Self::with_prefix(store, "", max_object_size, description)
    }

    pub(crate) fn with_prefix(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        max_object_size: u64,
        description: String,
    ) -> Self {
        let prefix: Arc<str> = prefix.trim_matches('/').into();
        let root_url = url::Url::parse(&format!("memory:///{prefix}/").replace(":////", ":///"))
            .expect("a validated prefix makes a valid URL path");
        Self {
            url_store: store.clone(),
            store,
            prefix,
            max_object_size,
            description: description.into(),
            local: None,
            root_url,
        }
    }

    /// Sets the root's URL (`s3://bucket/prefix/`, `file:///abs/path/`) and the store its
    /// paths are read from.
    pub(crate) fn at_url(mut self, root_url: url::Url, url_store: Arc<dyn ObjectStore>) -> Self {
        self.root_url = root_url;
        self.url_store = url_store;
        self
    }

    /// The URL of `key`, and the store in which that URL's path names the object.
    pub(crate) fn url_of(&self, key: &str) -> Result<(Arc<dyn ObjectStore>, url::Url)> {
        let url = self
            .root_url
            .join(key)
            .map_err(|e| Error::internal(format!("no URL for key {key:?}: {e}")))?;
        Ok((self.url_store.clone(), url))
    }

    /// A storage on a local folder, described as `description`.
    pub(crate) fn local(
        store: object_store::local::LocalFileSystem,
        max_object_size: u64,
        description: String,
    ) -> Self {
        let store = Arc::new(store);
        let mut storage = Self::new(store.clone(), max_object_size, description);
        storage.local = Some(store);
        storage
    }

    /// The file that holds `key`, when the root is a local folder: lets large immutable
    /// objects be memory-mapped instead of read. `None` on other stores.
    pub(crate) fn local_path(&self, key: &str) -> Option<std::path::PathBuf> {
        self.local
            .as_ref()?
            .path_to_filesystem(&self.store_path(key))
            .ok()
    }

    /// The underlying store; keys in it are [`Storage::store_path`] of ours. Crate-private:
    /// past it, the reserved-prefix rules of [`Storage`]'s own methods do not hold.
    pub(crate) fn object_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// The location of `key` in the underlying store.
    pub(crate) fn store_path(&self, key: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }

    /// The key of a location in the store (the inverse of [`Storage::store_path`]).
    fn key_of(&self, location: &Path) -> String {
        let s = location.as_ref();
        if self.prefix.is_empty() {
            return s.to_string();
        }
        s.strip_prefix(&*self.prefix)
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(s)
            .to_string()
    }

    /// Where this storage lives, for display (`/data/lh` or `s3://bucket/prefix`).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The size cap applied by [`Storage::put`].
    pub fn max_object_size(&self) -> u64 {
        self.max_object_size
    }

    /// Stores `data` under `key`, replacing any previous object atomically.
    ///
    /// Fails with [`Error::InvalidKey`], [`Error::TooLarge`] over the cap, or
    /// [`Error::InvalidInput`] for keys the catalog owns.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        validate_key(key)?;
        check_not_reserved(key)?;
        self.check_size(data.len() as u64)?;
        self.put_internal(key, data).await
    }

    /// Reads the object under `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        validate_key(key)?;
        self.get_internal(key).await
    }

    /// Deletes the object under `key`; deleting a missing key is [`Error::NotFound`].
    pub async fn delete(&self, key: &str) -> Result<()> {
        validate_key(key)?;
        check_not_reserved(key)?;
        self.head(key).await?;
        self.store.delete(&self.store_path(key)).await?;
        Ok(())
    }

    /// Metadata of one object.
    pub async fn head(&self, key: &str) -> Result<ObjectInfo> {
        validate_key(key)?;
        let meta = self.store.head(&self.store_path(key)).await?;
        Ok(ObjectInfo {
            key: key.to_string(),
            size: meta.size,
            last_modified: meta.last_modified,
        })
    }

    /// Lists objects whose key starts with the folder `prefix` (all objects when `None`),
    /// sorted by key.
    pub async fn list(&self, prefix: Option<&str>) -> Result<Vec<ObjectInfo>> {
        let prefix = match prefix {
            Some(p) if !p.is_empty() => {
                let trimmed = p.trim_end_matches('/');
                validate_key(trimmed)?;
                trimmed
            }
            _ => "",
        };
        let mut out: Vec<ObjectInfo> = self
            .store
            .list(self.list_root(prefix).as_ref())
            .map_ok(|m| ObjectInfo {
                key: self.key_of(&m.location),
                size: m.size,
                last_modified: m.last_modified,
            })
            .try_collect()
            .await?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn check_size(&self, size: u64) -> Result<()> {
        if size > self.max_object_size {
            return Err(Error::TooLarge {
                size,
                limit: self.max_object_size,
            });
        }
        Ok(())
    }

    // ---- crate-internal access, without the reserved-prefix rule ----

    pub(crate) async fn put_internal(&self, key: &str, data: Bytes) -> Result<()> {
        self.store
            .put(&self.store_path(key), PutPayload::from_bytes(data))
            .await?;
        Ok(())
    }

    /// Writes `data` only if nothing exists at `key`. Returns `false` when it already exists.
    pub(crate) async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<bool> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&self.store_path(key), PutPayload::from_bytes(data), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn get_internal(&self, key: &str) -> Result<Bytes> {
        let result = self.store.get(&self.store_path(key)).await?;
        Ok(result.bytes().await?)
    }

    /// On a local root, removes the folders under `prefix` (and `prefix` itself) that hold no
    /// file any more: an object store has no folders, but a local disk keeps them after the
    /// last file under them is deleted. A folder that is not empty stays.
    pub(crate) fn prune_empty_folders(&self, prefix: &str) -> Result<()> {
        fn prune(dir: &std::path::Path) -> std::io::Result<bool> {
            let mut empty = true;
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                empty &= entry.file_type()?.is_dir() && prune(&entry.path())?;
            }
            // Another writer may have put a file here meanwhile: then the folder stays.
            Ok(empty && std::fs::remove_dir(dir).is_ok())
        }
        match self.local_path(prefix) {
            Some(dir) if dir.is_dir() => prune(&dir).map(|_| ()).map_err(Error::from),
            _ => Ok(()),
        }
    }

    /// Whether an object exists at `key` (internal: no reserved-prefix rule).
    pub(crate) async fn exists_internal(&self, key: &str) -> Result<bool> {
        match self.store.head(&self.store_path(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn delete_internal(&self, key: &str) -> Result<()> {
        match self.store.delete(&self.store_path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Streams a local file into the store as one object (multipart; atomic on completion).
    pub(crate) async fn upload_file(&self, key: &str, local: &std::path::Path) -> Result<u64> {
        use tokio::io::AsyncReadExt;
        const PART: usize = 8 * 1024 * 1024;
        let mut file = tokio::fs::File::open(local).await?;
        let mut upload = self.store.put_multipart(&self.store_path(key)).await?;
        let mut total = 0u64;
        let result: Result<()> = async {
            loop {
                let mut buf = Vec::with_capacity(PART);
                while buf.len() < PART {
                    let n = (&mut file)
                        .take((PART - buf.len()) as u64)
                        .read_to_end(&mut buf)
                        .await?;
                    if n == 0 {
                        break;
                    }
                }
                if buf.is_empty() {
                    break;
                }
                total += buf.len() as u64;
                let last = buf.len() < PART;
                upload.put_part(PutPayload::from(buf)).await?;
                if last {
                    break;
                }
            }
            upload.complete().await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            let _ = upload.abort().await;
            return Err(e);
        }
        Ok(total)
    }

    /// Names of the folders directly under folder `prefix` (empty when there is none).
    pub(crate) async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>> {
        let listed = self
            .store
            .list_with_delimiter(Some(&self.store_path(prefix)))
            .await?;
        Ok(listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect())
    }

    /// Lists keys under `prefix` without sorting (internal, for catalog loading).
    pub(crate) async fn list_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let keys = self
            .store
            .list(self.list_root(prefix).as_ref())
            .map(|r| r.map(|m| self.key_of(&m.location)))
            .try_collect()
            .await?;
        Ok(keys)
    }
}

impl Storage {
    /// The store location to list for a key prefix (`""` = the whole root).
    fn list_root(&self, prefix: &str) -> Option<Path> {
        match (prefix.is_empty(), self.prefix.is_empty()) {
            (true, true) => None,
            (true, false) => Some(Path::from(&*self.prefix)),
            (false, _) => Some(self.store_path(prefix)),
        }
    }
}

fn check_not_reserved(key: &str) -> Result<()> {
    if let Some(p) = RESERVED_PREFIXES.iter().find(|p| key.starts_with(*p)) {
        return Err(Error::invalid(format!(
            "keys under {p:?} belong to the catalog and cannot be written through the storage API"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn storage(cap: u64) -> Storage {
        Storage::new(Arc::new(InMemory::new()), cap, "memory".into())
    }

    #[test]
    fn key_rules() {
        let long = "a".repeat(MAX_KEY_BYTES + 1);
        for bad in [
            "",
            "/lead",
            "a/../b",
            "..",
            "a\0b",
            "a\nb",
            "a\rb",
            "a\tb",
            "a//b",
            "a/",
            "./a",
            long.as_str(),
        ] {
            let err = validate_key(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidKey { .. }), "{bad:?} -> {err}");
        }
        for good in [
            "a",
            "a/b/c.txt",
            "x..y",
            "ünïcode/ключ",
            &"a".repeat(MAX_KEY_BYTES),
        ] {
            validate_key(good).unwrap();
        }
    }

    #[tokio::test]
    async fn put_get_list_delete_and_cap() {
        let s = storage(10);
        s.put("docs/a.txt", Bytes::from_static(b"hello"))
            .await
            .unwrap();
        s.put("docs/b.txt", Bytes::from_static(b"world"))
            .await
            .unwrap();
        assert_eq!(
            s.get("docs/a.txt").await.unwrap(),
            Bytes::from_static(b"hello")
        );
        let keys: Vec<_> = s
            .list(Some("docs/"))
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, ["docs/a.txt", "docs/b.txt"]);
        let err = s
            .put("docs/big", Bytes::from(vec![0u8; 11]))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooLarge {
                    size: 11,
                    limit: 10
                }
            ),
            "{err}"
        );
        assert!(matches!(
            s.get("docs/big").await.unwrap_err(),
            Error::NotFound { .. }
        ));
        s.delete("docs/a.txt").await.unwrap();
        assert!(matches!(
            s.get("docs/a.txt").await.unwrap_err(),
            Error::NotFound { .. }
        ));
        assert!(matches!(
            s.delete("docs/a.txt").await.unwrap_err(),
            Error::NotFound { .. }
        ));
    }

    #[tokio::test]
    async fn reserved_prefixes_are_read_only() {
        let s = storage(100);
        s.put_internal("_catalog/x", Bytes::from_static(b"m"))
            .await
            .unwrap();
        let err = s
            .put("_catalog/x", Bytes::from_static(b"evil"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)));
        // A reserved key that exists cannot be deleted either, and stays.
        for key in [
            "_catalog/x",
            "datasets/x/part.parquet",
            "_vectors/x/index.json",
        ] {
            s.put_internal(key, Bytes::from_static(b"m")).await.unwrap();
            let err = s.delete(key).await.unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{key}: {err}");
            assert_eq!(s.get(key).await.unwrap(), Bytes::from_static(b"m"), "{key}");
        }
    }

    #[tokio::test]
    async fn a_prefix_is_added_and_stripped() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let s = Storage::with_prefix(store.clone(), "/team/lake/", 100, "memory".into());
        s.put("docs/a", Bytes::from_static(b"x")).await.unwrap();
        assert!(store.head(&Path::from("team/lake/docs/a")).await.is_ok());
        assert_eq!(s.head("docs/a").await.unwrap().key, "docs/a");
        let keys: Vec<_> = s
            .list(None)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, ["docs/a"]);
        assert_eq!(s.list_keys("docs").await.unwrap(), ["docs/a"]);
    }

    #[tokio::test]
    async fn put_if_absent_refuses_overwrite() {
        let s = storage(100);
        assert!(
            s.put_if_absent("_catalog/v1", Bytes::from_static(b"a"))
                .await
                .unwrap()
        );
        assert!(
            !s.put_if_absent("_catalog/v1", Bytes::from_static(b"b"))
                .await
                .unwrap()
        );
        assert_eq!(
            s.get("_catalog/v1").await.unwrap(),
            Bytes::from_static(b"a")
        );
    }
}
