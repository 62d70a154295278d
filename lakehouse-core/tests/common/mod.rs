//! Helpers shared by the integration tests.

use lakehouse_core::{Options, embed};

/// Options that use the installed default model, failing with the install command when it
/// is missing (scripts/test.sh installs it).
#[allow(dead_code)]
pub fn model_options() -> Options {
    let model = embed::default_model_dir();
    assert!(
        model.join("config.json").exists(),
        "the default model is not installed at {}: run `lakehouse model install` \
         (scripts/test.sh does)",
        model.display()
    );
    Options {
        model: Some(model),
        ..Options::default()
    }
}
