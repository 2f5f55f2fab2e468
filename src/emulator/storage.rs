//! Message storage (27.005 §3.2.2 `<mem>`s): named memories with a fixed
//! capacity and index base, each slot holding a `<stat>` and a PDU (SMSC
//! field then TPDU). Lives on the SIM/modem, so it survives replugs.

use std::collections::BTreeMap;

use super::record::StoredEntry;

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Slot {
    pub(super) status: u8,
    pub(super) pdu: Vec<u8>,
    /// The PDU line and `<length>` as listed, when they are not the hex of
    /// `pdu` and its TPDU length (a raw injection of malformed text).
    pub(super) listing: Option<(String, usize)>,
}

impl Slot {
    /// The PDU line `AT+CMGL`/`AT+CMGR` answer with.
    pub(super) fn line(&self) -> String {
        match &self.listing {
            Some((line, _)) => line.clone(),
            None => crate::pdu::hex::encode(&self.pdu),
        }
    }

    /// The `<length>` listed: the TPDU's octets (without the SMSC field).
    pub(super) fn length(&self) -> usize {
        match &self.listing {
            Some((_, length)) => *length,
            None => {
                let smsc = self.pdu.first().map_or(0, |l| usize::from(*l) + 1);
                self.pdu.len().saturating_sub(smsc)
            }
        }
    }
}

/// One memory (`SM`, `ME`, `SR`).
#[derive(Debug, Clone)]
pub(super) struct Memory {
    pub(super) name: String,
    pub(super) capacity: usize,
    pub(super) first: u32,
    pub(super) slots: BTreeMap<u32, Slot>,
}

impl Memory {
    /// True when `index` names a slot of this memory (used or not).
    pub(super) fn valid(&self, index: u32) -> bool {
        index >= self.first && u64::from(index - self.first) < self.capacity as u64
    }
}

/// All memories of the modem.
#[derive(Debug, Clone)]
pub(super) struct Storage {
    memories: Vec<Memory>,
    /// Fault injection: every memory reports full.
    pub(super) forced_full: bool,
}

/// Why a message could not be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StoreError {
    Full,
    NoSuchMemory,
}

impl Storage {
    pub(super) fn new(names: &[&str], first: u32, capacity: impl Fn(&str) -> usize) -> Self {
        Storage {
            memories: names
                .iter()
                .map(|n| Memory {
                    name: (*n).to_owned(),
                    capacity: capacity(n),
                    first,
                    slots: BTreeMap::new(),
                })
                .collect(),
            forced_full: false,
        }
    }

    pub(super) fn get(&self, name: &str) -> Option<&Memory> {
        self.memories.iter().find(|m| m.name == name)
    }

    pub(super) fn get_mut(&mut self, name: &str) -> Option<&mut Memory> {
        self.memories.iter_mut().find(|m| m.name == name)
    }

    /// `(used, total)` as `+CPMS` reports it (full when forced).
    pub(super) fn usage(&self, name: &str) -> (usize, usize) {
        self.get(name).map_or((0, 0), |m| {
            let used = if self.forced_full {
                m.capacity
            } else {
                m.slots.len()
            };
            (used, m.capacity)
        })
    }

    /// Stores a PDU in the lowest free slot; returns its index.
    pub(super) fn store(
        &mut self,
        name: &str,
        status: u8,
        pdu: Vec<u8>,
    ) -> Result<u32, StoreError> {
        self.store_slot(
            name,
            Slot {
                status,
                pdu,
                listing: None,
            },
        )
    }

    /// Stores a slot in the lowest free index; returns it.
    pub(super) fn store_slot(&mut self, name: &str, slot: Slot) -> Result<u32, StoreError> {
        let forced = self.forced_full;
        let m = self.get_mut(name).ok_or(StoreError::NoSuchMemory)?;
        if forced || m.slots.len() >= m.capacity {
            return Err(StoreError::Full);
        }
        let index = (m.first..)
            .find(|i| !m.slots.contains_key(i))
            .unwrap_or(m.first);
        m.slots.insert(index, slot);
        Ok(index)
    }

    /// Every stored message, memory by memory, by index.
    pub(super) fn entries(&self) -> Vec<StoredEntry> {
        self.memories
            .iter()
            .flat_map(|m| {
                m.slots.iter().map(|(index, slot)| StoredEntry {
                    memory: m.name.clone(),
                    index: *index,
                    status: slot.status,
                    pdu: slot.pdu.clone(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_lowest_free_slot_and_refuses_when_full() {
        let mut s = Storage::new(&["SM"], 1, |_| 2);
        assert_eq!(s.store("SM", 0, vec![1]), Ok(1));
        assert_eq!(s.store("SM", 0, vec![2]), Ok(2));
        assert_eq!(s.store("SM", 0, vec![3]), Err(StoreError::Full));
        s.get_mut("SM").unwrap().slots.remove(&1);
        assert_eq!(s.store("SM", 0, vec![4]), Ok(1));
        assert_eq!(s.store("XX", 0, vec![]), Err(StoreError::NoSuchMemory));
        assert!(s.get("SM").unwrap().valid(2) && !s.get("SM").unwrap().valid(3));
        s.forced_full = true;
        assert_eq!(s.usage("SM"), (2, 2));
    }
}
