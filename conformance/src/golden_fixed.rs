//! The fixed-point golden vectors (SPEC.md clauses C4, H12): fixed models of the C4 network
//! cases and of N1's tiny network, converted by the reference, with the integers its dense
//! fixed-point mode computes; committed as `spec/vectors/hsnn-golden-fixed-v2.json` (beside
//! version 1, whose cases are version 2's first ones and which a test keeps passing). The file,
//! not the conversion, is the contract: an implementation runs the stored fixed models and
//! must reproduce every integer.

use hsnn_reference::compiler::convert;
use hsnn_reference::fixed::run;
use hsnn_spec::fixed::{ConversionOptions, FixedRun};
use hsnn_spec::model::parse_versioned_among;
use hsnn_spec::vectors::{
    FixedNetworkCase, FixedVectors, FIXED_VECTORS_FORMAT, FIXED_VECTORS_FORMAT_VERSION,
    FIXED_VECTORS_FORMAT_VERSIONS,
};
use hsnn_spec::{HsnnError, QuantizedSite, Result, SiteTrace, Trace};

use crate::fixed_point::{tiny_spiking_model, FixedRunner};
use crate::golden::NETWORK_CASES;
use crate::network::{small_batch, small_model};

/// Path of the committed file, relative to the workspace root.
pub const FIXED_GOLDEN_PATH: &str = "spec/vectors/hsnn-golden-fixed-v2.json";

/// The committed file, compiled in.
pub const FIXED_GOLDEN_JSON: &str = include_str!("../../spec/vectors/hsnn-golden-fixed-v2.json");

/// The version 1 file, as committed before the memory-state site existed.
pub const FIXED_GOLDEN_V1_JSON: &str = include_str!("../../spec/vectors/hsnn-golden-fixed-v1.json");

/// The bit metrics of a fixed run's counts (section B), from the reference's metrics.
fn metrics_of(model: &hsnn_spec::NetworkConfig, run: &FixedRun) -> Result<hsnn_spec::BitMetrics> {
    let sites = QuantizedSite::ALL
        .into_iter()
        .filter(|&site| !run.counts[site].is_empty())
        .map(|site| {
            SiteTrace::of_site(
                site,
                model,
                (run.batch, run.steps),
                run.counts[site].clone().into(),
                Vec::new(),
                None,
            )
        })
        .collect();
    hsnn_reference::metrics::bit_metrics(&Trace {
        dt: model.quantizer.dt,
        sites,
        hidden: Vec::new(),
    })
}

/// Generates the fixed-point golden vectors from the reference (clauses C4, H12): the five
/// network cases of C4 at 8-bit weights (default options) and at 4-bit weights with a coarser
/// table (range 4 at 2^-6: 512 entries), and N1's tiny spiking network.
pub fn generate() -> Result<FixedVectors> {
    let coarse = ConversionOptions {
        weight_bits: 4,
        table_range: 4,
        preactivation_fraction_bits: 6,
        ..ConversionOptions::default()
    };
    let mut cases = Vec::new();
    for (index, (name, activation, placement, dt)) in NETWORK_CASES.into_iter().enumerate() {
        // The models and inputs of C4's network cases.
        let model = small_model(300 + index as u64, activation, placement, dt);
        let inputs = small_batch(&model, 400 + index as u64, 2, 16);
        for (suffix, options) in [("w8", ConversionOptions::default()), ("w4", coarse.clone())] {
            let fixed_model = convert(&model, &options)?;
            let expected = run(&fixed_model, &inputs, true)?;
            let metrics = metrics_of(&fixed_model.config, &expected)?;
            cases.push(FixedNetworkCase {
                name: format!("{name}_{suffix}"),
                fixed_model,
                inputs: inputs.clone(),
                expected,
                metrics,
            });
        }
    }
    let tiny = convert(&tiny_spiking_model(), &ConversionOptions::default())?;
    let inputs = hsnn_spec::SequenceBatch::new(1, 2, 1, vec![0.7, 0.7])?;
    let expected = run(&tiny, &inputs, true)?;
    let metrics = metrics_of(&tiny.config, &expected)?;
    cases.push(FixedNetworkCase {
        name: "n1_tiny_identity_spiking_dt_1_w8".into(),
        fixed_model: tiny,
        inputs,
        expected,
        metrics,
    });
    Ok(FixedVectors {
        format: FIXED_VECTORS_FORMAT.into(),
        format_version: FIXED_VECTORS_FORMAT_VERSION,
        generator: format!(
            "hsnn-conformance {} from the reference's fixed-point mode",
            env!("CARGO_PKG_VERSION")
        ),
        cases,
    })
}

/// The file's text: compact JSON, one case per line, so a diff shows which case changed.
pub fn generate_json() -> Result<String> {
    let vectors = generate()?;
    let to_json = |value: &dyn erased::Json| value.json();
    let mut text = format!(
        "{{\"format\":{},\"format_version\":{},\"generator\":{},\"cases\":[\n",
        to_json(&vectors.format),
        vectors.format_version,
        to_json(&vectors.generator)
    );
    let cases: Vec<String> = vectors.cases.iter().map(|case| to_json(case)).collect();
    text.push_str(&cases.join(",\n"));
    text.push_str("\n]}\n");
    Ok(text)
}

mod erased {
    /// Compact JSON of any serializable value (never fails for these types).
    pub trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

/// Parses the file, format and version first (clause E2).
pub fn parse(text: &str) -> Result<FixedVectors> {
    parse_versioned_among(
        text,
        "fixed-point golden vectors",
        FIXED_VECTORS_FORMAT,
        &FIXED_VECTORS_FORMAT_VERSIONS,
    )
}

/// Runs every stored fixed model with `runner` and requires every integer of the expected
/// record (H12's C1), naming the first case and field that differ.
pub fn check_fixed_vectors(runner: FixedRunner, vectors: &FixedVectors) -> Result<()> {
    for case in &vectors.cases {
        let got = runner(&case.fixed_model, &case.inputs, true)?;
        let expected = &case.expected;
        let mut fields: Vec<(String, &Vec<i64>, &Vec<i64>)> =
            vec![("logits".into(), &expected.logits, &got.logits)];
        for site in QuantizedSite::ALL {
            let name = site.name();
            fields.push((
                format!("{name}_counts"),
                &expected.counts[site],
                &got.counts[site],
            ));
            fields.push((
                format!("{name}_integrator"),
                &expected.integrators[site],
                &got.integrators[site],
            ));
        }
        fields.extend([
            (
                "memory_input".into(),
                &expected.memory_input,
                &got.memory_input,
            ),
            ("memory".into(), &expected.memory, &got.memory),
            (
                "preactivation".into(),
                &expected.preactivation,
                &got.preactivation,
            ),
            (
                "hidden_output".into(),
                &expected.hidden_output,
                &got.hidden_output,
            ),
        ]);
        for (field, wanted, found) in fields {
            if wanted != found {
                let index = wanted
                    .iter()
                    .zip(found.iter())
                    .position(|(a, b)| a != b)
                    .unwrap_or(wanted.len().min(found.len()));
                return Err(HsnnError::Numerical {
                    operation: format!("fixed-point golden case {}", case.name),
                    reason: format!(
                        "{field}[{index}]: expected {:?}, got {:?} (lengths {} and {})",
                        wanted.get(index),
                        found.get(index),
                        wanted.len(),
                        found.len()
                    ),
                });
            }
        }
        if (expected.logit_exponent, &expected.saturations)
            != (got.logit_exponent, &got.saturations)
        {
            return Err(HsnnError::Numerical {
                operation: format!("fixed-point golden case {}", case.name),
                reason: "logit exponent or saturation counters differ".into(),
            });
        }
    }
    Ok(())
}
