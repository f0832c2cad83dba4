//! Numbers with a fixed count of decimals, for the sizes, rates and times in messages
//! (`224.0 MiB`, `95 MiB/s`, `1.2 s`): [`fixed`] writes exactly what `format!("{x:.N}")` does.
//!
//! Why not `format!`: the standard library's float formatting (Grisu with the Dragon fallback,
//! for both the shortest and the fixed form) is about 12 KB of the stub, which carries it for a
//! handful of progress lines. Here the fixed form is integer arithmetic on the float's exact
//! binary value, a few hundred bytes; the tests compare it with `format!` over every kind of
//! value.

/// `x` with `decimals` digits after the point (at most 9), as `format!("{x:.decimals$}")` writes
/// it: the exact binary value rounded to the nearest, a tie to the even last digit (`0.25` with
/// one decimal is `0.2`, `2.5` with none is `2`); a `-` before any negative value, zero and
/// values that round to zero included (`-0.0`); `NaN`, `inf` and `-inf` as they are.
pub fn fixed(x: f64, decimals: u32) -> String {
    assert!(decimals <= 9, "fixed: at most 9 decimals");
    if x.is_nan() {
        return "NaN".into();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x.is_infinite() {
        return format!("{sign}inf");
    }
    // x = mantissa * 2^exp exactly; then x * 10^decimals = scaled * 2^exp, scaled < 2^53 * 10^9 < 2^83.
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, exp) = if biased == 0 { (fraction, -1074) } else { (fraction | 1 << 52, biased - 1075) };
    let scaled = u128::from(mantissa) * u128::from(10u32.pow(decimals));
    let digits = if exp >= 0 {
        shifted_decimal(scaled, exp.unsigned_abs())
    } else {
        rounded_shift(scaled, exp.unsigned_abs()).to_string()
    };
    let decimals = decimals as usize;
    let digits = format!("{digits:0>width$}", width = decimals + 1);
    let (int, frac) = digits.split_at(digits.len() - decimals);
    match decimals {
        0 => format!("{sign}{int}"),
        _ => format!("{sign}{int}.{frac}"),
    }
}

/// `value / 2^shift` rounded to the nearest integer, a tie to the even one.
fn rounded_shift(value: u128, shift: u32) -> u128 {
    if shift >= 128 || value >> (shift - 1) == 0 {
        // Below one half.
        return 0;
    }
    let (quotient, rest) = (value >> shift, value & ((1 << shift) - 1));
    let half = 1 << (shift - 1);
    match rest > half || (rest == half && quotient & 1 == 1) {
        true => quotient + 1,
        false => quotient,
    }
}

/// The decimal digits of `value * 2^shift` (`value` < 2^83; up to 2^1107, hence the long
/// division in base 10^9 over base 2^32 digits).
fn shifted_decimal(value: u128, shift: u32) -> String {
    if shift <= 128 - 83 {
        return (value << shift).to_string();
    }
    // Little-endian base 2^32 digits of value * 2^shift.
    let mut limbs = vec![0u32; (shift / 32) as usize];
    // value < 2^83 and shift % 32 < 32: nothing is lost below 2^128.
    let mut rest = value << (shift % 32);
    while rest > 0 {
        limbs.push(rest as u32);
        rest >>= 32;
    }
    let mut groups = Vec::new();
    while !limbs.is_empty() {
        let mut remainder = 0u64;
        for limb in limbs.iter_mut().rev() {
            let current = remainder << 32 | u64::from(*limb);
            *limb = (current / 1_000_000_000) as u32;
            remainder = current % 1_000_000_000;
        }
        groups.push(remainder as u32);
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
    }
    let mut out = groups.pop().map_or_else(String::new, |first| first.to_string());
    for group in groups.iter().rev() {
        out.push_str(&format!("{group:09}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fixed;

    fn check(x: f64) {
        for decimals in 0..=9 {
            assert_eq!(fixed(x, decimals), format!("{x:.prec$}", prec = decimals as usize), "{x:e} with {decimals}");
        }
    }

    #[test]
    fn as_format_writes_it() {
        let special = [
            0.0,
            -0.0,
            0.5,
            1.5,
            2.5,
            0.25,
            0.75,
            0.125,
            0.05,
            0.95,
            9.95,
            99.95,
            -0.04,
            -2.5,
            1.23,
            125.0,
            224.0,
            1e-3,
            1e9,
            1e15 + 0.5,
            4503599627370495.5,
            9007199254740993.0,
            u64::MAX as f64,
            1.8e19,
            2f64.powi(83),
            2f64.powi(115),
            2f64.powi(128),
            1e300,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for x in special {
            check(x);
        }
        // Sizes in MiB and GiB, as the messages compute them.
        for b in [0u64, 1, 1023, 1 << 19, 3 << 19, 5 << 18, 224 << 20, (10 << 30) + (1 << 26), u64::MAX] {
            check(b as f64 / (1u64 << 20) as f64);
            check(b as f64 / (1u64 << 30) as f64);
        }
        // Every bit pattern's neighbourhood: a simple generator over the whole range of bits,
        // and ties at each binary exponent a decimal can land on.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..5_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            check(f64::from_bits(state));
            check(f64::from_bits(state >> 12 | 0x3ff0_0000_0000_0000) * 100.0);
            check((state % 100_000) as f64 / 1000.0);
        }
        for n in 0..2000u32 {
            check(f64::from(n) / 8.0);
            check(f64::from(n) / 20.0);
        }
    }
}
