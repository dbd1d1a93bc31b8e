//! What a bill comes to, computed in one place from its stored lines (exact integer cents):
//! the full bill, payments (the amount still due) and credit notes all read it here.

use platform::{ApiError, money::Money};

use crate::repo::{StoredBill, StoredItem};

/// `price × quantity × (1 − discount)`, rounded to the cent.
pub fn line_amount(item: &StoredItem) -> Result<Money, ApiError> {
    item.price
        .line_amount(item.quantity, item.discount)
        .ok_or_else(|| anyhow::anyhow!("line amount of item {} overflows", item.id).into())
}

/// `a + b`, or the overflow as an internal error.
pub fn add(a: Money, b: Money) -> Result<Money, ApiError> {
    a.cents()
        .checked_add(b.cents())
        .map(Money::from_cents)
        .ok_or_else(|| anyhow::anyhow!("an amount overflows").into())
}

/// The sum of the line amounts.
pub fn total(bill: &StoredBill) -> Result<Money, ApiError> {
    bill.items
        .iter()
        .try_fold(Money::default(), |sum, item| add(sum, line_amount(item)?))
}

/// What is still to be paid: the total, less the payments, less the whole total once a credit
/// note cancelled the invoice (negative: owed back to the customer).
pub fn amount_due(bill: &StoredBill) -> Result<Money, ApiError> {
    let total = total(bill)?;
    let credited = if bill.credit_note_number.is_some() {
        total
    } else {
        Money::default()
    };
    Ok(Money::from_cents(
        total
            .cents()
            .checked_sub(credited.cents())
            .and_then(|c| c.checked_sub(bill.paid.cents()))
            .ok_or_else(|| anyhow::anyhow!("an amount overflows"))?,
    ))
}
