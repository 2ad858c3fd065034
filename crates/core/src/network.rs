//! The simulated network between components.
//!
//! Every message between two components passes through [`Network::route`], which
//! decides, drawing from the simulation's seeded RNG in a fixed order, whether the
//! message is cut by a partition, lost, delayed (and by how much), reordered or
//! duplicated. Links are FIFO by default, like the TCP connections real components
//! use; `reorder` lets a message be held back so later ones overtake it.

use crate::component_id::ComponentId;
use crate::rng::{SimRng, PPM};
use kscope_protocol::Fate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Tunable behaviour of the network. Probabilities are in parts per million.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// Smallest one-way latency; at least 1 ms, so that no message arrives at the
    /// instant it was sent and the driver always makes progress.
    pub latency_ms_min: u64,
    /// Largest one-way latency.
    pub latency_ms_max: u64,
    /// Chance that a message is lost.
    pub loss_ppm: u32,
    /// Chance that a message is delivered twice.
    pub duplicate_ppm: u32,
    /// Chance that a message is held back so that later messages on its link overtake it.
    pub reorder_ppm: u32,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig { latency_ms_min: 1, latency_ms_max: 5, loss_ppm: 0, duplicate_ppm: 0, reorder_ppm: 0 }
    }
}

impl NetworkConfig {
    /// Checks the invariants the driver relies on.
    pub fn validate(&self) -> Result<(), String> {
        if self.latency_ms_min == 0 {
            return Err("network latency must be at least 1ms".into());
        }
        if self.latency_ms_min > self.latency_ms_max {
            return Err(format!(
                "network latency minimum {}ms is above the maximum {}ms",
                self.latency_ms_min, self.latency_ms_max
            ));
        }
        for (name, ppm) in [("loss", self.loss_ppm), ("duplicate", self.duplicate_ppm), ("reorder", self.reorder_ppm)] {
            if ppm > PPM {
                return Err(format!("network {name} must be between 0 and 1"));
            }
        }
        Ok(())
    }
}

impl fmt::Display for NetworkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "latency {}ms..{}ms, loss {}, duplicate {}, reorder {}",
            self.latency_ms_min,
            self.latency_ms_max,
            format_ppm(self.loss_ppm),
            format_ppm(self.duplicate_ppm),
            format_ppm(self.reorder_ppm)
        )
    }
}

/// Parses a probability written as a fraction (`0.05`) or a percentage (`5%`) into
/// parts per million, exactly (no floating point).
pub fn parse_probability(text: &str) -> Result<u32, String> {
    let bad = || format!("invalid probability {text:?}: use a fraction from 0 to 1 (0.05) or a percentage (5%)");
    let (number, scale_digits) = match text.strip_suffix('%') {
        Some(n) => (n, 4), // 1% = 10_000 ppm
        None => (text, 6),
    };
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
        || frac_part.len() > scale_digits
        || int_part.len() > 3
    {
        return Err(bad());
    }
    let padded = format!("{int_part}{frac_part:0<scale_digits$}");
    let ppm: u64 = padded.parse().map_err(|_| bad())?;
    if ppm > u64::from(PPM) {
        return Err(bad());
    }
    Ok(ppm as u32)
}

/// Writes parts per million as a percentage: `0%`, `5%`, `0.25%`.
pub fn format_ppm(ppm: u32) -> String {
    let whole = ppm / 10_000;
    let frac = ppm % 10_000;
    if frac == 0 {
        format!("{whole}%")
    } else {
        format!("{whole}.{}%", format!("{frac:04}").trim_end_matches('0'))
    }
}

/// The first retransmission timeout of a lost packet on a stream (Linux's
/// minimum RTO, 200 ms).
pub const RETRANSMIT_MS: u64 = 200;

/// What the network decided for one copy of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// What happens to this copy.
    pub fate: Fate,
    /// When it arrives (the send time for a dropped copy).
    pub deliver_ms: u64,
}

/// Link state: configuration, partitions, and per-link FIFO bookkeeping.
#[derive(Clone, Debug, Default)]
pub struct Network {
    config: NetworkConfig,
    /// Directed links that are cut.
    cut: BTreeSet<(ComponentId, ComponentId)>,
    /// Latest delivery time scheduled on each directed link, for FIFO order.
    last_delivery_ms: BTreeMap<(ComponentId, ComponentId), u64>,
}

impl Network {
    /// A fully connected network with `config`. The config must be valid.
    pub fn new(config: NetworkConfig) -> Self {
        assert!(config.validate().is_ok(), "invalid network config: {config:?}");
        Network { config, ..Default::default() }
    }

    /// The current configuration.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// Replaces the configuration after validating it.
    pub fn set_config(&mut self, config: NetworkConfig) -> Result<(), String> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// Whether messages from `from` to `to` are currently cut.
    pub fn is_cut(&self, from: &ComponentId, to: &ComponentId) -> bool {
        self.cut.contains(&(from.clone(), to.clone()))
    }

    /// The cut links, each undirected pair once (`a < b`).
    pub fn partitions(&self) -> Vec<(ComponentId, ComponentId)> {
        self.cut.iter().filter(|(a, b)| a < b).cloned().collect()
    }

    /// Cuts every link between members of different `groups`. With a single
    /// group, cuts it off from every other component in `all`.
    pub fn partition(&mut self, groups: &[Vec<ComponentId>], all: &[ComponentId]) {
        let mut groups = groups.to_vec();
        if groups.len() == 1 {
            let rest: Vec<ComponentId> = all.iter().filter(|c| !groups[0].contains(c)).cloned().collect();
            groups.push(rest);
        }
        for (i, left) in groups.iter().enumerate() {
            for right in &groups[i + 1..] {
                for a in left {
                    for b in right {
                        self.cut.insert((a.clone(), b.clone()));
                        self.cut.insert((b.clone(), a.clone()));
                    }
                }
            }
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Decides the fate of a message sent now: one route, or two when duplicated.
    /// The RNG is drawn in the same order for the same inputs, always.
    ///
    /// A `stream` message travels on a TCP connection (HTTP and gRPC between
    /// clients and servers): a lost packet is retransmitted after
    /// [`RETRANSMIT_MS`] (doubling each time), which delays it and everything
    /// behind it on the link, and it is never duplicated or reordered. Only a
    /// partition loses it. Raft traffic is datagram-like: loss drops it.
    pub fn route(
        &mut self,
        rng: &mut SimRng,
        now_ms: u64,
        from: &ComponentId,
        to: &ComponentId,
        stream: bool,
    ) -> Vec<Route> {
        if self.is_cut(from, to) {
            return vec![Route { fate: Fate::Partitioned, deliver_ms: now_ms }];
        }
        if stream {
            let mut delay = 0;
            let mut rto = RETRANSMIT_MS;
            while rng.chance_ppm(self.config.loss_ppm) && rto <= 8 * RETRANSMIT_MS {
                delay += rto;
                rto *= 2;
            }
            let mut route = self.schedule_fifo(rng, now_ms + delay, from, to);
            route.deliver_ms = route.deliver_ms.max(now_ms + 1);
            return vec![route];
        }
        if rng.chance_ppm(self.config.loss_ppm) {
            return vec![Route { fate: Fate::Lost, deliver_ms: now_ms }];
        }
        let copies = if rng.chance_ppm(self.config.duplicate_ppm) { 2 } else { 1 };
        (0..copies).map(|_| self.schedule(rng, now_ms, from, to)).collect()
    }

    fn schedule_fifo(&mut self, rng: &mut SimRng, now_ms: u64, from: &ComponentId, to: &ComponentId) -> Route {
        let latency_ms = rng.between(self.config.latency_ms_min, self.config.latency_ms_max);
        let last = self.last_delivery_ms.entry((from.clone(), to.clone())).or_insert(0);
        let deliver_ms = (now_ms + latency_ms).max(*last);
        *last = deliver_ms;
        Route { fate: Fate::Delivered, deliver_ms }
    }

    fn schedule(&mut self, rng: &mut SimRng, now_ms: u64, from: &ComponentId, to: &ComponentId) -> Route {
        let latency_ms = rng.between(self.config.latency_ms_min, self.config.latency_ms_max);
        let mut deliver_ms = now_ms + latency_ms;
        let link = (from.clone(), to.clone());
        if rng.chance_ppm(self.config.reorder_ppm) {
            // Held back: up to ten times the maximum latency, so that later messages
            // on this link overtake it. It does not hold back the ones after it.
            deliver_ms += rng.between(1, 10 * self.config.latency_ms_max);
        } else {
            let last = self.last_delivery_ms.entry(link).or_insert(0);
            deliver_ms = deliver_ms.max(*last);
            *last = deliver_ms;
        }
        debug_assert!(deliver_ms > now_ms);
        Route { fate: Fate::Delivered, deliver_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (ComponentId, ComponentId, ComponentId) {
        (ComponentId::Etcd(1), ComponentId::Etcd(2), ComponentId::Etcd(3))
    }

    #[test]
    fn fifo_links_never_reorder_by_default() {
        let (a, b, _) = ids();
        let mut net = Network::new(NetworkConfig { latency_ms_min: 1, latency_ms_max: 50, ..Default::default() });
        let mut rng = SimRng::new(5);
        let mut last = 0;
        for now in 0..500 {
            let routes = net.route(&mut rng, now, &a, &b, false);
            assert_eq!(routes.len(), 1);
            assert!(routes[0].deliver_ms >= last && routes[0].deliver_ms > now);
            assert!(routes[0].deliver_ms <= now + 50 || routes[0].deliver_ms == last);
            last = routes[0].deliver_ms;
        }
    }

    #[test]
    fn reorder_lets_later_messages_overtake() {
        let (a, b, _) = ids();
        let mut net = Network::new(NetworkConfig { reorder_ppm: 300_000, ..Default::default() });
        let mut rng = SimRng::new(9);
        let times: Vec<u64> = (0..200).map(|now| net.route(&mut rng, now, &a, &b, false)[0].deliver_ms).collect();
        assert!(times.windows(2).any(|w| w[1] < w[0]), "no message was overtaken");
    }

    #[test]
    fn loss_and_duplication_rates_follow_config() {
        let (a, b, _) = ids();
        let mut net = Network::new(NetworkConfig { loss_ppm: 100_000, duplicate_ppm: 200_000, ..Default::default() });
        let mut rng = SimRng::new(11);
        let (mut lost, mut dup) = (0, 0);
        for now in 0..10_000 {
            let routes = net.route(&mut rng, now, &a, &b, false);
            match routes.as_slice() {
                [r] if r.fate == Fate::Lost => lost += 1,
                [_, _] => dup += 1,
                [r] => assert_eq!(r.fate, Fate::Delivered),
                _ => unreachable!(),
            }
        }
        assert!((800..1200).contains(&lost), "lost {lost}");
        assert!((1500..2100).contains(&dup), "dup {dup}");
    }

    #[test]
    fn streams_retransmit_instead_of_losing_and_stay_in_order() {
        let (a, b, _) = ids();
        let mut net = Network::new(NetworkConfig {
            loss_ppm: 300_000,
            duplicate_ppm: 200_000,
            reorder_ppm: 200_000,
            ..Default::default()
        });
        let mut rng = SimRng::new(5);
        let mut last = 0;
        let mut retransmitted = 0;
        for now in 0..2_000 {
            let routes = net.route(&mut rng, now, &a, &b, true);
            assert_eq!(routes.len(), 1, "never duplicated");
            assert_eq!(routes[0].fate, Fate::Delivered, "never lost");
            assert!(routes[0].deliver_ms >= last, "never reordered");
            if routes[0].deliver_ms >= now + RETRANSMIT_MS {
                retransmitted += 1;
            }
            last = routes[0].deliver_ms;
        }
        assert!(retransmitted > 100, "{retransmitted}");
        net.partition(&[vec![a.clone()]], &[a.clone(), b.clone()]);
        assert_eq!(net.route(&mut rng, 9, &a, &b, true)[0].fate, Fate::Partitioned);
    }

    #[test]
    fn partition_cuts_between_groups_and_heal_restores() {
        let (a, b, c) = ids();
        let all = vec![a.clone(), b.clone(), c.clone(), ComponentId::ApiServer];
        let mut net = Network::default();
        net.partition(&[vec![a.clone()]], &all);
        assert!(net.is_cut(&a, &b) && net.is_cut(&c, &a) && net.is_cut(&ComponentId::ApiServer, &a));
        assert!(!net.is_cut(&b, &c));
        let mut rng = SimRng::new(1);
        assert_eq!(net.route(&mut rng, 7, &b, &a, false), vec![Route { fate: Fate::Partitioned, deliver_ms: 7 }]);
        net.heal();
        assert!(!net.is_cut(&a, &b));
        net.partition(&[vec![a.clone(), b.clone()], vec![c.clone()]], &all);
        assert!(net.is_cut(&a, &c) && net.is_cut(&c, &b) && !net.is_cut(&a, &b));
        assert!(!net.is_cut(&a, &ComponentId::ApiServer));
        assert_eq!(net.partitions().len(), 2);
    }

    #[test]
    fn probabilities_parse_exactly() {
        assert_eq!(parse_probability("0"), Ok(0));
        assert_eq!(parse_probability("1"), Ok(PPM));
        assert_eq!(parse_probability("0.05"), Ok(50_000));
        assert_eq!(parse_probability("5%"), Ok(50_000));
        assert_eq!(parse_probability("0.25%"), Ok(2_500));
        assert_eq!(parse_probability("100%"), Ok(PPM));
        for bad in ["", "%", "1.5", "101%", "-1", "0.1234567", "abc", "1e-3"] {
            assert!(parse_probability(bad).is_err(), "{bad}");
        }
        assert_eq!(format_ppm(50_000), "5%");
        assert_eq!(format_ppm(2_500), "0.25%");
        assert!(NetworkConfig { latency_ms_min: 0, ..Default::default() }.validate().is_err());
        assert!(NetworkConfig { latency_ms_min: 9, latency_ms_max: 3, ..Default::default() }.validate().is_err());
    }
}
