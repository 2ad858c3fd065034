//! Kubernetes resource quantities (`4`, `500m`, `8Gi`, `1.5G`, `1e3`).
//!
//! Grammar and error text follow k8s.io/apimachinery/pkg/api/resource/quantity.go:
//! a signed decimal number followed by a binary-SI suffix (Ki, Mi, Gi, Ti, Pi,
//! Ei), a decimal-SI suffix (n, u, m, k, M, G, T, P, E) or a decimal exponent
//! (`e3`, `E-2`). Values are held in thousandths (milli-units), which is exact for
//! every CPU and memory figure the simulation needs.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The message apimachinery returns for a malformed quantity (ErrFormatWrong).
pub const ERR_FORMAT_WRONG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// A parsed quantity, keeping the text it was written as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quantity {
    text: String,
    millis: i128,
}

impl Quantity {
    /// Parses a quantity; fractions below one milli-unit round up, as
    /// apimachinery's `MilliValue` does.
    pub fn parse(text: &str) -> Result<Quantity, String> {
        let err = || ERR_FORMAT_WRONG.to_string();
        let (negative, body) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let num_len = body.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(body.len());
        let (number, suffix) = body.split_at(num_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(err());
        }
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        // (multiplier numerator as power of 2, power of 10)
        let (pow2, pow10): (u32, i32) = match suffix {
            "" => (0, 0),
            "Ki" => (10, 0),
            "Mi" => (20, 0),
            "Gi" => (30, 0),
            "Ti" => (40, 0),
            "Pi" => (50, 0),
            "Ei" => (60, 0),
            "n" => (0, -9),
            "u" => (0, -6),
            "m" => (0, -3),
            "k" => (0, 3),
            "M" => (0, 6),
            "G" => (0, 9),
            "T" => (0, 12),
            "P" => (0, 15),
            "E" => (0, 18),
            s if s.starts_with(['e', 'E']) => {
                let exp: i32 = s[1..].parse().map_err(|_| err())?;
                if !(-30..=30).contains(&exp) {
                    return Err("quantity exponent out of range".into());
                }
                (0, exp)
            }
            _ => return Err(err()),
        };
        // digits as an integer scaled by 10^-frac_len
        let digits = format!("{int_part}{frac_part}");
        let mantissa: i128 = digits.parse().map_err(|_| "quantity is too large".to_string())?;
        let mut scale10 = pow10 + 3 - frac_part.len() as i32; // result in milli-units
        let mut value = mantissa.checked_mul(1i128 << pow2).ok_or("quantity is too large")?;
        while scale10 > 0 {
            value = value.checked_mul(10).ok_or("quantity is too large")?;
            scale10 -= 1;
        }
        let mut rounded_up = false;
        while scale10 < 0 {
            rounded_up |= value % 10 != 0;
            value /= 10;
            scale10 += 1;
        }
        if rounded_up {
            value += 1;
        }
        if value > i128::from(i64::MAX) {
            return Err("quantity is too large".into());
        }
        Ok(Quantity { text: text.to_string(), millis: if negative { -value } else { value } })
    }

    /// The value in thousandths (CPU millicores), rounded up.
    pub fn millis(&self) -> i128 {
        self.millis
    }

    /// The value in whole units (bytes for memory), rounded up like apimachinery's `Value`.
    pub fn value(&self) -> i128 {
        let whole = self.millis.div_euclid(1000);
        if self.millis.rem_euclid(1000) == 0 {
            whole
        } else {
            whole + 1
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // YAML writes `cpu: 4` as a number; accept it the way kubectl does.
        let text = deserializer.deserialize_any(ScalarText)?;
        Quantity::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Reads a YAML/JSON scalar (string, integer or float) as its text. A visitor
/// rather than an untagged enum, so that errors point at the scalar itself.
pub(crate) struct ScalarText;

impl serde::de::Visitor<'_> for ScalarText {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_memory_forms() {
        let cases: [(&str, i128); 12] = [
            ("4", 4_000),
            ("500m", 500),
            ("0.5", 500),
            ("1.5", 1_500),
            ("8Gi", 8 * (1 << 30) * 1000),
            ("128Mi", 128 * (1 << 20) * 1000),
            ("1k", 1_000_000),
            ("1G", 1_000_000_000_000),
            ("1e3", 1_000_000),
            ("100n", 1), // rounds up to one milli-unit
            ("-2", -2_000),
            ("+1Ki", 1_024_000),
        ];
        for (text, millis) in cases {
            assert_eq!(Quantity::parse(text).map(|q| q.millis()), Ok(millis), "{text}");
        }
        assert_eq!(Quantity::parse("8Gi").unwrap().value(), 8 << 30);
        assert_eq!(Quantity::parse("1500m").unwrap().value(), 2);
    }

    #[test]
    fn rejects_malformed_with_apimachinery_message() {
        for bad in ["", "x", "4x", "1.2.3", "Gi", ".", "1 Gi", "4GiB"] {
            assert_eq!(Quantity::parse(bad), Err(ERR_FORMAT_WRONG.to_string()), "{bad:?}");
        }
        assert!(Quantity::parse("99999999999999999999999999Ei").is_err());
    }
}
