//! Helpers shared by the integration tests.

use lakehouse_core::{Options, embed};

/// The installed default model's folder, failing with the install command when it is
/// missing (scripts/test.sh installs it).
#[allow(dead_code)]
pub fn model_dir() -> std::path::PathBuf {
    let model = embed::default_model_dir();
    assert!(
        model.join("config.json").exists(),
        "the default model is not installed at {}: run `lakehouse model install` \
         (scripts/test.sh does)",
        model.display()
    );
    model
}

/// Options that use the installed default model.
#[allow(dead_code)]
pub fn model_options() -> Options {
    Options {
        model: Some(model_dir()),
        ..Options::default()
    }
}
