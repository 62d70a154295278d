//! Type inference for text columns: each value is classified and classes merge up a small
//! lattice. Ambiguous columns (e.g. numbers mixed with words) become strings.

use arrow::datatypes::{DataType, TimeUnit};

/// The inferred class of a column so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Only empty values seen.
    Null,
    Bool,
    Int,
    Float,
    Date,
    Timestamp,
    Utf8,
}

impl Kind {
    /// Classifies one CSV field; empty means null.
    pub(crate) fn of_text(s: &str) -> Kind {
        if s.is_empty() {
            return Kind::Null;
        }
        if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") {
            return Kind::Bool;
        }
        if is_int(s) {
            return if s.parse::<i64>().is_ok() {
                Kind::Int
            } else {
                Kind::Utf8
            };
        }
        if is_float(s) {
            return Kind::Float;
        }
        if is_date(s) {
            return Kind::Date;
        }
        if is_timestamp(s) {
            return Kind::Timestamp;
        }
        Kind::Utf8
    }

    /// Classifies one JSON value; nested values are kept as JSON text.
    pub(crate) fn of_json(v: &serde_json::Value) -> Kind {
        use serde_json::Value as V;
        match v {
            V::Null => Kind::Null,
            V::Bool(_) => Kind::Bool,
            V::Number(n) if n.is_i64() => Kind::Int,
            V::Number(_) => Kind::Float,
            V::String(_) | V::Array(_) | V::Object(_) => Kind::Utf8,
        }
    }

    /// The least class holding both.
    pub(crate) fn merge(self, other: Kind) -> Kind {
        use Kind::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Null, x) | (x, Null) => x,
            (Int, Float) | (Float, Int) => Float,
            (Date, Timestamp) | (Timestamp, Date) => Timestamp,
            _ => Utf8,
        }
    }

    /// The Arrow type stored for this class (all-null columns become strings).
    pub(crate) fn data_type(self) -> DataType {
        match self {
            Kind::Bool => DataType::Boolean,
            Kind::Int => DataType::Int64,
            Kind::Float => DataType::Float64,
            Kind::Date => DataType::Date32,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::Null | Kind::Utf8 => DataType::Utf8,
        }
    }

    /// Whether values of this class can be stored in a column of type `target` (for appends
    /// to an existing dataset, whose schema wins).
    pub(crate) fn fits(self, target: &DataType) -> bool {
        match self {
            Kind::Null => true,
            _ if *target == DataType::Utf8 => true,
            Kind::Int => matches!(target, DataType::Int64 | DataType::Float64),
            Kind::Date => matches!(target, DataType::Date32 | DataType::Timestamp(_, None)),
            k => k.data_type() == *target,
        }
    }
}

/// Digits with an optional minus; a leading zero (as in zip codes, "007") is not a number.
fn is_int(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !(digits.len() > 1 && digits.starts_with('0'))
}

fn is_float(s: &str) -> bool {
    // Only plain decimal notation: no "inf", "NaN", hex, or leading '+'.
    let body = s.strip_prefix('-').unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(int_part)
        && frac.is_none_or(digits)
        && (!int_part.is_empty() || frac.is_some_and(|f| !f.is_empty()))
        && !(int_part.len() > 1 && int_part.starts_with('0'));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok && (frac.is_some() || exponent.is_some())
}

/// `YYYY-MM-DD` naming a real calendar day.
fn is_date(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// `YYYY-MM-DD HH:MM:SS[.fraction]` or with `T`, without a zone.
fn is_timestamp(s: &str) -> bool {
    s.len() >= 19
        && matches!(s.as_bytes()[10], b'T' | b' ')
        && (chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
            || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_text() {
        let cases = [
            ("", Kind::Null),
            ("42", Kind::Int),
            ("-7", Kind::Int),
            ("0", Kind::Int),
            ("007", Kind::Utf8),
            ("99999999999999999999", Kind::Utf8),
            ("3.5", Kind::Float),
            ("-0.25", Kind::Float),
            ("1e6", Kind::Float),
            (".5", Kind::Float),
            ("inf", Kind::Utf8),
            ("NaN", Kind::Utf8),
            ("+5", Kind::Utf8),
            ("TRUE", Kind::Bool),
            ("false", Kind::Bool),
            ("2024-02-29", Kind::Date),
            ("2023-02-29", Kind::Utf8),
            ("2024-01-05T10:30:00", Kind::Timestamp),
            ("2024-01-05 10:30:00.123", Kind::Timestamp),
            ("Alice", Kind::Utf8),
            ("555-123-4567", Kind::Utf8),
        ];
        for (text, kind) in cases {
            assert_eq!(Kind::of_text(text), kind, "{text:?}");
        }
    }

    #[test]
    fn merges_up_the_lattice() {
        assert_eq!(Kind::Int.merge(Kind::Float), Kind::Float);
        assert_eq!(Kind::Null.merge(Kind::Int), Kind::Int);
        assert_eq!(Kind::Int.merge(Kind::Utf8), Kind::Utf8);
        assert_eq!(Kind::Bool.merge(Kind::Int), Kind::Utf8);
        assert_eq!(Kind::Date.merge(Kind::Timestamp), Kind::Timestamp);
        assert_eq!(Kind::Null.data_type(), DataType::Utf8);
    }

    #[test]
    fn fitting_into_existing_columns() {
        assert!(Kind::Int.fits(&DataType::Float64));
        assert!(Kind::Null.fits(&DataType::Int64));
        assert!(Kind::Float.fits(&DataType::Utf8));
        assert!(!Kind::Float.fits(&DataType::Int64));
        assert!(!Kind::Utf8.fits(&DataType::Int64));
    }
}
