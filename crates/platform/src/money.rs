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
    /// More decimals than the type holds.
    #[error("must have at most {0} decimal places")]
    TooPrecise(u32),
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

    /// Parses a decimal text such as `890`, `420.5`, `-0.25` or `1e2`.
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        parse_scaled(text, 2).map(Self)
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

/// Parses a decimal text into an integer count of `10^-decimals` units, exactly: `("420.5", 2)`
/// is `42050`. More decimals than `decimals` is an error, never a rounding.
pub fn parse_scaled(text: &str, decimals: u32) -> Result<i64, MoneyError> {
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
    let scale = i64::try_from(frac_part.len()).unwrap_or(i64::MAX) - i64::from(exponent);
    let significant = all.trim_end_matches('0');
    let trailing_zeros = (all.len() - significant.len()) as i64;
    // Value = significant * 10^(trailing_zeros - scale); units need that exponent >= -decimals.
    let exp10 = trailing_zeros - scale + i64::from(decimals);
    if significant.is_empty() {
        return Ok(0);
    }
    if exp10 < 0 {
        return Err(MoneyError::TooPrecise(decimals));
    }
    if significant.len() as i64 + exp10 > 14 {
        return Err(MoneyError::OutOfRange);
    }
    let base: i64 = significant.parse().map_err(|_| MoneyError::OutOfRange)?;
    let units = base
        .checked_mul(
            10_i64
                .checked_pow(exp10 as u32)
                .ok_or(MoneyError::OutOfRange)?,
        )
        .filter(|u| *u <= MAX_CENTS)
        .ok_or(MoneyError::OutOfRange)?;
    Ok(if negative { -units } else { units })
}

/// An exact rate such as a discount, in ten-thousandths (`0.42` is 4200): four decimals, the
/// JSON shape of a Java `double`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Rate(i64);

impl Rate {
    /// Units per whole (1.0).
    pub const ONE: i64 = 10_000;

    /// A rate of `units` ten-thousandths.
    pub const fn from_units(units: i64) -> Self {
        Self(units)
    }

    /// The rate in ten-thousandths.
    pub const fn units(self) -> i64 {
        self.0
    }

    /// Parses `0.42`, `1`, `0.0375`.
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        parse_scaled(text, 4).map(Self)
    }

    /// The rate as the JSON number Spring would print.
    pub fn to_json_number(self) -> serde_json::Value {
        serde_json::Number::from_f64(self.0 as f64 / Self::ONE as f64)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:04}", abs / 10_000, abs % 10_000)
    }
}

impl Money {
    /// The amount of `quantity` units at this price less `discount`, rounded to the cent
    /// (half away from zero); exact integer arithmetic throughout. `None` on overflow.
    pub fn line_amount(self, quantity: i64, discount: Rate) -> Option<Money> {
        let gross = i128::from(self.0).checked_mul(i128::from(quantity))?;
        let scaled = gross.checked_mul(i128::from(Rate::ONE - discount.0))?;
        let one = i128::from(Rate::ONE);
        let rounded = if scaled >= 0 {
            (scaled + one / 2) / one
        } else {
            (scaled - one / 2) / one
        };
        i64::try_from(rounded).ok().map(Money)
    }

    /// `rate` of this amount (a tax on a base), rounded to the cent half away from zero;
    /// exact integer arithmetic. `None` on overflow.
    pub fn share(self, rate: Rate) -> Option<Money> {
        let scaled = i128::from(self.0).checked_mul(i128::from(rate.0))?;
        let one = i128::from(Rate::ONE);
        let rounded = if scaled >= 0 {
            (scaled + one / 2) / one
        } else {
            (scaled - one / 2) / one
        };
        i64::try_from(rounded).ok().map(Money)
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
        assert_eq!(Money::parse("0.001"), Err(MoneyError::TooPrecise(2)));
        assert_eq!(Money::parse("1e20"), Err(MoneyError::OutOfRange));
        assert_eq!(Money::parse("abc"), Err(MoneyError::NotANumber));
        assert_eq!(Money::parse("."), Err(MoneyError::NotANumber));
        assert_eq!(Money::parse("1e999999999999"), Err(MoneyError::NotANumber));
    }

    #[test]
    fn rates_have_four_decimals_and_line_amounts_round_to_the_cent() {
        assert_eq!(Rate::parse("0.42").unwrap().units(), 4_200);
        assert_eq!(Rate::parse("0.00005"), Err(MoneyError::TooPrecise(4)));
        assert_eq!(
            serde_json::to_string(&Rate::parse("0.42").unwrap().to_json_number()).unwrap(),
            "0.42"
        );
        let desk = Money::parse("890").unwrap();
        assert_eq!(
            desk.line_amount(3, Rate::parse("0.42").unwrap()),
            Some(Money::from_cents(154_860))
        );
        assert_eq!(
            desk.line_amount(2, Rate::default()),
            Some(Money::from_cents(178_000))
        );
        // 0.01 × 1 × (1 − 0.5) = 0.005 → half away from zero → 0.01
        assert_eq!(
            Money::from_cents(1).line_amount(1, Rate::from_units(5_000)),
            Some(Money::from_cents(1))
        );
        assert_eq!(
            Money::from_cents(i64::MAX).line_amount(i64::MAX, Rate::default()),
            None
        );
    }

    #[test]
    fn a_share_is_rounded_to_the_cent_half_away_from_zero() {
        let rate = |text: &str| Rate::parse(text).unwrap();
        let base = Money::from_cents(1999);
        assert_eq!(base.share(rate("0.055")), Some(Money::from_cents(110)));
        assert_eq!(base.share(rate("0.2")), Some(Money::from_cents(400)));
        assert_eq!(
            Money::from_cents(25).share(rate("0.1")),
            Some(Money::from_cents(3))
        );
        assert_eq!(
            Money::from_cents(-25).share(rate("0.1")),
            Some(Money::from_cents(-3))
        );
        assert_eq!(
            Money::from_cents(i64::MAX).share(Rate::from_units(Rate::ONE * 2)),
            None
        );
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
