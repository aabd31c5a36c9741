//! IDNA: U-labels to A-labels, and A-label checks (Punycode, RFC 3492; IDNA2008, RFC 5890/5891).
//!
//! RFC 8461 §4.1 matches MX host names, and §3.2 requires `mx` patterns as A-labels. A host given
//! to the matcher as a U-label (`mx.bücher.example`) is converted to its A-label form first.
//!
//! Spec: full UTS #46 mapping needs Unicode tables this crate does not carry; the conversion here
//! lowercases each label (Unicode default case folding) and encodes it with Punycode. Hosts from
//! DNS are already A-labels, so this only matters for names typed by people.

const BASE: u32 = 36;
const TMIN: u32 = 1;
const TMAX: u32 = 26;
const SKEW: u32 = 38;
const DAMP: u32 = 700;
const INITIAL_BIAS: u32 = 72;
const INITIAL_N: u32 = 128;
/// RFC 1035 §2.3.4: a label is at most 63 octets.
pub const MAX_LABEL: usize = 63;
/// RFC 5890 §2.3.2.5: the ACE prefix of an A-label.
const ACE_PREFIX: &str = "xn--";
const LABEL_TOO_LONG: &str = "a label is longer than 63 octets";

fn adapt(delta: u32, points: u32, first: bool) -> u32 {
    let mut delta = if first { delta / DAMP } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > ((BASE - TMIN) * TMAX) / 2 {
        delta /= BASE - TMIN;
        k += BASE;
    }
    k + (((BASE - TMIN + 1) * delta) / (delta + SKEW))
}

fn threshold(k: u32, bias: u32) -> u32 {
    if k <= bias {
        TMIN
    } else if k >= bias + TMAX {
        TMAX
    } else {
        k - bias
    }
}

fn encode_digit(d: u32) -> char {
    // RFC 3492 §5: 0..25 are a..z, 26..35 are 0..9.
    (if d < 26 {
        b'a' + d as u8
    } else {
        b'0' + (d - 26) as u8
    }) as char
}

fn decode_digit(c: u8) -> Option<u32> {
    match c {
        b'a'..=b'z' => Some((c - b'a') as u32),
        b'A'..=b'Z' => Some((c - b'A') as u32),
        b'0'..=b'9' => Some((c - b'0') as u32 + 26),
        _ => None,
    }
}

/// Punycode-encodes one label (RFC 3492 §6.3). `None` on arithmetic overflow.
pub fn punycode_encode(input: &[char]) -> Option<String> {
    let mut out: String = input.iter().filter(|c| c.is_ascii()).collect();
    let basic = out.len() as u32;
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias, mut handled) = (INITIAL_N, 0u32, INITIAL_BIAS, basic);
    let total = input.len() as u32;
    while handled < total {
        let m = input.iter().map(|&c| c as u32).filter(|&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(handled + 1)?)?;
        n = m;
        for &c in input {
            let c = c as u32;
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = threshold(k, bias);
                    if q < t {
                        break;
                    }
                    out.push(encode_digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(encode_digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n = n.checked_add(1)?;
    }
    Some(out)
}

/// Punycode-decodes one label (RFC 3492 §6.2). `None` when it is not valid Punycode. The caller
/// bounds the input to one label (63 octets), which keeps the insertions below cheap.
pub fn punycode_decode(input: &str) -> Option<Vec<char>> {
    let bytes = input.as_bytes();
    let (basic, rest) = match bytes.iter().rposition(|&b| b == b'-') {
        Some(p) => (&bytes[..p], &bytes[p + 1..]),
        None => (&bytes[..0], bytes),
    };
    if !basic.is_ascii() {
        return None;
    }
    let mut out: Vec<char> = basic.iter().map(|&b| b as char).collect();
    let (mut n, mut i, mut bias) = (INITIAL_N, 0u32, INITIAL_BIAS);
    let mut pos = 0;
    while pos < rest.len() {
        let old_i = i;
        let mut w = 1u32;
        let mut k = BASE;
        loop {
            let digit = decode_digit(*rest.get(pos)?)?;
            pos += 1;
            i = i.checked_add(digit.checked_mul(w)?)?;
            let t = threshold(k, bias);
            if digit < t {
                break;
            }
            w = w.checked_mul(BASE - t)?;
            k += BASE;
        }
        let len = out.len() as u32 + 1;
        bias = adapt(i - old_i, len, old_i == 0);
        n = n.checked_add(i / len)?;
        i %= len;
        let c = char::from_u32(n)?;
        if c.is_ascii() {
            return None; // RFC 3492 §6.2: basic code points must not be encoded
        }
        out.insert(i as usize, c);
        i += 1;
    }
    Some(out)
}

/// Converts one label to its A-label (or lowercase LDH) form.
fn label_to_ascii(label: &str) -> Result<String, &'static str> {
    if label.is_ascii() {
        return Ok(label.to_ascii_lowercase());
    }
    let chars: Vec<char> = label.chars().flat_map(char::to_lowercase).collect();
    // RFC 1035 §2.3.4 / RFC 5890 §2.3.2.1: the A-label ("xn--" and the Punycode, which spends at
    // least one character per input character) is at most 63 octets; a longer label is refused
    // before encoding, which costs the number of distinct characters times the length (a label
    // of 10,000 distinct characters was quadratic: found by fuzz/linear-time.sh, mx-host-idn).
    if ACE_PREFIX.len() + chars.len() > MAX_LABEL {
        return Err(LABEL_TOO_LONG);
    }
    let encoded = punycode_encode(&chars).ok_or("label cannot be encoded as punycode")?;
    Ok(format!("{ACE_PREFIX}{encoded}"))
}

/// Converts a host name to lowercase A-label form, label by label. Labels longer than 63 octets
/// after conversion are rejected.
pub fn to_ascii(host: &str) -> Result<String, &'static str> {
    let mut out = String::with_capacity(host.len());
    for (n, label) in host.split('.').enumerate() {
        if n > 0 {
            out.push('.');
        }
        let label = label_to_ascii(label)?;
        if label.len() > MAX_LABEL {
            return Err(LABEL_TOO_LONG);
        }
        out.push_str(&label);
    }
    Ok(out)
}

/// True when `label` (already known to be LDH, at most 63 octets) starting with `xn--` decodes
/// to a non-ASCII string whose re-encoding is the same label (RFC 5890 §2.3.2.1: an A-label is
/// the ACE form of a valid U-label).
pub fn is_valid_a_label(label: &str) -> bool {
    let Some(body) = label.get(4..) else {
        return false;
    };
    match punycode_decode(body) {
        Some(chars) if !chars.iter().all(char::is_ascii) => {
            punycode_encode(&chars).is_some_and(|e| e.eq_ignore_ascii_case(body))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3492_samples_round_trip() {
        // (U-label, Punycode) pairs: RFC 3492 §7.1 sample strings and common IDNs.
        let cases = [
            ("bücher", "bcher-kva"),
            ("münchen", "mnchen-3ya"),
            ("例え", "r8jz45g"),
            ("ليهمابتكلموشعربي؟", "egbpdaj6bu4bxfgehfvwxn"),
            ("他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"),
            // Large jumps between code points drive adapt's scaling loop (RFC 3492 §6.1); the
            // encodings are those of an independent implementation (Python's punycode codec).
            ("ü中😀", "tda6360b6y5s"),
            ("aü中文😀x", "ax-xka8510f9nyabf61c"),
            ("😀😁😂🤣", "e28hcd813a"),
            ("ελληνικά中文русский", "hxargifdar42ikaj5ena2a46831av72c"),
            ("ÿ𐍈中a", "a-jha8830dvnxi"),
            ("ä中中中中中😀😀😀ß", "zcaj9640daaaa60197faa"),
            // Found by search so that adapt's delta is exactly 455, 468 and 481: the loop's
            // bound is `> ((BASE - TMIN) * TMAX) / 2`, exactly.
            (
                "\u{526}\u{5a8}\u{17c}\u{1f5}\u{7d6}\u{490}\u{4cd}",
                "hha6v32e8gvpfzo2j",
            ),
            (
                "\u{103}\u{377}\u{4e1b}\u{371}\u{12b}\u{3f9}\u{138}\u{4e1c}",
                "0da4frb84n3a69es909ama",
            ),
            (
                "\u{371}\u{133}\u{15c}\u{4e0b}\u{3f7}\u{f9}\u{169}",
                "qda9i1e3bu5nbxa1609a",
            ),
            // A digit whose value equals its threshold (q == t): it is written, then a zero.
            ("\u{ad}", "kba"),
        ];
        for (u, p) in cases {
            let chars: Vec<char> = u.chars().collect();
            assert_eq!(punycode_encode(&chars).as_deref(), Some(p), "encode {u}");
            assert_eq!(punycode_decode(p), Some(chars), "decode {p}");
        }
    }

    #[test]
    fn decoders_take_upper_case_digits() {
        // RFC 3492 §5: "decoders MUST recognize both" cases of the basic digits.
        let bucher: Vec<char> = "bücher".chars().collect();
        assert_eq!(punycode_decode("bcher-KVA"), Some(bucher));
        assert_eq!(punycode_decode("TDA"), Some(vec!['ü']));
        assert_eq!(punycode_decode("R8JZ45G"), punycode_decode("r8jz45g"));
    }

    #[test]
    fn to_ascii_lowercases_and_encodes() {
        assert_eq!(
            to_ascii("MX.Bücher.Example").unwrap(),
            "mx.xn--bcher-kva.example"
        );
        assert_eq!(to_ascii("mx.example.com").unwrap(), "mx.example.com");
        assert!(
            to_ascii(&"ü".repeat(70)).is_err(),
            "label too long after encoding"
        );
    }

    #[test]
    fn a_label_length_is_decided_before_encoding() {
        // Around the bound, the early refusal says what the full encoding says.
        for n in 40..80 {
            for label in ["a".repeat(n - 1) + "ü", "ü".repeat(n), "例".repeat(n)] {
                let chars: Vec<char> = label.chars().collect();
                let encoded = punycode_encode(&chars).map(|p| ACE_PREFIX.len() + p.len());
                let fits = encoded.is_some_and(|len| len <= MAX_LABEL);
                assert_eq!(to_ascii(&label).is_ok(), fits, "{label}");
            }
        }
        let long: String = (0..20_000u32)
            .filter_map(|i| char::from_u32(0x100 + i))
            .collect();
        assert_eq!(
            to_ascii(&long),
            Err(LABEL_TOO_LONG),
            "refused without encoding"
        );
        assert_eq!(to_ascii(&"ü".repeat(60)), Err(LABEL_TOO_LONG));
        // The bound itself: Punycode spends one digit per repeat of U+0080 (delta 0), so 59 of
        // them make exactly 63 octets with "xn--", and 60 one too many.
        let at_bound = to_ascii(&"\u{80}".repeat(59)).unwrap();
        assert_eq!(at_bound.len(), MAX_LABEL);
        assert_eq!(to_ascii(&"\u{80}".repeat(60)), Err(LABEL_TOO_LONG));
    }

    #[test]
    fn a_label_validity() {
        assert!(is_valid_a_label("xn--bcher-kva"));
        assert!(!is_valid_a_label("xn--"), "empty body");
        assert!(!is_valid_a_label("xn--abc-"), "decodes to ASCII only");
        assert!(!is_valid_a_label("xn--ab-c!"), "not Punycode");
        assert!(!is_valid_a_label("xn--99999999999"), "overflow");
    }

    #[test]
    fn decode_rejects_garbage() {
        // (input, reason it is not Punycode)
        for (bad, why) in [
            ("!!", "not a base-36 digit"),
            ("ü-abc", "non-ASCII basic part"),
            ("zzzzzzzzzzzzzzzzzzzzzzzz", "overflows"),
            ("b", "ends inside a variable-length integer"),
        ] {
            assert_eq!(punycode_decode(bad), None, "{bad}: {why}");
        }
        assert_eq!(punycode_decode("a-"), Some(vec!['a']));
    }
}
