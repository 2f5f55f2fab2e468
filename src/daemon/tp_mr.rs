//! Telling whether a part whose `+CMGS` answer never came went out, from
//! the modem's TP-MR counter. Pure.
//!
//! The modem numbers every SMS-SUBMIT it transmits with the next TP-MR
//! (3GPP TS 23.040 §9.2.3.6) and keeps the last one used on the SIM
//! (EF_SMSS, TS 31.102 §4.2.9, read with `AT+CRSM`). simgate records, with
//! each part it hands to the modem, the TP-MR the modem had used last
//! (`mr_before`). Reading the counter again afterwards tells:
//!
//! - unchanged: the part was not transmitted (provided the SIM's counter is
//!   known to follow what the modem sends: some modems write it back only
//!   at power-off, and then an unchanged counter proves nothing);
//! - one more: the part went out, with that TP-MR;
//! - anything else (another program sent meanwhile, the counter was
//!   reset): nothing can be concluded, and the send stays ambiguous.

/// Whether the SIM's last-used TP-MR follows the modem's sends, as learnt
/// from reading it right after a send with a known TP-MR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Counter {
    /// Not learnt yet.
    Unknown,
    /// It showed the TP-MR of the message just sent.
    Follows,
    /// It did not: only a counter that moved is evidence.
    Stale,
}

impl Counter {
    /// The word stored in the database.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Follows => "follows",
            Self::Stale => "stale",
        }
    }

    /// From the stored word.
    pub(crate) fn parse(text: &str) -> Self {
        match text {
            "follows" => Self::Follows,
            "stale" => Self::Stale,
            _ => Self::Unknown,
        }
    }

    /// What reading `last_used` right after a send answered with `sent`
    /// teaches.
    pub(crate) fn learn(sent: u8, last_used: u8) -> Self {
        if sent == last_used {
            Self::Follows
        } else {
            Self::Stale
        }
    }
}

/// What the counter says about a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Resolution {
    /// It did not go out: send it (once).
    NotSent,
    /// It went out with this TP-MR.
    Sent(u8),
    /// Nothing can be concluded.
    Unknown,
}

/// Decides from the TP-MR used last before the part (`mr_before`), the one
/// used last now (`last_used`), and what is known about the counter.
pub(crate) fn resolve(mr_before: Option<u8>, last_used: u8, counter: Counter) -> Resolution {
    let Some(before) = mr_before else {
        return Resolution::Unknown;
    };
    if last_used == before.wrapping_add(1) {
        // The counter moved by exactly one: it follows the sends, and this
        // part took that number.
        Resolution::Sent(last_used)
    } else if last_used == before && counter == Counter::Follows {
        Resolution::NotSent
    } else {
        Resolution::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_tells_sent_from_not_sent() {
        assert_eq!(resolve(Some(7), 8, Counter::Follows), Resolution::Sent(8));
        assert_eq!(resolve(Some(7), 8, Counter::Unknown), Resolution::Sent(8));
        assert_eq!(resolve(Some(255), 0, Counter::Stale), Resolution::Sent(0));
        assert_eq!(resolve(Some(7), 7, Counter::Follows), Resolution::NotSent);
        // An unchanged counter that may not follow the sends proves nothing.
        assert_eq!(resolve(Some(7), 7, Counter::Unknown), Resolution::Unknown);
        assert_eq!(resolve(Some(7), 7, Counter::Stale), Resolution::Unknown);
        // Someone else sent meanwhile, or the counter was reset.
        assert_eq!(resolve(Some(7), 9, Counter::Follows), Resolution::Unknown);
        assert_eq!(resolve(Some(7), 0, Counter::Follows), Resolution::Unknown);
        assert_eq!(resolve(None, 8, Counter::Follows), Resolution::Unknown);
    }

    #[test]
    fn the_counter_is_learnt_from_one_send() {
        assert_eq!(Counter::learn(42, 42), Counter::Follows);
        assert_eq!(Counter::learn(42, 17), Counter::Stale);
        for counter in [Counter::Unknown, Counter::Follows, Counter::Stale] {
            assert_eq!(Counter::parse(counter.as_str()), counter);
        }
    }
}
