//! Text planning: from a message and an encoding policy to the parts that
//! will go on the air (3GPP TS 23.038 alphabets, 23.040 §9.2.3.24.1
//! concatenation).
//!
//! GSM 7-bit is chosen when every character is in the default alphabet or
//! its extension table; UCS-2 otherwise. A single part holds 160 septets,
//! 70 UTF-16 units or 140 octets; parts of a long message lose 7 septets,
//! 3 units or 6 octets to the concatenation header. An escape sequence or a
//! surrogate pair is never split between parts.

use super::dcs::Alphabet;
use super::gsm7;
use super::user_data::Body;

/// Most parts a concatenated message can have.
pub const MAX_PARTS: usize = 255;

/// How to choose the alphabet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EncodingPolicy {
    /// GSM 7-bit when it can carry every character, UCS-2 otherwise: no
    /// character is ever lost.
    #[default]
    Auto,
    /// GSM 7-bit or an error naming the first character it cannot carry.
    Gsm7,
    /// Always UCS-2.
    Ucs2,
}

/// Why a message cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// GSM 7-bit was required but the text has a character outside it.
    #[error("{character:?} at character {position} is not in the GSM 7-bit alphabet")]
    NotGsm7 {
        /// The character.
        character: char,
        /// Its position, counting characters from 0.
        position: usize,
    },
    /// The message needs more parts than concatenation allows.
    #[error("the message needs at least {parts} parts; at most 255 are possible")]
    TooManyParts {
        /// A lower bound on the parts it would need.
        parts: usize,
    },
}

/// The parts a message will be sent as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The alphabet of every part.
    pub alphabet: Alphabet,
    /// Each part's body, in order.
    pub parts: Vec<Body>,
    /// Size of the whole message in septets (GSM 7-bit), UTF-16 units
    /// (UCS-2) or octets (8-bit).
    pub units: usize,
    /// Whether the parts were sized for a 16-bit concatenation reference
    /// (a header one octet longer than the usual 8-bit one).
    pub wide_reference: bool,
}

impl Plan {
    /// How many SMS the message costs.
    pub fn part_count(&self) -> usize {
        self.parts.len()
    }
}

/// Plans `text` under `policy`, with an 8-bit concatenation reference when it
/// needs several parts.
pub fn plan_text(text: &str, policy: EncodingPolicy) -> Result<Plan, PlanError> {
    plan_text_with(text, policy, false)
}

/// Plans `text` under `policy` for a 16-bit concatenation reference: parts
/// of a long message hold 152 septets or 66 UTF-16 units.
pub fn plan_text_wide(text: &str, policy: EncodingPolicy) -> Result<Plan, PlanError> {
    plan_text_with(text, policy, true)
}

fn plan_text_with(
    text: &str,
    policy: EncodingPolicy,
    wide_reference: bool,
) -> Result<Plan, PlanError> {
    let gsm7_costs = match policy {
        EncodingPolicy::Ucs2 => None,
        EncodingPolicy::Auto | EncodingPolicy::Gsm7 => {
            let mut costs = Vec::with_capacity(text.len());
            let mut failed = None;
            for (position, character) in text.chars().enumerate() {
                match gsm7::lookup(character) {
                    Some(code) => costs.push(code.septets()),
                    None => {
                        failed = Some(PlanError::NotGsm7 {
                            character,
                            position,
                        });
                        break;
                    }
                }
            }
            match (failed, policy) {
                (None, _) => Some(costs),
                (Some(error), EncodingPolicy::Gsm7) => return Err(error),
                (Some(_), _) => None,
            }
        }
    };
    // A 16-bit reference makes the header one octet longer.
    let (septets, units) = if wide_reference { (152, 66) } else { (153, 67) };
    match gsm7_costs {
        Some(costs) => split(
            text,
            Alphabet::Gsm7,
            costs.into_iter(),
            160,
            septets,
            wide_reference,
        ),
        None => split(
            text,
            Alphabet::Ucs2,
            text.chars().map(char::len_utf16),
            70,
            units,
            wide_reference,
        ),
    }
}

/// Plans 8-bit data: 140 octets in one part, 134 in each part of a long one.
pub fn plan_binary(data: &[u8]) -> Result<Plan, PlanError> {
    let parts: Vec<Body> = if data.len() <= 140 {
        vec![Body::Binary(data.to_vec())]
    } else {
        data.chunks(134)
            .map(|chunk| Body::Binary(chunk.to_vec()))
            .collect()
    };
    if parts.len() > MAX_PARTS {
        return Err(PlanError::TooManyParts { parts: parts.len() });
    }
    Ok(Plan {
        alphabet: Alphabet::Eight,
        parts,
        units: data.len(),
        wide_reference: false,
    })
}

/// Splits `text` whose characters cost `costs` units each: one part when the
/// total fits `single`, otherwise parts of at most `multi` units that never
/// cut a character.
fn split(
    text: &str,
    alphabet: Alphabet,
    costs: impl Iterator<Item = usize> + Clone,
    single: usize,
    multi: usize,
    wide_reference: bool,
) -> Result<Plan, PlanError> {
    let units: usize = costs.clone().sum();
    if units <= single {
        return Ok(Plan {
            alphabet,
            parts: vec![Body::Text(text.to_owned())],
            units,
            wide_reference,
        });
    }
    let mut parts = Vec::with_capacity(units / multi + 1);
    let (mut start, mut used) = (0, 0);
    for ((offset, _), cost) in text.char_indices().zip(costs) {
        if used + cost > multi {
            parts.push(Body::Text(text[start..offset].to_owned()));
            if parts.len() == MAX_PARTS {
                return Err(PlanError::TooManyParts {
                    parts: units.div_ceil(multi).max(MAX_PARTS + 1),
                });
            }
            (start, used) = (offset, 0);
        }
        used += cost;
    }
    parts.push(Body::Text(text[start..].to_owned()));
    Ok(Plan {
        alphabet,
        parts,
        units,
        wide_reference,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part_lengths(plan: &Plan) -> Vec<usize> {
        plan.parts
            .iter()
            .map(|part| {
                let text = part.text().unwrap();
                match plan.alphabet {
                    Alphabet::Gsm7 => gsm7::to_septets(text).unwrap().len(),
                    _ => text.encode_utf16().count(),
                }
            })
            .collect()
    }

    #[test]
    fn gsm7_boundaries() {
        let plan = plan_text(&"a".repeat(160), EncodingPolicy::Auto).unwrap();
        assert_eq!((plan.alphabet, plan.part_count()), (Alphabet::Gsm7, 1));
        let plan = plan_text(&"a".repeat(161), EncodingPolicy::Auto).unwrap();
        assert_eq!(part_lengths(&plan), [153, 8]);
        assert_eq!(
            plan_text(&"a".repeat(306), EncodingPolicy::Auto)
                .unwrap()
                .part_count(),
            2
        );
        assert_eq!(
            plan_text(&"a".repeat(307), EncodingPolicy::Auto)
                .unwrap()
                .part_count(),
            3
        );
    }

    #[test]
    fn ucs2_boundaries() {
        let plan = plan_text(&"Ж".repeat(70), EncodingPolicy::Auto).unwrap();
        assert_eq!((plan.alphabet, plan.part_count()), (Alphabet::Ucs2, 1));
        assert_eq!(
            part_lengths(&plan_text(&"Ж".repeat(71), EncodingPolicy::Auto).unwrap()),
            [67, 4]
        );
        assert_eq!(
            plan_text(&"Ж".repeat(134), EncodingPolicy::Auto)
                .unwrap()
                .part_count(),
            2
        );
        assert_eq!(
            plan_text(&"Ж".repeat(135), EncodingPolicy::Auto)
                .unwrap()
                .part_count(),
            3
        );
    }

    #[test]
    fn escape_never_split() {
        // 152 septets, then '€' (2 septets) would straddle the 153 boundary.
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let plan = plan_text(&text, EncodingPolicy::Auto).unwrap();
        assert_eq!(part_lengths(&plan), [152, 12]);
        assert_eq!(plan.units, 164);
        // An extension character at the single-part limit: 159 + 2 = 161 septets.
        let plan = plan_text(&format!("{}€", "a".repeat(159)), EncodingPolicy::Auto).unwrap();
        assert_eq!(part_lengths(&plan), [153, 8]);
        let plan = plan_text(&format!("{}€", "a".repeat(158)), EncodingPolicy::Auto).unwrap();
        assert_eq!(plan.part_count(), 1);
    }

    #[test]
    fn surrogate_pair_never_split() {
        // 66 units, then an emoji (2 units) would straddle the 67 boundary.
        let text = format!("{}😀xxxxx", "Ж".repeat(66));
        let plan = plan_text(&text, EncodingPolicy::Auto).unwrap();
        assert_eq!(part_lengths(&plan), [66, 7]);
        let plan = plan_text(&format!("{}😀", "Ж".repeat(68)), EncodingPolicy::Auto).unwrap();
        assert_eq!(plan.part_count(), 1);
        assert_eq!(plan.units, 70);
    }

    #[test]
    fn wide_reference_parts_are_one_unit_smaller() {
        let plan = plan_text_wide(&"a".repeat(161), EncodingPolicy::Auto).unwrap();
        assert_eq!(
            (part_lengths(&plan), plan.wide_reference),
            (vec![152, 9], true)
        );
        let plan = plan_text_wide(&"Ж".repeat(71), EncodingPolicy::Auto).unwrap();
        assert_eq!(part_lengths(&plan), [66, 5]);
        assert_eq!(
            plan_text_wide(&"a".repeat(160), EncodingPolicy::Auto)
                .unwrap()
                .part_count(),
            1
        );
    }

    #[test]
    fn policies() {
        let plan = plan_text("hello", EncodingPolicy::Ucs2).unwrap();
        assert_eq!(plan.alphabet, Alphabet::Ucs2);
        assert_eq!(
            plan_text("façade", EncodingPolicy::Gsm7),
            Err(PlanError::NotGsm7 {
                character: 'ç',
                position: 2
            })
        );
        assert_eq!(
            plan_text("façade", EncodingPolicy::Auto).unwrap().alphabet,
            Alphabet::Ucs2
        );
        let empty = plan_text("", EncodingPolicy::Auto).unwrap();
        assert_eq!((empty.part_count(), empty.units), (1, 0));
    }

    #[test]
    fn part_limit() {
        assert_eq!(
            plan_text(&"a".repeat(255 * 153), EncodingPolicy::Auto)
                .unwrap()
                .part_count(),
            255
        );
        assert!(matches!(
            plan_text(&"a".repeat(255 * 153 + 1), EncodingPolicy::Auto),
            Err(PlanError::TooManyParts { parts: 256 })
        ));
        assert_eq!(plan_binary(&[0; 140]).unwrap().part_count(), 1);
        assert_eq!(plan_binary(&[0; 141]).unwrap().part_count(), 2);
        assert!(plan_binary(&vec![0; 255 * 134 + 1]).is_err());
    }
}
