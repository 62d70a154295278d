//! Which compute kernels run: the processor's vector instructions (AVX2, FMA and F16C on
//! x86-64) or their portable twins in plain Rust.
//!
//! Every SIMD path of the crate (the embedder's matrix products, attention, layer norms and
//! activations; the vector scan's dot products) has a portable twin, which runs by itself on
//! a processor without those instructions (aarch64 among them). `LAKEHOUSE_KERNEL=portable`
//! forces the twins on any machine, so that tests run them where the vector kernels would
//! otherwise always win (CI runs the embedding golden tests both ways), and so that a user
//! who suspects a kernel can compare.
//!
//! ```
//! use lakehouse_core::simd::Kernels;
//! assert_eq!("portable".parse::<Kernels>().unwrap(), Kernels::Portable);
//! assert!(Kernels::from_env_value(Some("avx512")).is_err());
//! ```

use std::sync::OnceLock;

use serde::Serialize;

use crate::error::Result;

/// The environment variable that chooses the [`Kernels`] (`native`, the default, or
/// `portable`).
pub const KERNEL_ENV: &str = "LAKEHOUSE_KERNEL";

/// A family of compute kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kernels {
    /// The processor's vector instructions where it has them, the portable kernels where
    /// not.
    Native,
    /// The portable kernels everywhere.
    Portable,
}

crate::choice::choices!(Kernels, "kernel", {
    Native => ["native"],
    Portable => ["portable"],
});

impl Kernels {
    /// The kernels this process runs: [`KERNEL_ENV`] when set, read once. A value that does
    /// not parse counts as `native` here (compute cannot fail over a setting);
    /// [`Kernels::check_env`], which `Lakehouse::open` calls, reports it as an error.
    pub fn current() -> Self {
        static CURRENT: OnceLock<Kernels> = OnceLock::new();
        *CURRENT.get_or_init(|| {
            Self::from_env_value(std::env::var(KERNEL_ENV).ok().as_deref()).unwrap_or_else(|e| {
                tracing::warn!("{e}; running the native kernels");
                Kernels::Native
            })
        })
    }

    /// The kernels a value of [`KERNEL_ENV`] names (`None`, unset, is native).
    pub fn from_env_value(value: Option<&str>) -> Result<Self> {
        match value {
            None => Ok(Kernels::Native),
            Some(v) => v.parse().map_err(|e| match e {
                crate::Error::InvalidInput(m) => {
                    crate::Error::invalid(format!("{KERNEL_ENV}: {m}"))
                }
                other => other,
            }),
        }
    }

    /// A typed error when [`KERNEL_ENV`] is set to something that is not a kernel family.
    pub fn check_env() -> Result<()> {
        Self::from_env_value(std::env::var(KERNEL_ENV).ok().as_deref()).map(|_| ())
    }

    /// What runs here, for reports (`doctor`): the family and, for native kernels, the
    /// instructions found.
    pub fn describe() -> String {
        match Self::current() {
            Kernels::Portable => format!("portable (forced by {KERNEL_ENV})"),
            Kernels::Native => {
                let found: Vec<&str> = [("avx2", avx2()), ("fma", fma()), ("f16c", f16c())]
                    .into_iter()
                    .filter_map(|(name, has)| has.then_some(name))
                    .collect();
                if found.is_empty() {
                    "native (no vector instructions found: portable kernels)".to_string()
                } else {
                    format!("native ({})", found.join(", "))
                }
            }
        }
    }
}

/// Whether the native kernels run and the processor has AVX2.
pub(crate) fn avx2() -> bool {
    native() && detected::avx2()
}

/// Whether the native kernels run and the processor has AVX2 and FMA.
pub(crate) fn avx2_fma() -> bool {
    avx2() && fma()
}

/// Whether the native kernels run and the processor has AVX2, FMA and F16C.
pub(crate) fn avx2_fma_f16c() -> bool {
    avx2_fma() && f16c()
}

fn native() -> bool {
    Kernels::current() == Kernels::Native
}

fn fma() -> bool {
    native() && detected::fma()
}

fn f16c() -> bool {
    native() && detected::f16c()
}

#[cfg(target_arch = "x86_64")]
mod detected {
    // The standard library caches what it detected: each is one load.
    pub fn avx2() -> bool {
        std::arch::is_x86_feature_detected!("avx2")
    }
    pub fn fma() -> bool {
        std::arch::is_x86_feature_detected!("fma")
    }
    pub fn f16c() -> bool {
        std::arch::is_x86_feature_detected!("f16c")
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod detected {
    pub fn avx2() -> bool {
        false
    }
    pub fn fma() -> bool {
        false
    }
    pub fn f16c() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names_parse_and_bad_values_are_errors() {
        crate::choice::check_names(Kernels::NAMES, |k| k.as_str());
        assert_eq!(Kernels::from_env_value(None).unwrap(), Kernels::Native);
        assert_eq!(
            Kernels::from_env_value(Some(" Portable ")).unwrap(),
            Kernels::Portable
        );
        let e = Kernels::from_env_value(Some("neon")).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("LAKEHOUSE_KERNEL"), "{e}");
        assert!(e.to_string().contains("native, portable"), "{e}");
    }

    /// Whatever this process was started with, the vector paths are off when the portable
    /// kernels are chosen (the CI run with `LAKEHOUSE_KERNEL=portable` checks that side).
    #[test]
    fn portable_kernels_use_no_vector_instructions() {
        if Kernels::current() == Kernels::Portable {
            assert!(!avx2() && !avx2_fma() && !avx2_fma_f16c());
            assert!(Kernels::describe().starts_with("portable"));
        } else {
            assert_eq!(avx2(), detected::avx2());
            assert!(Kernels::describe().starts_with("native"));
        }
    }
}
