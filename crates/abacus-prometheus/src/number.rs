//! Number spellings for the text format.
//!
//! Floats are written as Go's `strconv.FormatFloat(v, 'g', -1, 64)` writes them, which is
//! what the Prometheus Go client serves: the shortest digits that read back to the same
//! float, in plain notation for decimal exponents from -4 to 5 and in scientific notation
//! (`1e-05`, `1.048576e+06`) outside it. The digits come from `ryu`, which computes the
//! same shortest, closest digits as Go's `strconv` (Go uses Ryū for this too).

/// The most significant digits a shortest `f64` rendering has.
const MAX_DIGITS: usize = 17;

/// Appends `value` in Go's `'g'` shortest spelling, with `+Inf`, `-Inf` and `NaN` for the
/// special values.
pub(crate) fn write_float(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if value == 0.0 {
        out.extend_from_slice(if value.is_sign_negative() {
            b"-0"
        } else {
            b"0"
        });
    } else if let Some(integer) = small_integer(value) {
        write_i64(out, integer);
    } else {
        let mut buffer = ryu::Buffer::new();
        let decimal = Decimal::from_ryu(buffer.format_finite(value));
        decimal.write_go_g(out);
    }
}

/// `value` as an integer when Go's spelling of it is the integer's: it has no fraction and
/// at most six digits, beyond which Go switches to scientific notation. Whole sums are
/// common, and this spares them the search for the shortest digits.
fn small_integer(value: f64) -> Option<i64> {
    // The conversion truncates toward zero and is exact in this range, so comparing back
    // tells whether there was a fraction, without a call to `trunc`.
    let integer = value as i64;
    (value.abs() < 1e6 && integer as f64 == value).then_some(integer)
}

/// Appends an unsigned integer in decimal.
#[inline]
pub(crate) fn write_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends `value` in decimal and a line feed.
#[inline]
pub(crate) fn write_u64_line(out: &mut Vec<u8>, value: u64) {
    write_u64(out, value);
    out.push(b'\n');
}

/// Appends a signed integer in decimal.
pub(crate) fn write_i64(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    write_u64(out, value.unsigned_abs());
}

/// Appends a histogram bound as an `le` value: [`write_float`]'s spelling with `.0`
/// appended when it has neither a point nor an exponent (`1.0`, `0.005`, `1e+10`). This
/// is the canonical form Prometheus 3 rewrites every `le` to on ingestion, so series keep
/// one identity whichever format was scraped, and the one OpenMetrics asks for:
/// <https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md#considerations-canonical-numbers>.
pub(crate) fn write_le(out: &mut Vec<u8>, bound: f64) {
    let start = out.len();
    write_float(out, bound);
    point_if_integral(out, start);
}

/// Appends a float sample value for OpenMetrics, which requires a float to be written
/// with a decimal point or an exponent (`2.0`, not `2`; integers never have a point):
/// <https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md#numbers>.
/// The spelling is the canonical one of [`write_le`]; `-0.0` stays negative.
pub(crate) fn write_float_openmetrics(out: &mut Vec<u8>, value: f64) {
    write_le(out, value);
}

/// [`write_fixed`] for OpenMetrics: a value with decimals is a fraction, so it keeps a
/// point even when it is whole (`3.0` for 3000 thousandths); one without is an integer.
pub(crate) fn write_fixed_openmetrics(out: &mut Vec<u8>, units: u64, decimals: u32) {
    let start = out.len();
    write_fixed(out, units, decimals);
    if decimals > 0 {
        point_if_integral(out, start);
    }
}

/// Appends `.0` to the number written from `start` on, unless it has a point or an
/// exponent or is not finite.
fn point_if_integral(out: &mut Vec<u8>, start: usize) {
    let written = &out[start..];
    let plain = written.iter().all(|&b| b.is_ascii_digit() || b == b'-');
    if plain && written.iter().any(u8::is_ascii_digit) {
        out.extend_from_slice(b".0");
    }
}

/// Appends `units * 10^-decimals` as an exact decimal without trailing zeros: `units` 5 and
/// `decimals` 2 give `0.05`, 1500 and 3 give `1.5`, 0 gives `0`.
pub(crate) fn write_fixed(out: &mut Vec<u8>, units: u64, decimals: u32) {
    if units == 0 {
        out.push(b'0');
        return;
    }
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(units).as_bytes();
    // Trailing zeros of the integer cancel against the decimals.
    let zeros = digits.iter().rev().take_while(|&&d| d == b'0').count();
    let cancelled = zeros.min(decimals as usize);
    let digits = &digits[..digits.len() - cancelled];
    let decimals = decimals as usize - cancelled;
    if decimals == 0 {
        out.extend_from_slice(digits);
    } else if decimals < digits.len() {
        let point = digits.len() - decimals;
        out.extend_from_slice(&digits[..point]);
        out.push(b'.');
        out.extend_from_slice(&digits[point..]);
    } else if decimals - digits.len() <= 20 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + (decimals - digits.len()), b'0');
        out.extend_from_slice(digits);
    } else {
        // A scale this large never comes from the core (it allows 15 decimals); the
        // exponent keeps the value exact without a run of thousands of zeros.
        out.extend_from_slice(digits);
        out.extend_from_slice(b"e-");
        write_u64(out, decimals as u64);
    }
}

/// A positive finite float as its significant digits and the position of the decimal
/// point: the value is `0.d1d2d3... * 10^point`.
struct Decimal {
    negative: bool,
    digits: [u8; MAX_DIGITS],
    len: usize,
    point: i32,
}

impl Decimal {
    /// Reads `ryu`'s output, whatever notation it chose (`123.45`, `0.001`, `1e-7`,
    /// `1.5e300`), into digits and a point position.
    fn from_ryu(text: &str) -> Self {
        let (negative, text) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match text.split_once('e') {
            Some((mantissa, exponent)) => (mantissa, exponent.parse::<i32>().unwrap_or(0)),
            None => (text, 0),
        };
        let mut decimal = Decimal {
            negative,
            digits: [0; MAX_DIGITS],
            len: 0,
            point: exponent,
        };
        let mut leading = true;
        let mut before_point = true;
        for byte in mantissa.bytes() {
            if byte == b'.' {
                before_point = false;
                continue;
            }
            if leading && byte == b'0' {
                // A leading zero after the point moves the first significant digit right.
                if !before_point {
                    decimal.point -= 1;
                }
                continue;
            }
            leading = false;
            if before_point {
                decimal.point += 1;
            }
            if decimal.len < MAX_DIGITS {
                decimal.digits[decimal.len] = byte;
                decimal.len += 1;
            }
        }
        while decimal.len > 1 && decimal.digits[decimal.len - 1] == b'0' {
            decimal.len -= 1;
        }
        decimal
    }

    fn digits(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    /// Go's `%g` choice with shortest precision: scientific notation when the decimal
    /// exponent is below -4 or at least 6 (`eprec` is 6 for shortest), plain otherwise.
    fn write_go_g(&self, out: &mut Vec<u8>) {
        if self.negative {
            out.push(b'-');
        }
        let exponent = self.point - 1;
        if !(-4..6).contains(&exponent) {
            self.write_scientific(out, exponent);
        } else {
            self.write_plain(out);
        }
    }

    /// `d.ddde±XX`, with at least two exponent digits, as Go writes it.
    fn write_scientific(&self, out: &mut Vec<u8>, exponent: i32) {
        let digits = self.digits();
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exponent < 0 { b'-' } else { b'+' });
        let magnitude = exponent.unsigned_abs();
        if magnitude < 10 {
            out.push(b'0');
        }
        write_u64(out, u64::from(magnitude));
    }

    /// Plain notation; only reached for points from -3 to 6, so it stays short.
    fn write_plain(&self, out: &mut Vec<u8>) {
        let digits = self.digits();
        if self.point <= 0 {
            out.extend_from_slice(b"0.");
            out.resize(out.len() + self.point.unsigned_abs() as usize, b'0');
            out.extend_from_slice(digits);
            return;
        }
        let point = self.point as usize;
        if point >= digits.len() {
            out.extend_from_slice(digits);
            out.resize(out.len() + (point - digits.len()), b'0');
        } else {
            out.extend_from_slice(&digits[..point]);
            out.push(b'.');
            out.extend_from_slice(&digits[point..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(value: f64) -> String {
        let mut out = Vec::new();
        write_float(&mut out, value);
        String::from_utf8(out).expect("ASCII")
    }

    fn le(value: f64) -> String {
        let mut out = Vec::new();
        write_le(&mut out, value);
        String::from_utf8(out).expect("ASCII")
    }

    fn integer(value: i64) -> String {
        let mut out = Vec::new();
        write_i64(&mut out, value);
        String::from_utf8(out).expect("ASCII")
    }

    fn unsigned(value: u64) -> String {
        let mut out = b"before ".to_vec();
        write_u64(&mut out, value);
        String::from_utf8(out).expect("ASCII")
    }

    fn line(value: u64) -> String {
        let mut out = b"before ".to_vec();
        write_u64_line(&mut out, value);
        String::from_utf8(out).expect("ASCII")
    }

    fn fixed(units: u64, decimals: u32) -> String {
        let mut out = Vec::new();
        write_fixed(&mut out, units, decimals);
        String::from_utf8(out).expect("ASCII")
    }

    // Expected spellings are those of Go's strconv.FormatFloat(v, 'g', -1, 64), as given
    // in its documentation and the Prometheus Go client's output.
    #[test]
    fn floats_use_go_shortest_g_spelling() {
        let cases: &[(f64, &str)] = &[
            (1e-10, "1e-10"),
            (0.005, "0.005"),
            (1048576.0, "1.048576e+06"),
            (1e10, "1e+10"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (0.1, "0.1"),
            (100.0, "100"),
            (1e21, "1e+21"),
            (1.0 / 3.0, "0.3333333333333333"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (999999.0, "999999"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123, "0.000123"),
            (-2.5, "-2.5"),
            (-1e-7, "-1e-07"),
            (1.5e300, "1.5e+300"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
            (9007199254740993.0, "9.007199254740992e+15"),
            (12.5, "12.5"),
            (1.0, "1"),
            (0.0, "0"),
            (-0.0, "-0"),
        ];
        for &(value, expected) in cases {
            assert_eq!(float(value), expected, "{value:e}");
        }
    }

    #[test]
    fn integers_are_written_exactly_after_what_was_there() {
        for value in [0, 1, 9, 10, 99, 100, 12_345, 999_999, 1_000_000, u64::MAX] {
            assert_eq!(unsigned(value), format!("before {value}"));
        }
        for value in [0, -1, 7, -10, 1_234_567, i64::MAX, i64::MIN] {
            assert_eq!(integer(value), value.to_string());
        }
    }

    #[test]
    fn short_integers_are_written_exactly_at_every_length() {
        let boundaries = (0..=8).flat_map(|power| {
            let ten = 10u64.pow(power);
            [ten - 1, ten, ten + 1]
        });
        let samples = (0..100_000).chain((0..100_000).map(|i| i * 997 + 12_345_678));
        for value in boundaries.chain(samples) {
            assert_eq!(unsigned(value), format!("before {value}"));
            assert_eq!(line(value), format!("before {value}\n"));
        }
        for value in [9_999_999, 10_000_000, 99_999_999, 100_000_000, u64::MAX] {
            assert_eq!(line(value), format!("before {value}\n"));
        }
    }

    #[test]
    fn integral_floats_take_the_integer_spelling_only_below_a_million() {
        let cases: &[(f64, &str)] = &[
            (3.0, "3"),
            (-5.0, "-5"),
            (999_999.0, "999999"),
            (-999_999.0, "-999999"),
            (1_000_000.0, "1e+06"),
            (-1_000_000.0, "-1e+06"),
            (2.5, "2.5"),
            (-0.5, "-0.5"),
            (1e300, "1e+300"),
        ];
        for &(value, expected) in cases {
            assert_eq!(float(value), expected, "{value:e}");
        }
    }

    #[test]
    fn special_floats_are_spelled_as_the_format_requires() {
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn le_values_are_canonical() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (10.0, "10.0"),
            (0.005, "0.005"),
            (1048576.0, "1.048576e+06"),
            (1e10, "1e+10"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (0.0, "0.0"),
            (-5.0, "-5.0"),
            (250000.0, "250000.0"),
        ];
        for &(value, expected) in cases {
            assert_eq!(le(value), expected, "{value:e}");
        }
    }

    fn float_om(value: f64) -> String {
        let mut out = Vec::new();
        write_float_openmetrics(&mut out, value);
        String::from_utf8(out).expect("ASCII")
    }

    fn fixed_om(units: u64, decimals: u32) -> String {
        let mut out = Vec::new();
        write_fixed_openmetrics(&mut out, units, decimals);
        String::from_utf8(out).expect("ASCII")
    }

    // OpenMetrics: "Floating point numbers MUST be represented either with a decimal point
    // or using scientific notation"; the spellings are %g's with `.0` appended.
    #[test]
    fn openmetrics_floats_always_have_a_point_or_an_exponent() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (100.0, "100.0"),
            (-5.0, "-5.0"),
            (999_999.0, "999999.0"),
            (1e6, "1e+06"),
            (0.25, "0.25"),
            (1e-10, "1e-10"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for &(value, expected) in cases {
            assert_eq!(float_om(value), expected, "{value:e}");
        }
    }

    #[test]
    fn openmetrics_fixed_point_keeps_a_point_only_when_it_has_decimals() {
        assert_eq!(fixed_om(3000, 3), "3.0");
        assert_eq!(fixed_om(0, 9), "0.0");
        assert_eq!(fixed_om(48_080_000, 9), "0.04808");
        assert_eq!(fixed_om(1200, 0), "1200");
        assert_eq!(fixed_om(0, 0), "0");
        assert_eq!(fixed_om(1, 40), "1e-40");
    }

    #[test]
    fn fixed_point_is_an_exact_decimal_without_trailing_zeros() {
        assert_eq!(fixed(48_080_000, 9), "0.04808");
        assert_eq!(fixed(0, 9), "0");
        assert_eq!(fixed(0, 0), "0");
        assert_eq!(fixed(5, 2), "0.05");
        assert_eq!(fixed(1500, 3), "1.5");
        assert_eq!(fixed(1000, 3), "1");
        assert_eq!(fixed(1, 15), "0.000000000000001");
        assert_eq!(fixed(42, 0), "42");
        assert_eq!(fixed(4200, 0), "4200");
        assert_eq!(fixed(u64::MAX, 9), "18446744073.709551615");
        assert_eq!(fixed(u64::MAX, 0), "18446744073709551615");
        assert_eq!(fixed(123_456_789_012_345, 15), "0.123456789012345");
    }

    #[test]
    fn fixed_point_with_an_absurd_scale_stays_exact_and_short() {
        assert_eq!(fixed(1, 40), "1e-40");
        assert_eq!(fixed(1200, 40), "12e-38");
        assert_eq!(fixed(7, u32::MAX), format!("7e-{}", u32::MAX));
        assert_eq!(fixed(1, 21), "0.000000000000000000001");
    }
}
