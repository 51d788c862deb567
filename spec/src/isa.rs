//! The SIMD dispatch levels of the fast kernels and their run-time cap (SPEC.md clauses C2 and
//! H13: results must not depend on the level, apart from the optimized backend's documented
//! f32 kernel families).
//!
//! The optimized backend and the fixed-point fast engine pick, per kernel and at run time, the
//! widest instruction set the CPU has among three levels: [`IsaLevel::Portable`] (plain Rust,
//! any CPU), [`IsaLevel::Avx2`] (x86-64 with AVX2 and FMA) and [`IsaLevel::Avx512`] (x86-64
//! with AVX-512F; each AVX-512 kernel checks its own further features, VNNI, DQ, ...). The
//! environment variable [`ISA_VARIABLE`] (`HSNN_ISA=portable|avx2|avx512`) caps the level for
//! the whole process, so that every path can be run and tested on a machine that has a wider
//! one; asking for a level the machine lacks is an error ([`cap_from`]).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use serde::Serialize;

use crate::error::{HsnnError, Result};

/// The environment variable that caps the dispatch level: `portable`, `avx2` or `avx512`.
pub const ISA_VARIABLE: &str = "HSNN_ISA";

/// A dispatch level of the SIMD kernels, ordered from the narrowest to the widest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IsaLevel {
    /// Plain Rust loops (what the compiler makes of them for the build's baseline target).
    Portable,
    /// x86-64 AVX2 with FMA (256-bit vectors).
    Avx2,
    /// x86-64 AVX-512 (512-bit vectors; kernels check their own further features).
    Avx512,
}

impl IsaLevel {
    /// Every level, narrowest first.
    pub const ALL: [IsaLevel; 3] = [IsaLevel::Portable, IsaLevel::Avx2, IsaLevel::Avx512];

    /// The level's name, as [`ISA_VARIABLE`] spells it.
    pub fn name(self) -> &'static str {
        match self {
            IsaLevel::Portable => "portable",
            IsaLevel::Avx2 => "avx2",
            IsaLevel::Avx512 => "avx512",
        }
    }

    /// The level named `name` (case-insensitive), if any.
    pub fn parse(name: &str) -> Option<IsaLevel> {
        IsaLevel::ALL
            .into_iter()
            .find(|level| level.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether this CPU has the level's base features (AVX2 and FMA; AVX-512F).
    pub fn supported(self) -> bool {
        match self {
            IsaLevel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            IsaLevel::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            IsaLevel::Avx512 => {
                IsaLevel::Avx2.supported() && std::arch::is_x86_feature_detected!("avx512f")
            }
            #[cfg(not(target_arch = "x86_64"))]
            IsaLevel::Avx2 | IsaLevel::Avx512 => false,
        }
    }

    /// The widest level this CPU has.
    pub fn detected() -> IsaLevel {
        IsaLevel::available()
            .last()
            .copied()
            .unwrap_or(IsaLevel::Portable)
    }

    /// Every level this CPU has, narrowest first (always [`IsaLevel::Portable`]): what the
    /// tests run each kernel at.
    pub fn available() -> Vec<IsaLevel> {
        IsaLevel::ALL
            .into_iter()
            .filter(|level| level.supported())
            .collect()
    }

    /// The process's level: the cap [`set_cap`] set, else [`ISA_VARIABLE`]'s when set (read
    /// once), else the widest detected.
    ///
    /// # Panics
    /// When [`ISA_VARIABLE`] names no level or one this CPU lacks (the message says which);
    /// a program checks it first with [`check_environment`] to report it as an error.
    pub fn current() -> IsaLevel {
        if let Some(level) = IsaLevel::from_code(CAP.load(Ordering::Relaxed)) {
            return level;
        }
        static CURRENT: OnceLock<std::result::Result<IsaLevel, String>> = OnceLock::new();
        match CURRENT.get_or_init(|| {
            cap_from(std::env::var(ISA_VARIABLE).ok().as_deref()).map_err(|error| error.to_string())
        }) {
            Ok(level) => *level,
            Err(message) => panic!("{message}"),
        }
    }
}

impl IsaLevel {
    fn code(self) -> u8 {
        self as u8 + 1
    }

    fn from_code(code: u8) -> Option<IsaLevel> {
        IsaLevel::ALL.into_iter().find(|level| level.code() == code)
    }
}

/// The cap [`set_cap`] set (0: none).
static CAP: AtomicU8 = AtomicU8::new(0);

/// Caps the process's level at `level` from now on, over [`ISA_VARIABLE`] (`None`: back to
/// it), or an error when this CPU lacks `level`. For tests that run every level in turn in
/// one process: kernels read the level when they run, so a cap changed while another thread
/// runs one changes the path (never the validity) of its later calls.
pub fn set_cap(level: Option<IsaLevel>) -> Result<()> {
    if let Some(level) = level {
        if !level.supported() {
            return Err(HsnnError::InvalidConfig {
                field: "isa cap".into(),
                reason: format!("asks for `{level}`, which this CPU lacks"),
            });
        }
    }
    CAP.store(level.map_or(0, IsaLevel::code), Ordering::Relaxed);
    Ok(())
}

impl std::fmt::Display for IsaLevel {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

/// The level a value of [`ISA_VARIABLE`] asks for (`None` or empty: the widest detected), or
/// an error when it names no level or one this CPU lacks.
pub fn cap_from(value: Option<&str>) -> Result<IsaLevel> {
    let Some(value) = value.filter(|value| !value.trim().is_empty()) else {
        return Ok(IsaLevel::detected());
    };
    let invalid = |reason: String| HsnnError::InvalidConfig {
        field: ISA_VARIABLE.into(),
        reason,
    };
    let level = IsaLevel::parse(value).ok_or_else(|| {
        invalid(format!(
            "is `{value}`, which names no dispatch level (portable, avx2 or avx512)"
        ))
    })?;
    if !level.supported() {
        let available: Vec<&str> = IsaLevel::available()
            .into_iter()
            .map(IsaLevel::name)
            .collect();
        return Err(invalid(format!(
            "asks for `{}`, which this CPU lacks (it has: {})",
            level.name(),
            available.join(", ")
        )));
    }
    Ok(level)
}

/// Checks [`ISA_VARIABLE`] as [`IsaLevel::current`] will read it, so that a program reports a
/// wrong value as an error instead of a panic in a kernel; returns the level.
pub fn check_environment() -> Result<IsaLevel> {
    cap_from(std::env::var(ISA_VARIABLE).ok().as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cap accepts every level the CPU has and refuses the others and unknown names.
    #[test]
    fn isa_cap_accepts_exactly_the_levels_this_cpu_has() {
        assert_eq!(cap_from(None).expect("no cap"), IsaLevel::detected());
        assert_eq!(cap_from(Some(" ")).expect("empty"), IsaLevel::detected());
        assert_eq!(
            cap_from(Some("PORTABLE")).expect("portable"),
            IsaLevel::Portable
        );
        for level in IsaLevel::ALL {
            assert_eq!(IsaLevel::parse(level.name()), Some(level));
            let capped = cap_from(Some(level.name()));
            assert_eq!(capped.is_ok(), level.supported(), "{level}");
            if let Err(error) = capped {
                assert!(error.to_string().contains("lacks"), "{error}");
            }
        }
        for level in IsaLevel::ALL {
            assert_eq!(IsaLevel::from_code(level.code()), Some(level));
        }
        assert_eq!(IsaLevel::from_code(0), None);
        let error = cap_from(Some("neon")).expect_err("no such level");
        assert!(
            error.to_string().contains("names no dispatch level"),
            "{error}"
        );
        let available = IsaLevel::available();
        assert_eq!(available.first(), Some(&IsaLevel::Portable));
        assert!(available.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(available.last(), Some(&IsaLevel::detected()));
    }

    /// A programmatic cap overrides the environment's and is refused where the CPU lacks the
    /// level; taking it off gives the environment's (or the detected) level back.
    #[test]
    fn isa_set_cap_overrides_and_is_refused_beyond_the_cpu() {
        let before = IsaLevel::current();
        for level in IsaLevel::available() {
            set_cap(Some(level)).expect("a level the CPU has");
            assert_eq!(IsaLevel::current(), level);
        }
        for level in IsaLevel::ALL.into_iter().filter(|level| !level.supported()) {
            assert!(set_cap(Some(level)).is_err(), "{level}");
        }
        set_cap(None).expect("no cap");
        assert_eq!(IsaLevel::current(), before);
    }
}
