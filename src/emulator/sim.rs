//! The SIM's lock: PIN and PUK with their attempt counters (3 PIN
//! attempts, then the PUK is required; 10 PUK attempts, then the SIM is
//! blocked for good), as 3GPP TS 31.101 §9 and 27.007 §8.3 describe.

/// PIN attempts a SIM allows.
pub(super) const PIN_ATTEMPTS: u8 = 3;
/// PUK attempts a SIM allows.
pub(super) const PUK_ATTEMPTS: u8 = 10;

/// Which password the SIM waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimState {
    /// Unlocked.
    Ready,
    /// Waits for the PIN.
    Pin,
    /// Waits for the PUK and a new PIN.
    Puk,
    /// PUK attempts exhausted: the SIM is dead.
    Blocked,
}

impl SimState {
    /// The `+CPIN:` code.
    pub fn code(self) -> &'static str {
        match self {
            SimState::Ready => "READY",
            SimState::Pin => "SIM PIN",
            SimState::Puk => "SIM PUK",
            SimState::Blocked => "SIM PUK",
        }
    }
}

/// The outcome of `AT+CPIN=...`: `Ok(())` or a `+CME ERROR` code.
pub(super) type Entry = Result<(), u16>;

/// CME codes (27.007 §9.2).
pub(super) mod cme {
    pub(in crate::emulator) const NOT_ALLOWED: u16 = 3;
    pub(in crate::emulator) const PIN_REQUIRED: u16 = 11;
    pub(in crate::emulator) const PUK_REQUIRED: u16 = 12;
    pub(in crate::emulator) const SIM_FAILURE: u16 = 13;
    pub(in crate::emulator) const INCORRECT_PASSWORD: u16 = 16;
    pub(in crate::emulator) const INCORRECT_PARAMETERS: u16 = 50;
}

/// The SIM lock state; survives replugs (it lives on the SIM).
#[derive(Debug, Clone)]
pub(super) struct Sim {
    pub(super) pin: String,
    pub(super) puk: String,
    /// PIN check enabled: the SIM locks at every power-up.
    pub(super) enabled: bool,
    pub(super) state: SimState,
    pub(super) pin_left: u8,
    pub(super) puk_left: u8,
}

fn digits(s: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

impl Sim {
    /// A SIM; with `pin` it starts locked. Without one the PIN is `1234`
    /// (used if a fault locks the SIM).
    pub(super) fn new(pin: Option<&str>, puk: &str) -> Self {
        Sim {
            pin: pin.unwrap_or("1234").to_owned(),
            puk: puk.to_owned(),
            enabled: pin.is_some(),
            state: if pin.is_some() {
                SimState::Pin
            } else {
                SimState::Ready
            },
            pin_left: PIN_ATTEMPTS,
            puk_left: PUK_ATTEMPTS,
        }
    }

    pub(super) fn ready(&self) -> bool {
        self.state == SimState::Ready
    }

    /// Power-up: an enabled PIN locks the SIM again.
    pub(super) fn power_up(&mut self) {
        if self.enabled && self.state == SimState::Ready {
            self.state = SimState::Pin;
        }
    }

    /// Forces the PIN request (fault injection).
    pub(super) fn lock(&mut self) {
        if self.state == SimState::Ready {
            self.state = SimState::Pin;
        }
    }

    /// The CME code a command needing the SIM gets while it is locked.
    pub(super) fn cme_block(&self) -> Option<u16> {
        match self.state {
            SimState::Ready => None,
            SimState::Pin => Some(cme::PIN_REQUIRED),
            SimState::Puk => Some(cme::PUK_REQUIRED),
            SimState::Blocked => Some(cme::SIM_FAILURE),
        }
    }

    /// The CMS code (27.005 §3.2.5) a SMS command gets while locked.
    pub(super) fn cms_block(&self) -> Option<u16> {
        match self.state {
            SimState::Ready => None,
            SimState::Pin => Some(311),
            SimState::Puk => Some(316),
            SimState::Blocked => Some(313),
        }
    }

    /// `AT+CPIN=<pin>[,<newpin>]` with the unquoted arguments.
    pub(super) fn enter(&mut self, args: &[String]) -> Entry {
        let (first, second) = match args {
            [a] => (a.as_str(), None),
            [a, b] => (a.as_str(), Some(b.as_str())),
            _ => return Err(cme::INCORRECT_PARAMETERS),
        };
        match self.state {
            SimState::Ready => Err(cme::NOT_ALLOWED),
            SimState::Blocked => Err(cme::SIM_FAILURE),
            SimState::Pin => {
                if !digits(first, 4..=8) {
                    return Err(cme::INCORRECT_PARAMETERS);
                }
                if first == self.pin {
                    self.state = SimState::Ready;
                    self.pin_left = PIN_ATTEMPTS;
                    Ok(())
                } else {
                    self.pin_left = self.pin_left.saturating_sub(1);
                    if self.pin_left == 0 {
                        self.state = SimState::Puk;
                    }
                    Err(cme::INCORRECT_PASSWORD)
                }
            }
            SimState::Puk => {
                let Some(new_pin) = second else {
                    return Err(cme::PUK_REQUIRED);
                };
                if !digits(first, 8..=8) || !digits(new_pin, 4..=8) {
                    return Err(cme::INCORRECT_PARAMETERS);
                }
                if first == self.puk {
                    self.pin = new_pin.to_owned();
                    self.state = SimState::Ready;
                    self.pin_left = PIN_ATTEMPTS;
                    self.puk_left = PUK_ATTEMPTS;
                    Ok(())
                } else {
                    self.puk_left = self.puk_left.saturating_sub(1);
                    if self.puk_left == 0 {
                        self.state = SimState::Blocked;
                    }
                    Err(cme::INCORRECT_PASSWORD)
                }
            }
        }
    }
}
