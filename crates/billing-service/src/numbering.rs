//! Invoice numbers: given when a bill is issued, sequential per year without gaps, unique
//! across every billing instance sharing the database, never reused.
//!
//! The number comes from `document_sequences` (one row per series and year), incremented in
//! the very transaction that issues the bill: if the issue fails, the increment is undone with
//! it, so no number is ever skipped; concurrent issues — on any instance — queue on that row
//! (PostgreSQL's row lock, SQLite's write lock), so no number is ever given twice. The number
//! is stored formatted with the bill and never changes, whatever the settings become.
//!
//! Settings (`factura.billing.invoice.*`): `prefix` (`FAC`) and `pattern`
//! (`{prefix}-{year}-{number:06}` → `FAC-2026-000001`); `{number:0N}` pads to N digits. The
//! pattern must name `{year}` and `{number}`, since numbers restart every year. Credit notes
//! are numbered the same way in their own series (`factura.billing.credit-note.*`, prefix
//! `AV`: `AV-2026-000001`).

use platform::{
    ApiError,
    settings::{FromSection, Section, SettingsError},
};
use sqlx::Row as _;

/// The series of invoices in `document_sequences`.
pub const INVOICES: &str = "INVOICE";
/// The series of credit notes.
pub const CREDIT_NOTES: &str = "CREDIT_NOTE";

/// One piece of a number pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Prefix,
    Year,
    Number { width: usize },
}

/// A parsed `pattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPattern(Vec<Piece>);

impl NumberPattern {
    /// Reads a pattern such as `{prefix}-{year}-{number:06}`.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = pattern;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let close = rest[open..].find('}').ok_or("an unclosed `{`")? + open;
            let name = &rest[open + 1..close];
            pieces.push(match name.split_once(':') {
                None if name == "prefix" => Piece::Prefix,
                None if name == "year" => Piece::Year,
                None if name == "number" => Piece::Number { width: 0 },
                Some(("number", width)) if width.starts_with('0') => Piece::Number {
                    width: width
                        .parse()
                        .ok()
                        .filter(|w| *w <= 18)
                        .ok_or("`{number:0N}` with N from 1 to 18")?,
                },
                _ => return Err(format!("an unknown placeholder `{{{name}}}`")),
            });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        let has = |wanted: fn(&Piece) -> bool| pieces.iter().filter(|p| wanted(p)).count() == 1;
        if !has(|p| matches!(p, Piece::Year)) || !has(|p| matches!(p, Piece::Number { .. })) {
            return Err("`{year}` and `{number}` once each (numbers restart every year)".into());
        }
        Ok(Self(pieces))
    }

    /// The number `number` of `year`.
    pub fn format(&self, prefix: &str, year: i32, number: i64) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Prefix => out.push_str(prefix),
                Piece::Year => out.push_str(&year.to_string()),
                Piece::Number { width } => out.push_str(&format!("{number:0width$}")),
            }
        }
        out
    }
}

/// One numbered series: its prefix and pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// `prefix`.
    pub prefix: String,
    /// `pattern` (`{prefix}-{year}-{number:06}`).
    pub pattern: NumberPattern,
}

impl Series {
    fn read(
        section: &Section<'_>,
        name: &str,
        default_prefix: &str,
    ) -> Result<Self, SettingsError> {
        let field = format!("{name}.pattern");
        let raw = section.get_or(&field, "{prefix}-{year}-{number:06}");
        let pattern = NumberPattern::parse(&raw).map_err(|problem| SettingsError::Invalid {
            key: section.key(&field),
            value: raw.clone(),
            expected: format!(
                "a pattern of text, {{prefix}}, {{year}} and {{number}} or {{number:0N}}, with {problem}"
            ),
        })?;
        Ok(Self {
            prefix: section.get_or(&format!("{name}.prefix"), default_prefix),
            pattern,
        })
    }

    /// The formatted number `number` of `year`.
    pub fn format(&self, year: i32, number: i64) -> String {
        self.pattern.format(&self.prefix, year, number)
    }
}

/// `factura.billing.invoice.*` (prefix `FAC`) and `factura.billing.credit-note.*` (prefix
/// `AV`, for *avoir*), each with its own `pattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberingSettings {
    /// Invoices.
    pub invoice: Series,
    /// Credit notes.
    pub credit_note: Series,
}

impl FromSection for NumberingSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            invoice: Series::read(section, "invoice", "FAC")?,
            credit_note: Series::read(section, "credit-note", "AV")?,
        })
    }
}

/// The UTC year of `millis`, the year whose series a document issued then is numbered in.
pub fn year_of(millis: i64) -> Result<i32, ApiError> {
    platform::time::from_millis(millis)
        .map(|t| chrono::Datelike::year(&t))
        .ok_or_else(|| anyhow::anyhow!("the clock is out of range").into())
}

/// Takes the next number of `series` in `year`, inside the caller's transaction.
pub async fn next_number(
    tx: &mut sqlx::AnyConnection,
    series: &str,
    year: i32,
) -> Result<i64, ApiError> {
    let number: i64 = sqlx::query(
        "INSERT INTO document_sequences (series, year, last_number) VALUES ($1, $2, 1) \
         ON CONFLICT (series, year) DO UPDATE SET last_number = document_sequences.last_number + 1 \
         RETURNING last_number",
    )
    .bind(series)
    .bind(i64::from(year))
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    Ok(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pattern_gives_fac_year_and_six_digits() {
        let pattern = NumberPattern::parse("{prefix}-{year}-{number:06}").unwrap();
        assert_eq!(pattern.format("FAC", 2026, 1), "FAC-2026-000001");
        assert_eq!(pattern.format("FAC", 2026, 1_234_567), "FAC-2026-1234567");
        let plain = NumberPattern::parse("INV/{year}/{number}").unwrap();
        assert_eq!(plain.format("", 2027, 42), "INV/2027/42");
    }

    #[test]
    fn patterns_without_year_or_number_or_with_unknown_parts_are_refused() {
        for bad in [
            "{prefix}-{number}",
            "{prefix}-{year}",
            "{year}-{number}-{number}",
            "{year}-{count}",
            "{year}-{number:6}",
            "{year}-{number",
        ] {
            assert!(NumberPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bad_pattern_names_the_key() {
        let settings = platform::Settings::from_sources(Vec::new())
            .with_override("factura.billing.invoice.pattern", "{number}");
        let error = settings
            .bind::<NumberingSettings>("factura.billing")
            .unwrap_err()
            .to_string();
        assert!(error.contains("factura.billing.invoice.pattern"), "{error}");
    }
}
