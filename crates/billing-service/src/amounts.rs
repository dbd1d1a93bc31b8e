//! What a bill comes to, computed in one place from its stored lines, in exact integer cents:
//! the full bill, payments (the amount still due) and credit notes all read it here.
//!
//! Each line's amount is `price × quantity × (1 − discount)`, rounded to the cent; that is
//! the line's value before tax. VAT is computed per rate, on the sum of the lines at that rate
//! (rounded to the cent once per rate, half away from zero), so the breakdown adds up exactly:
//! `before tax + Σ tax per rate = after tax`.

use std::collections::BTreeMap;

use platform::{
    ApiError,
    money::{Money, Rate},
    settings::{FromSection, Section, SettingsError},
};
use serde::{Serialize, Serializer};

use crate::repo::{StoredBill, StoredItem};

/// `factura.billing.vat.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VatSettings {
    /// `default-rate`: the VAT rate of a line that names none (0, as the seed's bills have no
    /// tax; e.g. `0.2` for 20 %). Written into the line when the bill is made or issued.
    pub default_rate: Rate,
}

impl FromSection for VatSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let default_rate = match section.get("default-rate") {
            None => Rate::default(),
            Some(raw) => Rate::parse(&raw)
                .ok()
                .filter(|r| (0..=Rate::ONE).contains(&r.units()))
                .ok_or_else(|| SettingsError::Invalid {
                    key: section.key("default-rate"),
                    value: raw.clone(),
                    expected: "a rate from 0 to 1 with at most four decimals (0.2 for 20 %)".into(),
                })?,
        };
        Ok(Self { default_rate })
    }
}

/// The tax at one rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TaxLine {
    /// The rate.
    #[serde(serialize_with = "rate_number")]
    pub rate: Rate,
    /// The sum of the line amounts at this rate.
    pub base: Money,
    /// `base × rate`, rounded to the cent.
    pub tax: Money,
}

fn rate_number<S: Serializer>(rate: &Rate, serializer: S) -> Result<S::Ok, S::Error> {
    rate.to_json_number().serialize(serializer)
}

/// A bill's totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    /// The sum of the line amounts.
    pub before_tax: Money,
    /// The sum of the taxes per rate.
    pub tax: Money,
    /// `before_tax + tax`.
    pub after_tax: Money,
    /// Per rate, lowest first.
    pub by_rate: Vec<TaxLine>,
}

impl Totals {
    /// The same totals with every amount negated (a credit note's).
    pub fn negated(&self) -> Self {
        let minus = |m: Money| Money::from_cents(-m.cents());
        Self {
            before_tax: minus(self.before_tax),
            tax: minus(self.tax),
            after_tax: minus(self.after_tax),
            by_rate: self
                .by_rate
                .iter()
                .map(|t| TaxLine {
                    rate: t.rate,
                    base: minus(t.base),
                    tax: minus(t.tax),
                })
                .collect(),
        }
    }
}

/// The line's rate, or `default` for a line that has none yet.
pub fn rate_of(item: &StoredItem, default: Rate) -> Rate {
    item.vat_rate.unwrap_or(default)
}

/// `price × quantity × (1 − discount)`, rounded to the cent.
pub fn line_amount(item: &StoredItem) -> Result<Money, ApiError> {
    item.price
        .line_amount(item.quantity, item.discount)
        .ok_or_else(|| anyhow::anyhow!("line amount of item {} overflows", item.id).into())
}

fn add(a: Money, b: Money) -> Result<Money, ApiError> {
    a.cents()
        .checked_add(b.cents())
        .map(Money::from_cents)
        .ok_or_else(|| anyhow::anyhow!("an amount overflows").into())
}

/// The totals of `items`, lines without a rate taxed at `default`.
pub fn totals_of(items: &[StoredItem], default: Rate) -> Result<Totals, ApiError> {
    let mut bases: BTreeMap<Rate, Money> = BTreeMap::new();
    for item in items {
        let base = bases.entry(rate_of(item, default)).or_default();
        *base = add(*base, line_amount(item)?)?;
    }
    let mut totals = Totals {
        before_tax: Money::default(),
        tax: Money::default(),
        after_tax: Money::default(),
        by_rate: Vec::with_capacity(bases.len()),
    };
    for (rate, base) in bases {
        let tax = base
            .share(rate)
            .ok_or_else(|| anyhow::anyhow!("a tax overflows"))?;
        totals.before_tax = add(totals.before_tax, base)?;
        totals.tax = add(totals.tax, tax)?;
        totals.by_rate.push(TaxLine { rate, base, tax });
    }
    totals.after_tax = add(totals.before_tax, totals.tax)?;
    Ok(totals)
}

/// The totals of `bill`.
pub fn totals(bill: &StoredBill, default: Rate) -> Result<Totals, ApiError> {
    totals_of(&bill.items, default)
}

/// What is still to be paid: the total after tax, less the payments, less the whole total once
/// a credit note cancelled the invoice (negative: owed back to the customer).
pub fn amount_due(bill: &StoredBill, default: Rate) -> Result<Money, ApiError> {
    let total = totals(bill, default)?.after_tax;
    let credited = if bill.credit_note_number.is_some() {
        total
    } else {
        Money::default()
    };
    total
        .cents()
        .checked_sub(credited.cents())
        .and_then(|c| c.checked_sub(bill.paid.cents()))
        .map(Money::from_cents)
        .ok_or_else(|| anyhow::anyhow!("an amount overflows").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(cents: i64, quantity: i64, discount: &str, vat: Option<&str>) -> StoredItem {
        StoredItem {
            id: 1,
            product_id: 1,
            quantity,
            price: Money::from_cents(cents),
            discount: Rate::parse(discount).unwrap(),
            vat_rate: vat.map(|v| Rate::parse(v).unwrap()),
        }
    }

    #[test]
    fn vat_is_taxed_per_rate_on_the_summed_base_exactly_to_the_cent() {
        let items = [
            // 3 × 0.35 = 1.05 and 1 × 0.33 = 0.33 at 5.5 %: base 1.38, tax 0.0759 → 0.08
            item(35, 3, "0", Some("0.055")),
            item(33, 1, "0", Some("0.055")),
            // 19.99 × 2 × 0.9 = 35.982 → 35.98 at 20 %: tax 7.196 → 7.20
            item(1999, 2, "0.1", Some("0.2")),
            // no rate: the default, 10 %: 0.05 → tax 0.005 → 0.01
            item(5, 1, "0", None),
        ];
        let totals = totals_of(&items, Rate::parse("0.1").unwrap()).unwrap();
        let cents = |t: &TaxLine| (t.rate.units(), t.base.cents(), t.tax.cents());
        assert_eq!(
            totals.by_rate.iter().map(cents).collect::<Vec<_>>(),
            [(550, 138, 8), (1000, 5, 1), (2000, 3598, 720)]
        );
        assert_eq!(totals.before_tax, Money::from_cents(138 + 5 + 3598));
        assert_eq!(totals.tax, Money::from_cents(8 + 1 + 720));
        assert_eq!(totals.after_tax, Money::from_cents(3741 + 729));
        let negated = totals.negated();
        assert_eq!(negated.after_tax, Money::from_cents(-(3741 + 729)));
        assert_eq!(negated.by_rate[2].tax, Money::from_cents(-720));
    }

    #[test]
    fn a_bad_default_rate_names_the_key() {
        let settings = platform::Settings::from_sources(Vec::new())
            .with_override("factura.billing.vat.default-rate", "20%");
        let error = settings
            .bind::<VatSettings>("factura.billing.vat")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("factura.billing.vat.default-rate"),
            "{error}"
        );
        let settings = settings.with_override("factura.billing.vat.default-rate", "0.2");
        let vat: VatSettings = settings.bind("factura.billing.vat").unwrap();
        assert_eq!(vat.default_rate, Rate::from_units(2000));
    }
}
