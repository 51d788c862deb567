//! The quantized sites, as data (SPEC.md clause N2): the registry of every place in the LMU
//! where a quantized activation can sit, the placement as a set of sites, and [`SiteMap`], one
//! value per site.
//!
//! A site is one entry in [`QuantizedSite`] and one arm in each of the few `match`es of this
//! module: its code in the initial-state generator (Q3), its word, its base activation, how many
//! neurons it has, whom one of its events reaches (B6) and where in the time step it is
//! quantized. Everything that iterates over sites (traces, metrics, counters, pricing, the
//! placements a file may name) reads this module, so that a new site costs this module plus
//! each engine's place for it.

use std::fmt;
use std::ops::{Index, IndexMut};
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::{Activation, LmuConfig, NetworkConfig};
use crate::error::{HsnnError, Result};

/// A place in the network where the quantizer sits (SPEC.md clause N2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantizedSite {
    /// The hidden units `h_t` (base activation: the hidden activation).
    Hidden,
    /// The memory input `u_t` (base activation: identity).
    MemoryInput,
    /// The memory state `m_t` as it feeds `W_m` (base activation: identity, signed). The
    /// memory's own update, `e_m` and the next step read the dense `m_t`.
    MemoryState,
}

/// Where in the time step of clause N1 a site's quantizer acts, in the order the step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StepPosition {
    /// On `u_t`, after it is computed from `x_t`, `h_{t-1}` and `m_{t-1}` and before it enters
    /// the memory update `m_t = Abar m_{t-1} + Bbar q(u_t)`.
    BeforeMemoryUpdate,
    /// On `m_t`, after the memory update and before `m_t W_m` enters the pre-activation.
    AfterMemoryUpdate,
    /// On `h_t`, after its activation and before it feeds the next step and the readout.
    AfterHiddenUpdate,
}

/// The base activation of a site's quantizer (SPEC.md clause Q1): the function whose rate the
/// spikes carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteActivation {
    /// The network's hidden activation (`lmu.hidden_activation`).
    HiddenActivation,
    /// The identity: a signed quantizer of a linear quantity.
    Identity,
}

impl QuantizedSite {
    /// Every site, in the order traces, metrics and reports list them (clause N3).
    pub const ALL: [QuantizedSite; 3] = [
        QuantizedSite::Hidden,
        QuantizedSite::MemoryInput,
        QuantizedSite::MemoryState,
    ];

    /// How many sites there are.
    pub const COUNT: usize = Self::ALL.len();

    /// The site's slot in a [`SiteMap`] and its bit in a [`QuantizerPlacement`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The site's code in the initial-state generator of clause Q3.
    pub fn code(self) -> u64 {
        match self {
            QuantizedSite::Hidden => 1,
            QuantizedSite::MemoryInput => 2,
            QuantizedSite::MemoryState => 3,
        }
    }

    /// The name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            QuantizedSite::Hidden => "hidden",
            QuantizedSite::MemoryInput => "memory_input",
            QuantizedSite::MemoryState => "memory_state",
        }
    }

    /// Which function the site's spikes carry the rate of (clause Q1).
    pub fn base(self) -> SiteActivation {
        match self {
            QuantizedSite::Hidden => SiteActivation::HiddenActivation,
            QuantizedSite::MemoryInput | QuantizedSite::MemoryState => SiteActivation::Identity,
        }
    }

    /// Whether files list the site even where it holds nothing (`null`, an empty record): the
    /// sites files have always listed. A site added later is written only where present, so
    /// that files of networks without it, and their checksums, stay as they were.
    pub fn listed_when_absent(self) -> bool {
        match self {
            QuantizedSite::Hidden | QuantizedSite::MemoryInput => true,
            QuantizedSite::MemoryState => false,
        }
    }

    /// Where in the time step the site is quantized (clause N1).
    pub fn position(self) -> StepPosition {
        match self {
            QuantizedSite::Hidden => StepPosition::AfterHiddenUpdate,
            QuantizedSite::MemoryInput => StepPosition::BeforeMemoryUpdate,
            QuantizedSite::MemoryState => StepPosition::AfterMemoryUpdate,
        }
    }

    /// The site's base activation in a network of this shape (decides the sign bit of B1).
    pub fn activation(self, lmu: &LmuConfig) -> Activation {
        match self.base() {
            SiteActivation::HiddenActivation => lmu.hidden_activation,
            SiteActivation::Identity => Activation::Identity,
        }
    }

    /// Quantized neurons at this site in a network of this shape.
    pub fn neurons(self, lmu: &LmuConfig) -> usize {
        match self {
            QuantizedSite::Hidden => lmu.hidden_size,
            QuantizedSite::MemoryInput => lmu.memory_size,
            QuantizedSite::MemoryState => lmu.memory_length(),
        }
    }

    /// Fan-out of one event of each neuron at this site (SPEC.md clause B6), structural:
    /// `(every step but the last, the last step)`. A hidden event reaches W_h and, when present,
    /// e_h; at the last step only the readout reads h_T. A memory-input event enters its memory
    /// through Bbar: `order` targets at every step. A memory-state event reaches its row of W_m:
    /// `hidden_size` targets at every step, the last included (m_T feeds z_T). Part of the
    /// contract, so every backend records the same fan-outs.
    pub fn fan_outs(self, config: &NetworkConfig) -> (Vec<u64>, Vec<u64>) {
        let lmu = &config.lmu;
        match self {
            QuantizedSite::Hidden => {
                let mut recurrent = lmu.hidden_size as u64;
                if lmu.connections.hidden_to_memory {
                    recurrent += lmu.memory_size as u64;
                }
                (
                    vec![recurrent; lmu.hidden_size],
                    vec![config.output_size as u64; lmu.hidden_size],
                )
            }
            QuantizedSite::MemoryInput => {
                let targets = vec![lmu.order as u64; lmu.memory_size];
                (targets.clone(), targets)
            }
            QuantizedSite::MemoryState => {
                let targets = vec![lmu.hidden_size as u64; lmu.memory_length()];
                (targets.clone(), targets)
            }
        }
    }
}

impl fmt::Display for QuantizedSite {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// One value per quantized site, indexed by [`QuantizedSite`] (clause N2): what engines,
/// counters and pricing hold per site instead of a field for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SiteMap<T> {
    slots: [T; QuantizedSite::COUNT],
}

impl<T> SiteMap<T> {
    /// The map whose value at each site is `value(site)`.
    pub fn from_fn(mut value: impl FnMut(QuantizedSite) -> T) -> Self {
        SiteMap {
            slots: QuantizedSite::ALL.map(&mut value),
        }
    }

    /// Every site with its value, in the order of [`QuantizedSite::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (QuantizedSite, &T)> {
        QuantizedSite::ALL.into_iter().zip(self.slots.iter())
    }

    /// Every site with its value, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (QuantizedSite, &mut T)> {
        QuantizedSite::ALL.into_iter().zip(self.slots.iter_mut())
    }

    /// The map of `f` applied to each site's value.
    pub fn map<U>(self, mut f: impl FnMut(QuantizedSite, T) -> U) -> SiteMap<U> {
        let mut sites = QuantizedSite::ALL.into_iter();
        SiteMap {
            slots: self.slots.map(|value| {
                let site = sites.next().expect("one value per site");
                f(site, value)
            }),
        }
    }

    /// The map of references to each site's value.
    pub fn as_ref(&self) -> SiteMap<&T> {
        SiteMap {
            slots: self.slots.each_ref(),
        }
    }

    /// The map of mutable references to each site's value.
    pub fn as_mut(&mut self) -> SiteMap<&mut T> {
        SiteMap {
            slots: self.slots.each_mut(),
        }
    }
}

impl<T> SiteMap<Option<T>> {
    /// The sites that hold a value, with it, in the order of [`QuantizedSite::ALL`].
    pub fn present(&self) -> impl Iterator<Item = (QuantizedSite, &T)> {
        self.iter()
            .filter_map(|(site, value)| value.as_ref().map(|value| (site, value)))
    }

    /// The set of sites that hold a value.
    pub fn placement(&self) -> QuantizerPlacement {
        self.present()
            .fold(QuantizerPlacement::NONE, |placement, (site, _)| {
                placement.with(site)
            })
    }
}

impl<T> Index<QuantizedSite> for SiteMap<T> {
    type Output = T;
    fn index(&self, site: QuantizedSite) -> &T {
        &self.slots[site.index()]
    }
}

impl<T> IndexMut<QuantizedSite> for SiteMap<T> {
    fn index_mut(&mut self, site: QuantizedSite) -> &mut T {
        &mut self.slots[site.index()]
    }
}

/// A value a site map holds in a file, which may stand for "nothing at this site".
pub trait SiteValue {
    /// Whether the value stands for nothing (an absent `Option`, an empty record).
    fn is_absent(&self) -> bool;
}

impl<T> SiteValue for Option<T> {
    fn is_absent(&self) -> bool {
        self.is_none()
    }
}

impl SiteValue for u32 {
    fn is_absent(&self) -> bool {
        false
    }
}

/// A site map is written as an object keyed by site word, in registry order, so files list
/// what each site holds by name. An absent value is written (`null`) only for the sites files
/// have always listed ([`QuantizedSite::listed_when_absent`]).
impl<T: Serialize + SiteValue> Serialize for SiteMap<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (site, value) in self.iter() {
            if site.listed_when_absent() || !value.is_absent() {
                map.serialize_entry(site.name(), value)?;
            }
        }
        map.end()
    }
}

/// A site map is read from an object keyed by site word; a site left out takes its default
/// (absent, for an `Option`), so files written before a site existed keep reading. A key
/// that names no site, or a site twice, is refused.
impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for SiteMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct SiteMapVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Default> serde::de::Visitor<'de> for SiteMapVisitor<T> {
            type Value = SiteMap<T>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an object keyed by quantized site")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> std::result::Result<SiteMap<T>, A::Error> {
                let mut map = SiteMap::<Option<T>>::default();
                while let Some(key) = access.next_key::<String>()? {
                    let site = QuantizedSite::ALL
                        .into_iter()
                        .find(|site| site.name() == key)
                        .ok_or_else(|| serde::de::Error::unknown_field(&key, site_words()))?;
                    if map[site].is_some() {
                        return Err(serde::de::Error::duplicate_field(site.name()));
                    }
                    map[site] = Some(access.next_value()?);
                }
                Ok(map.map(|_, value| value.unwrap_or_default()))
            }
        }
        deserializer.deserialize_map(SiteMapVisitor(std::marker::PhantomData))
    }
}

/// The site words as serde's `unknown_field` wants them: a static list.
fn site_words() -> &'static [&'static str] {
    static WORDS: OnceLock<Vec<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| QuantizedSite::ALL.iter().map(|site| site.name()).collect())
}

/// Where the quantized activation sits in the hybrid network (SPEC.md clause N2): a set of
/// [`QuantizedSite`]s. The empty set is the non-spiking network, where training starts.
///
/// Files and the command line name a placement by one word: `none`, a site's name, `both` for
/// the hidden units and the memory input (the word files have always used), or site names
/// joined by `+` for any other set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct QuantizerPlacement {
    bits: u32,
}

/// How many placements there are: every subset of the sites.
const PLACEMENT_COUNT: usize = 1 << QuantizedSite::COUNT;

/// Every placement, the empty one first, then in the order of their bits (so `none`, `hidden`,
/// `memory_input`, `both`, as files have always listed them).
const ALL_PLACEMENTS: [QuantizerPlacement; PLACEMENT_COUNT] = {
    let mut all = [QuantizerPlacement::NONE; PLACEMENT_COUNT];
    let mut bits = 0;
    while bits < PLACEMENT_COUNT {
        all[bits] = QuantizerPlacement { bits: bits as u32 };
        bits += 1;
    }
    all
};

impl QuantizerPlacement {
    /// Nothing spikes: the plain (rate) LMU, where training starts.
    pub const NONE: QuantizerPlacement = QuantizerPlacement { bits: 0 };
    /// The hidden units `h_t` spike; memory, input and readout stay non-spiking.
    pub const HIDDEN: QuantizerPlacement = QuantizerPlacement::only(QuantizedSite::Hidden);
    /// The memory input `u_t` spikes (identity base activation).
    pub const MEMORY_INPUT: QuantizerPlacement =
        QuantizerPlacement::only(QuantizedSite::MemoryInput);
    /// Both the hidden units and the memory input spike.
    pub const BOTH: QuantizerPlacement = QuantizerPlacement {
        bits: Self::HIDDEN.bits | Self::MEMORY_INPUT.bits,
    };

    /// Every placement: the empty one, then every non-empty set of sites.
    pub const ALL: &'static [QuantizerPlacement] = &ALL_PLACEMENTS;

    /// The placement of `site` alone.
    pub const fn only(site: QuantizedSite) -> QuantizerPlacement {
        QuantizerPlacement {
            bits: 1 << site.index(),
        }
    }

    /// This placement with `site` added.
    pub const fn with(self, site: QuantizedSite) -> QuantizerPlacement {
        QuantizerPlacement {
            bits: self.bits | 1 << site.index(),
        }
    }

    /// Whether `site` is quantized.
    pub const fn quantizes(self, site: QuantizedSite) -> bool {
        self.bits & (1 << site.index()) != 0
    }

    /// Whether anything spikes.
    pub const fn is_spiking(self) -> bool {
        self.bits != 0
    }

    /// The quantized sites, in the order of [`QuantizedSite::ALL`].
    pub fn sites(self) -> impl Iterator<Item = QuantizedSite> {
        QuantizedSite::ALL
            .into_iter()
            .filter(move |&site| self.quantizes(site))
    }

    /// The word used in files and on the command line (see the type's documentation).
    pub fn name(self) -> &'static str {
        static WORDS: OnceLock<Vec<String>> = OnceLock::new();
        let words = WORDS.get_or_init(|| ALL_PLACEMENTS.iter().map(|p| p.spelled()).collect());
        &words[self.bits as usize]
    }

    fn spelled(self) -> String {
        if self == Self::NONE {
            "none".to_string()
        } else if self == Self::BOTH {
            "both".to_string()
        } else {
            self.sites()
                .map(QuantizedSite::name)
                .collect::<Vec<_>>()
                .join("+")
        }
    }

    /// The placement `text` names: `none`, `both`, or site names joined by `+` in any order
    /// and without repeats; otherwise an error naming `field` and the words it may be.
    pub fn parse(field: &str, text: &str) -> Result<QuantizerPlacement> {
        if let Some(&placement) = ALL_PLACEMENTS.iter().find(|p| p.name() == text) {
            return Ok(placement);
        }
        let refusal = || {
            let sites: Vec<&str> = QuantizedSite::ALL.iter().map(|s| s.name()).collect();
            HsnnError::invalid(
                field,
                format!(
                    "must be none, both, or site names joined by '+' (sites: {}), got {text:?}",
                    sites.join(", ")
                ),
            )
        };
        let mut placement = QuantizerPlacement::NONE;
        for name in text.split('+') {
            let site = QuantizedSite::ALL
                .into_iter()
                .find(|site| site.name() == name)
                .ok_or_else(refusal)?;
            if placement.quantizes(site) {
                return Err(refusal());
            }
            placement = placement.with(site);
        }
        Ok(placement)
    }
}

impl fmt::Debug for QuantizerPlacement {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "QuantizerPlacement({})", self.name())
    }
}

impl fmt::Display for QuantizerPlacement {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl Serialize for QuantizerPlacement {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for QuantizerPlacement {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        QuantizerPlacement::parse("placement", &text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RecurrentConnections;

    #[test]
    fn n2_every_site_has_a_distinct_code_name_and_slot() {
        for (slot, site) in QuantizedSite::ALL.into_iter().enumerate() {
            assert_eq!(site.index(), slot);
            for other in QuantizedSite::ALL {
                if other != site {
                    assert_ne!(site.code(), other.code());
                    assert_ne!(site.name(), other.name());
                }
            }
            // Q3's codes start at 1: 0 would collide with the generator's unkeyed state.
            assert!(site.code() >= 1);
            assert!(!site.name().contains('+'));
        }
    }

    #[test]
    fn n2_placements_are_the_sets_of_sites_and_keep_the_words_files_used() {
        assert_eq!(QuantizerPlacement::ALL.len(), 1 << QuantizedSite::COUNT);
        let words: Vec<&str> = QuantizerPlacement::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(&words[..4], ["none", "hidden", "memory_input", "both"]);
        for (index, placement) in QuantizerPlacement::ALL.iter().enumerate() {
            for (other_index, other) in QuantizerPlacement::ALL.iter().enumerate() {
                assert_eq!(index == other_index, placement == other);
                assert_eq!(index == other_index, placement.name() == other.name());
            }
            let sites: Vec<QuantizedSite> = placement.sites().collect();
            let rebuilt = sites
                .iter()
                .fold(QuantizerPlacement::NONE, |set, &site| set.with(site));
            assert_eq!(rebuilt, *placement);
            assert_eq!(placement.is_spiking(), !sites.is_empty());
            assert_eq!(
                QuantizerPlacement::parse("placement", placement.name()).expect("its own word"),
                *placement
            );
        }
        assert!(!QuantizerPlacement::NONE.is_spiking());
        // Adding a site a placement has already is no change (a set, not a toggle).
        for placement in QuantizerPlacement::ALL {
            for site in placement.sites() {
                assert_eq!(placement.with(site), *placement);
            }
        }
        assert!(QuantizerPlacement::BOTH.quantizes(QuantizedSite::Hidden));
        assert!(QuantizerPlacement::BOTH.quantizes(QuantizedSite::MemoryInput));
        assert!(!QuantizerPlacement::HIDDEN.quantizes(QuantizedSite::MemoryInput));
        assert!(!QuantizerPlacement::MEMORY_INPUT.quantizes(QuantizedSite::Hidden));
    }

    #[test]
    fn e1_a_placement_reads_sites_joined_in_any_order_and_refuses_the_rest() {
        let both = QuantizerPlacement::parse("p", "memory_input+hidden").expect("a set");
        assert_eq!(both, QuantizerPlacement::BOTH);
        assert_eq!(both.name(), "both");
        for bad in [
            "",
            "hidden+",
            "hidden+hidden",
            "Hidden",
            "none+hidden",
            "all",
        ] {
            let message = QuantizerPlacement::parse("quantizer.placement", bad)
                .expect_err(bad)
                .to_string();
            assert!(message.contains("quantizer.placement"), "{message}");
            assert!(message.contains("memory_input"), "{message}");
        }
        let read: std::result::Result<QuantizerPlacement, _> = serde_json::from_str("\"all\"");
        assert!(read
            .expect_err("not a placement")
            .to_string()
            .contains("got \"all\""));
    }

    #[test]
    fn n2_a_site_map_holds_one_value_per_site_in_registry_order() {
        let mut codes = SiteMap::from_fn(QuantizedSite::code);
        for site in QuantizedSite::ALL {
            assert_eq!(codes[site], site.code());
        }
        codes[QuantizedSite::Hidden] = 40;
        let doubled = codes.map(|_, code| code * 2);
        assert_eq!(doubled[QuantizedSite::Hidden], 80);
        assert_eq!(
            doubled[QuantizedSite::MemoryInput],
            2 * QuantizedSite::MemoryInput.code()
        );
        let order: Vec<QuantizedSite> = doubled.iter().map(|(site, _)| site).collect();
        assert_eq!(order, QuantizedSite::ALL);
        let mut some = SiteMap::<Option<u8>>::default();
        some[QuantizedSite::MemoryInput] = Some(3);
        assert_eq!(some.placement(), QuantizerPlacement::MEMORY_INPUT);
        assert_eq!(some.present().count(), 1);
    }

    #[test]
    fn e2_site_maps_keep_the_file_form_of_files_written_before_a_site_existed() {
        let mut map = SiteMap::<Option<u8>>::default();
        map[QuantizedSite::Hidden] = Some(7);
        // The sites files have always listed are written when absent; a later one is not.
        let text = serde_json::to_string(&map).expect("serializes");
        assert_eq!(text, r#"{"hidden":7,"memory_input":null}"#);
        let read: SiteMap<Option<u8>> = serde_json::from_str(&text).expect("reads back");
        assert_eq!(read, map);
        map[QuantizedSite::MemoryState] = Some(3);
        let text = serde_json::to_string(&map).expect("serializes");
        assert_eq!(text, r#"{"hidden":7,"memory_input":null,"memory_state":3}"#);
        assert_eq!(
            serde_json::from_str::<SiteMap<Option<u8>>>(&text).expect("reads"),
            map
        );
        for bad in [r#"{"hidden":1,"memory":2}"#, r#"{"hidden":1,"hidden":2}"#] {
            assert!(
                serde_json::from_str::<SiteMap<Option<u8>>>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn e2_a_site_map_of_widths_lists_every_site_and_bad_maps_name_the_sites() {
        // A width is never absent: a map of them lists the later site too.
        let widths = SiteMap::from_fn(|site| site.code() as u32 * 8);
        let text = serde_json::to_string(&widths).expect("serializes");
        assert_eq!(text, r#"{"hidden":8,"memory_input":16,"memory_state":24}"#);
        let not_a_map = serde_json::from_str::<SiteMap<u32>>("3").expect_err("not a map");
        assert!(
            not_a_map
                .to_string()
                .contains("an object keyed by quantized site"),
            "{not_a_map}"
        );
        let unknown = serde_json::from_str::<SiteMap<u32>>(r#"{"memory":1}"#).expect_err("site");
        let message = unknown.to_string();
        for site in QuantizedSite::ALL {
            assert!(message.contains(site.name()), "{message}");
        }
    }

    #[test]
    fn n2_sites_and_placements_display_as_their_words() {
        for site in QuantizedSite::ALL {
            assert_eq!(site.to_string(), site.name());
        }
        for placement in QuantizerPlacement::ALL {
            assert_eq!(placement.to_string(), placement.name());
            assert!(format!("{placement:?}").contains(placement.name()));
        }
        let mut map = SiteMap::from_fn(QuantizedSite::code);
        for (_, value) in map.iter_mut() {
            *value += 10;
        }
        assert_eq!(map[QuantizedSite::MemoryState], 13);
    }

    #[test]
    fn b6_fan_outs_follow_the_connections() {
        let mut config = NetworkConfig {
            lmu: LmuConfig {
                input_size: 1,
                hidden_size: 3,
                memory_size: 2,
                order: 5,
                theta: 4.0,
                discretizer: crate::config::Discretizer::ZeroOrderHold,
                hidden_activation: Activation::Relu,
                connections: RecurrentConnections {
                    hidden_to_memory: false,
                    memory_to_memory: false,
                    input_to_hidden: true,
                },
            },
            output_size: 7,
            quantizer: crate::config::QuantizerConfig::non_spiking(),
        };
        assert_eq!(
            QuantizedSite::Hidden.fan_outs(&config),
            (vec![3; 3], vec![7; 3])
        );
        config.lmu.connections.hidden_to_memory = true;
        assert_eq!(
            QuantizedSite::Hidden.fan_outs(&config),
            (vec![5; 3], vec![7; 3])
        );
        assert_eq!(
            QuantizedSite::MemoryInput.fan_outs(&config),
            (vec![5; 2], vec![5; 2])
        );
        // A memory-state event reaches its row of W_m, at the last step too.
        assert_eq!(
            QuantizedSite::MemoryState.fan_outs(&config),
            (vec![3; 10], vec![3; 10])
        );
        for site in QuantizedSite::ALL {
            let (fan_out, last) = site.fan_outs(&config);
            assert_eq!(fan_out.len(), site.neurons(&config.lmu));
            assert_eq!(last.len(), site.neurons(&config.lmu));
        }
        assert_eq!(
            QuantizedSite::Hidden.activation(&config.lmu),
            Activation::Relu
        );
        assert_eq!(
            QuantizedSite::MemoryInput.activation(&config.lmu),
            Activation::Identity
        );
        assert_eq!(
            QuantizedSite::MemoryState.activation(&config.lmu),
            Activation::Identity
        );
    }
}
