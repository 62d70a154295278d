//! A store for tests that fails the way remote stores do: a write the store took whose
//! answer never arrives, a retried write that finds its own first attempt, a store that
//! does not answer at all.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// How the next write to a matching path fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Stored, then answered "already exists" (what a client that retried a lost answer
    /// sees).
    StoredThenExists,
    /// Stored, then answered with an error.
    StoredThenError,
    /// Stored, then answered with an error, and every read fails until [`Flaky::heal`]
    /// (the writer cannot find out).
    StoredThenDown,
    /// Not stored; answered with an error, and every read fails until [`Flaky::heal`].
    Down,
}

/// Wraps a store; one armed fault at a time.
#[derive(Debug)]
pub(crate) struct Flaky {
    inner: Arc<dyn ObjectStore>,
    armed: Mutex<Option<(String, Fault)>>,
    down: Mutex<bool>,
}

impl Flaky {
    pub(crate) fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            armed: Mutex::new(None),
            down: Mutex::new(false),
        }
    }

    /// The next write whose path contains `pattern` fails with `fault`.
    pub(crate) fn arm(&self, pattern: &str, fault: Fault) {
        *self.armed.lock().unwrap() = Some((pattern.to_string(), fault));
    }

    /// Whether the armed fault has not fired yet.
    pub(crate) fn armed(&self) -> bool {
        self.armed.lock().unwrap().is_some()
    }

    /// The store answers again.
    pub(crate) fn heal(&self) {
        *self.down.lock().unwrap() = false;
    }

    fn is_down(&self) -> Result<()> {
        if *self.down.lock().unwrap() {
            return Err(unavailable());
        }
        Ok(())
    }

    fn fault_for(&self, location: &Path) -> Option<Fault> {
        let mut armed = self.armed.lock().unwrap();
        let fires = armed
            .as_ref()
            .is_some_and(|(pattern, _)| location.as_ref().contains(pattern.as_str()));
        fires.then(|| armed.take().expect("armed").1)
    }
}

fn unavailable() -> object_store::Error {
    object_store::Error::Generic {
        store: "flaky",
        source: "503 Service Unavailable (injected)".into(),
    }
}

impl fmt::Display for Flaky {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flaky({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for Flaky {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.is_down()?;
        match self.fault_for(location) {
            None => self.inner.put_opts(location, payload, opts).await,
            Some(Fault::StoredThenExists) => {
                self.inner.put_opts(location, payload, opts).await?;
                Err(object_store::Error::AlreadyExists {
                    path: location.to_string(),
                    source: "412 Precondition Failed (injected)".into(),
                })
            }
            Some(Fault::StoredThenError) => {
                self.inner.put_opts(location, payload, opts).await?;
                Err(unavailable())
            }
            Some(Fault::StoredThenDown) => {
                self.inner.put_opts(location, payload, opts).await?;
                *self.down.lock().unwrap() = true;
                Err(unavailable())
            }
            Some(Fault::Down) => {
                *self.down.lock().unwrap() = true;
                Err(unavailable())
            }
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.is_down()?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.is_down()?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.is_down()?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.is_down()?;
        self.inner.copy_opts(from, to, options).await
    }
}
