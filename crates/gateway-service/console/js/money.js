// Money as the API writes it (a JSON number with at most two decimals), held as integer
// cents so that sums and displays are exact.

/** Cents of an API amount (`890.0`, `12.5`, `-3.07`). */
export function cents(amount) {
  return Math.round(Number(amount) * 100);
}

/** `1,234.50` from cents, exact (no floating point on the way). */
export function formatCents(value) {
  const negative = value < 0;
  const digits = String(Math.abs(Math.trunc(value))).padStart(3, '0');
  const whole = digits.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative ? '−' : ''}${whole}.${digits.slice(-2)}`;
}

/** An API amount for display, two decimals. */
export function money(amount) {
  return amount === null || amount === undefined ? '—' : formatCents(cents(amount));
}

/** A rate (0.1) as a percentage (`10 %`). */
export function percent(rate) {
  if (rate === null || rate === undefined) return '—';
  const value = Math.round(Number(rate) * 10000) / 100;
  return `${value} %`;
}

/**
 * What the server will compute for a line, in cents: price × quantity × (1 − discount),
 * rounded half away from zero to the cent — for the totals shown before sending.
 */
export function lineCents(priceCents, quantity, discount) {
  const discountUnits = Math.round(Number(discount || 0) * 10000); // ten-thousandths
  const exact = BigInt(priceCents) * BigInt(quantity) * BigInt(10000 - discountUnits);
  const divisor = 10000n;
  const rounded = (exact + divisor / 2n) / divisor;
  return Number(rounded);
}
