//! Named choices (metric, quantization, format, ingest mode, purpose, precision): one table
//! of accepted spellings per type, and one parser built from it.
//!
//! Serde, the CLI, HTTP, Python and MCP all parse through the type's `FromStr`, so an alias
//! is accepted everywhere or nowhere; serialization writes the canonical name.

/// Implements, for an enum of named choices: `NAMES` (every accepted spelling, canonical
/// first), `as_str` (the canonical name), `FromStr` (case-insensitive, surrounding blanks
/// ignored, a typed [`crate::Error::InvalidInput`] naming the choices otherwise), `Display`,
/// and a `Deserialize` that goes through `FromStr`. `Serialize` stays derived, with
/// `rename_all` matching the canonical names (a test in each module checks it).
macro_rules! choices {
    ($ty:ident, $what:literal, { $($variant:ident => [$canonical:literal $(, $alias:literal)* $(,)?]),+ $(,)? }) => {
        impl $ty {
            /// Every accepted spelling and the choice it names; each choice's canonical name
            /// comes first.
            pub const NAMES: &'static [(&'static str, $ty)] = &[
                $( ($canonical, $ty::$variant), $( ($alias, $ty::$variant), )* )+
            ];

            /// The canonical name (what serialization writes).
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $ty::$variant => $canonical, )+
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::error::Error;

            fn from_str(s: &str) -> $crate::error::Result<Self> {
                let wanted = s.trim().to_ascii_lowercase();
                Self::NAMES
                    .iter()
                    .find(|(name, _)| *name == wanted)
                    .map(|(_, v)| *v)
                    .ok_or_else(|| {
                        $crate::error::Error::InvalidInput(format!(
                            concat!("unknown ", $what, " {:?}: use {}"),
                            s,
                            [$($canonical),+].join(", ")
                        ))
                    })
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(|e: $crate::error::Error| {
                    serde::de::Error::custom(match e {
                        $crate::error::Error::InvalidInput(m) => m,
                        other => other.to_string(),
                    })
                })
            }
        }
    };
}

pub(crate) use choices;

/// Checks that every name in `names` parses to its choice through `FromStr` and through
/// serde, and that serialization writes the canonical name.
#[cfg(test)]
pub(crate) fn check_names<T>(names: &[(&str, T)], canonical: impl Fn(&T) -> &'static str)
where
    T: std::str::FromStr<Err = crate::Error>
        + serde::Serialize
        + serde::de::DeserializeOwned
        + PartialEq
        + std::fmt::Debug,
{
    for (name, choice) in names {
        assert_eq!(&name.parse::<T>().unwrap(), choice, "{name}");
        assert_eq!(&name.to_ascii_uppercase().parse::<T>().unwrap(), choice);
        let via_serde: T = serde_json::from_value(serde_json::Value::from(*name)).unwrap();
        assert_eq!(&via_serde, choice, "{name} through serde");
        assert_eq!(
            serde_json::to_value(choice).unwrap(),
            serde_json::Value::from(canonical(choice))
        );
    }
    let err = "no-such-choice".parse::<T>().unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
    assert!(serde_json::from_value::<T>(serde_json::Value::from("no-such-choice")).is_err());
}
