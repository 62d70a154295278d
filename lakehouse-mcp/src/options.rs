//! [`McpOptions`]: what an agent may do through the MCP server, and its limits.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lakehouse_core::{Error, Result};

/// Longest one tool call or resource read may run unless set otherwise.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest structured result a call returns unless set otherwise (16 MiB).
pub const DEFAULT_MAX_RESULT_BYTES: usize = 16 * 1024 * 1024;
/// Most rows `query_sql` returns, whatever the caller asks for, unless set otherwise.
pub const DEFAULT_MAX_ROWS: usize = 10_000;
/// Rows `query_sql` returns when the caller names no `max_rows`.
pub const DEFAULT_ROWS: usize = 100;

/// What the MCP server allows. The default is read-only: writing tools (`ingest`,
/// `record_playbook`) are neither listed nor callable until `allow_writes` is set, and
/// `ingest` also needs at least one folder in `allow_dirs`.
///
/// ```
/// use lakehouse_mcp::McpOptions;
/// let options = McpOptions::default();
/// assert!(!options.allow_writes && options.allow_dirs.is_empty());
/// assert_eq!(options.call_timeout.as_secs(), 30);
/// ```
#[derive(Debug, Clone)]
pub struct McpOptions {
    /// Whether the writing tools are on.
    pub allow_writes: bool,
    /// Folders whose files (below them, after resolving links and `..`) `ingest` may read.
    /// Empty turns `ingest` off.
    pub allow_dirs: Vec<PathBuf>,
    /// Longest one call may run; past it the call ends with a `timeout` error result.
    pub call_timeout: Duration,
    /// Largest structured result in bytes (JSON); `query_sql` cuts rows to fit, other tools
    /// answer with a `too_large` error result.
    pub max_result_bytes: usize,
    /// Most rows `query_sql` returns.
    pub max_rows: usize,
}

impl Default for McpOptions {
    fn default() -> Self {
        Self {
            allow_writes: false,
            allow_dirs: Vec::new(),
            call_timeout: DEFAULT_CALL_TIMEOUT,
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
            max_rows: DEFAULT_MAX_ROWS,
        }
    }
}

impl McpOptions {
    /// Checks the limits and resolves `allow_dirs` to canonical folders (each must exist).
    pub(crate) fn checked(&self) -> Result<Vec<PathBuf>> {
        if self.call_timeout.is_zero() {
            return Err(Error::InvalidInput(
                "the call timeout must be above 0".into(),
            ));
        }
        if self.max_result_bytes < 1024 {
            return Err(Error::InvalidInput(
                "the result cap must be at least 1024 bytes".into(),
            ));
        }
        if self.max_rows == 0 {
            return Err(Error::InvalidInput("max_rows must be at least 1".into()));
        }
        self.allow_dirs
            .iter()
            .map(|d| {
                let canonical = d.canonicalize().map_err(|e| {
                    Error::InvalidInput(format!("allowed folder {}: {e}", d.display()))
                })?;
                if !canonical.is_dir() {
                    return Err(Error::InvalidInput(format!(
                        "allowed folder {} is not a folder",
                        d.display()
                    )));
                }
                Ok(canonical)
            })
            .collect()
    }
}

/// The canonical form of `path` if it lies inside one of `allowed` (canonical folders);
/// links and `..` are resolved first, so neither leads out.
pub(crate) fn inside(path: &Path, allowed: &[PathBuf]) -> Result<PathBuf> {
    let refused = || {
        Error::NotAllowed(format!(
            "{} is outside the folders this server may read",
            path.display()
        ))
    };
    if allowed.is_empty() {
        return Err(refused());
    }
    if !path.is_absolute() {
        return Err(Error::InvalidInput(format!(
            "give an absolute path, not {}",
            path.display()
        )));
    }
    // A path that does not resolve is refused the same way as one outside, so that a
    // caller cannot probe which files exist elsewhere.
    let canonical = path.canonicalize().map_err(|_| refused())?;
    if allowed.iter().any(|dir| canonical.starts_with(dir)) && canonical.is_file() {
        Ok(canonical)
    } else {
        Err(refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakehouse_core::ErrorKind;

    #[test]
    fn paths_stay_inside_the_allowed_folders() {
        let root = tempfile::tempdir().unwrap();
        let allowed = root.path().join("in");
        let other = root.path().join("out");
        std::fs::create_dir_all(&allowed).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(allowed.join("a.csv"), "x\n1\n").unwrap();
        std::fs::write(other.join("b.csv"), "x\n1\n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(other.join("b.csv"), allowed.join("link.csv")).unwrap();
        let options = McpOptions {
            allow_dirs: vec![allowed.clone()],
            ..McpOptions::default()
        };
        let dirs = options.checked().unwrap();

        let ok = inside(&allowed.join("a.csv"), &dirs).unwrap();
        assert!(ok.ends_with("in/a.csv"));
        for bad in [
            other.join("b.csv"),
            allowed.join("../out/b.csv"),
            allowed.join("missing.csv"),
            allowed.clone(),
            #[cfg(unix)]
            allowed.join("link.csv"),
        ] {
            let e = inside(&bad, &dirs).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Validation, "{}", bad.display());
        }
        assert_eq!(
            inside(Path::new("in/a.csv"), &dirs).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            inside(&allowed.join("a.csv"), &[]).unwrap_err().kind(),
            ErrorKind::Validation
        );
    }

    #[test]
    fn limits_are_checked() {
        let bad = [
            McpOptions {
                call_timeout: Duration::ZERO,
                ..McpOptions::default()
            },
            McpOptions {
                max_result_bytes: 10,
                ..McpOptions::default()
            },
            McpOptions {
                max_rows: 0,
                ..McpOptions::default()
            },
            McpOptions {
                allow_dirs: vec!["/no/such/folder/anywhere".into()],
                ..McpOptions::default()
            },
        ];
        for options in bad {
            assert_eq!(
                options.checked().unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "{options:?}"
            );
        }
        assert!(McpOptions::default().checked().unwrap().is_empty());
    }
}
