//! Kubernetes resource quantities (`64Mi`, `1G`, `1.5Gi`, `500M`), enough to compare sizes.

use std::fmt;
use std::str::FromStr;

/// A quantity as the user wrote it, with its value in bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantity {
    text: String,
    bytes: f64,
}

impl Eq for Quantity {}

impl Quantity {
    pub fn bytes(&self) -> f64 {
        self.bytes
    }
}

const SUFFIXES: [(&str, f64); 13] = [
    ("Ki", 1024.0),
    ("Mi", 1048576.0),
    ("Gi", 1073741824.0),
    ("Ti", 1099511627776.0),
    ("Pi", 1125899906842624.0),
    ("Ei", 1152921504606846976.0),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
    ("E", 1e18),
    ("m", 1e-3),
];

impl FromStr for Quantity {
    type Err = String;

    /// Accepts the Kubernetes quantity forms: digits with an optional fraction, then an optional
    /// binary (`Ki`..`Ei`) or decimal (`k`, `M`..`E`, `m`) suffix, or an exponent (`1e9`).
    fn from_str(text: &str) -> Result<Self, String> {
        let (number, multiplier) = SUFFIXES
            .iter()
            .find_map(|(suffix, m)| text.strip_suffix(suffix).map(|n| (n, *m)))
            .unwrap_or((text, 1.0));
        let (mantissa, exponent) = match number.split_once(['e', 'E']) {
            Some((m, e)) if multiplier == 1.0 => (
                m,
                e.parse::<i32>()
                    .map_err(|_| format!("bad exponent {e:?}"))?,
            ),
            _ => (number, 0),
        };
        let valid = !mantissa.is_empty()
            && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && mantissa.bytes().filter(|&b| b == b'.').count() <= 1
            && mantissa.bytes().any(|b| b.is_ascii_digit());
        if !valid {
            return Err("expected a Kubernetes quantity such as 64Mi, 1Gi or 500M".to_string());
        }
        let value: f64 = mantissa
            .parse()
            .map_err(|_| "expected a Kubernetes quantity such as 64Mi".to_string())?;
        Ok(Quantity {
            text: text.to_string(),
            bytes: value * multiplier * 10f64.powi(exponent),
        })
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubernetes_forms() {
        let b = |s: &str| s.parse::<Quantity>().expect(s).bytes();
        assert_eq!(b("64Mi"), 64.0 * 1024.0 * 1024.0);
        assert_eq!(b("1G"), 1e9);
        assert_eq!(b("1.5Gi"), 1.5 * 1073741824.0);
        assert_eq!(b("128974848"), 128974848.0);
        assert_eq!(b("129e6"), 129e6);
        assert_eq!(b("100k"), 1e5);
        for bad in ["", "Mi", "64MB", "1.2.3", "-1Gi", "x"] {
            assert!(bad.parse::<Quantity>().is_err(), "{bad:?}");
        }
    }
}
