//! `simgate modem probe --modemmanager`: ModemManager's modems, and for
//! each whether simgate can use it and, when not, why (a locked SIM, no
//! messaging interface, a failed or disabled modem).

use super::model::{self, ModemEntry};
use std::fmt::Write;
use std::time::Duration;

/// How long the probe waits for ModemManager's answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The listing as text, for people.
pub(crate) fn render(modems: &[ModemEntry]) -> String {
    let mut out = String::new();
    if modems.is_empty() {
        out.push_str("ModemManager lists no modem.\n");
        return out;
    }
    let _ = writeln!(out, "ModemManager lists {} modem(s):", modems.len());
    for modem in modems {
        let index = modem
            .index()
            .map_or_else(|| "?".to_owned(), |i| i.to_string());
        let _ = writeln!(
            out,
            "  [{index}] {} ({})",
            if modem.name().is_empty() {
                "unnamed modem".to_owned()
            } else {
                modem.name()
            },
            modem.path
        );
        let _ = writeln!(
            out,
            "      equipment identifier: {}",
            if modem.equipment_identifier.is_empty() {
                "not given"
            } else {
                &modem.equipment_identifier
            }
        );
        let _ = writeln!(out, "      state: {}", model::modem_state_word(modem.state));
        match modem.usable() {
            Ok(()) => {
                let name = if modem.equipment_identifier.is_empty() {
                    index
                } else {
                    modem.equipment_identifier.clone()
                };
                let _ = writeln!(
                    out,
                    "      usable: yes ([modem] transport = \"modemmanager\", device = \"{name}\")"
                );
            }
            Err(why) => {
                let _ = writeln!(out, "      usable: no, {why}");
            }
        }
    }
    out
}

/// Asks ModemManager on the bus at `bus` (the system bus when `None`)
/// for its modems; the listing, or why it could not be asked.
pub(crate) async fn probe(bus: Option<&str>) -> Result<String, String> {
    let connection = super::connect(bus, PROBE_TIMEOUT)
        .await
        .map_err(|e| format!("cannot reach the D-Bus bus: {e}"))?;
    let modems = super::list_modems(&connection)
        .await
        .map_err(|e| format!("cannot ask ModemManager for its modems (is it running?): {e}"))?;
    Ok(render(&modems))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_modem_says_whether_it_can_be_used() {
        let good = ModemEntry {
            path: "/org/freedesktop/ModemManager1/Modem/0".to_owned(),
            equipment_identifier: "490154203237518".to_owned(),
            manufacturer: "Quectel".to_owned(),
            model: "EC25".to_owned(),
            state: 8,
            unlock_required: 1,
            messaging: true,
            ..ModemEntry::default()
        };
        let locked = ModemEntry {
            path: "/org/freedesktop/ModemManager1/Modem/1".to_owned(),
            state: 2,
            unlock_required: 2,
            messaging: false,
            ..good.clone()
        };
        let text = render(&[good, locked]);
        assert!(text.contains("[0] Quectel EC25"), "{text}");
        assert!(
            text.contains(
                "usable: yes ([modem] transport = \"modemmanager\", device = \"490154203237518\")"
            ),
            "{text}"
        );
        assert!(text.contains("usable: no, its SIM is locked"), "{text}");
        assert_eq!(render(&[]), "ModemManager lists no modem.\n");
    }
}
