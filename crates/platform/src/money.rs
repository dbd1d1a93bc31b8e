//! Exact money: an amount in minor units (cents), never a binary float in storage or arithmetic.
//!
//! On the wire it keeps the numeric shape of the Spring API, where prices are Java `double`s
//! (`890.0`, `420.5`). Writing a value of at most 15 significant digits through `f64` and the
//! shortest round-trip formatter prints exactly the decimal we hold, so the JSON is exact. On
//! input, a JSON number is read back through the same shortest representation and must have at
//! most two decimals; anything finer is rejected rather than rounded.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// The largest amount accepted: 10^13 cents, far below where `f64` loses exactness.
const MAX_CENTS: i64 = 10_000_000_000_000;

/// An exact amount of money, in cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

/// Why a text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not a decimal number at all.
    #[error("must be a decimal number")]
    NotANumber,
    /// More than two decimals.
    #[error("must have at most two decimal places")]
    TooPrecise,
    /// Beyond the supported range.
    #[error("must be smaller than 100000000000 in magnitude")]
    OutOfRange,
}

impl Money {
    /// An amount of `cents` minor units.
    pub const fn from_cents(cents: i64) -> Self {
        Self(cents)
    }

    /// The amount in minor units.
    pub const fn cents(self) -> i64 {
        self.0
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Parses a decimal text such as `890`, `420.5`, `-0.25` or `1e2`.
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let text = text.trim();
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(i) => (
                &text[..i],
                text[i + 1..]
                    .parse::<i32>()
                    .map_err(|_| MoneyError::NotANumber)?,
            ),
            None => (text, 0),
        };
        let (negative, digits) = match mantissa.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        if int_part.is_empty() && frac_part.is_empty()
            || !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(MoneyError::NotANumber);
        }
        // All digits as one integer, with the decimal point `scale` places from the right.
        let all: String = format!("{int_part}{frac_part}");
        let all = all.trim_start_matches('0');
        let scale = i64::from(frac_part.len() as u32) - i64::from(exponent);
        let significant = all.trim_end_matches('0');
        let trailing_zeros = (all.len() - significant.len()) as i64;
        // Value = significant * 10^(trailing_zeros - scale); cents need exponent >= -2.
        let exp10 = trailing_zeros - scale + 2;
        if significant.is_empty() {
            return Ok(Self(0));
        }
        if exp10 < 0 {
            return Err(MoneyError::TooPrecise);
        }
        if significant.len() as i64 + exp10 > 14 {
            return Err(MoneyError::OutOfRange);
        }
        let base: i64 = significant.parse().map_err(|_| MoneyError::OutOfRange)?;
        let cents = base
            .checked_mul(
                10_i64
                    .checked_pow(exp10 as u32)
                    .ok_or(MoneyError::OutOfRange)?,
            )
            .filter(|c| *c <= MAX_CENTS)
            .ok_or(MoneyError::OutOfRange)?;
        Ok(Self(if negative { -cents } else { cents }))
    }

    /// `self × quantity`, exact; `None` on overflow.
    pub fn times(self, quantity: i64) -> Option<Self> {
        self.0.checked_mul(quantity).map(Self)
    }

    /// The amount as the JSON number Spring would print.
    pub fn to_json_number(self) -> serde_json::Value {
        // Exact: |cents| <= 10^13 has at most 14 significant digits (see module docs).
        let value = self.0 as f64 / 100.0;
        serde_json::Number::from_f64(value)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0 as f64 / 100.0)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Money;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal amount with at most two decimals")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Money, E> {
                Money::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Money, E> {
                Money::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Money, E> {
                if !v.is_finite() {
                    return Err(E::custom(MoneyError::NotANumber));
                }
                // `{}` on f64 prints the shortest text that reads back as the same double.
                Money::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Money, E> {
                Money::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(Money::parse("890").unwrap().cents(), 89_000);
        assert_eq!(Money::parse("420.5").unwrap().cents(), 42_050);
        assert_eq!(Money::parse("0.1").unwrap().cents(), 10);
        assert_eq!(Money::parse("-0.25").unwrap().cents(), -25);
        assert_eq!(Money::parse("1.5e2").unwrap().cents(), 15_000);
        assert_eq!(Money::parse("0.00").unwrap().cents(), 0);
        assert_eq!(Money::parse("12.300").unwrap().cents(), 1_230);
    }

    #[test]
    fn rejects_what_it_cannot_hold_exactly() {
        assert_eq!(Money::parse("0.001"), Err(MoneyError::TooPrecise));
        assert_eq!(Money::parse("1e20"), Err(MoneyError::OutOfRange));
        assert_eq!(Money::parse("abc"), Err(MoneyError::NotANumber));
        assert_eq!(Money::parse("."), Err(MoneyError::NotANumber));
        assert_eq!(Money::parse("1e999999999999"), Err(MoneyError::NotANumber));
    }

    #[test]
    fn json_keeps_springs_double_shape() {
        assert_eq!(
            serde_json::to_string(&Money::from_cents(89_000)).unwrap(),
            "890.0"
        );
        assert_eq!(
            serde_json::to_string(&Money::from_cents(10)).unwrap(),
            "0.1"
        );
        let m: Money = serde_json::from_str("0.1").unwrap();
        assert_eq!(m.cents(), 10);
        // Sums stay exact where doubles do not (0.1 + 0.2).
        let sum = Money::from_cents(m.cents() + Money::parse("0.2").unwrap().cents());
        assert_eq!(serde_json::to_string(&sum).unwrap(), "0.3");
    }
}
