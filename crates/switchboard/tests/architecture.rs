#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! Dependencies point inward (DESIGN §2): the domain depends on none of our crates, the adapters
//! only on the domain, the emulator on none, and only the binary wires them together.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn workspace_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let ours: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    packages
        .iter()
        .map(|p| {
            let name = p["name"].as_str().unwrap_or_default().to_owned();
            let deps = p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                // Normal dependencies only: tests may use the emulator as a peer.
                .filter(|d| d["kind"].is_null())
                .filter_map(|d| d["name"].as_str())
                .filter(|d| ours.contains(*d))
                .map(str::to_owned)
                .collect();
            (name, deps)
        })
        .collect()
}

#[test]
fn dependencies_point_inward() {
    let graph = workspace_dependencies();
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("switchboard-core", &[][..]),
        ("graph-emulator", &[][..]),
        ("switchboard-graph", &["switchboard-core"][..]),
        ("switchboard-store", &["switchboard-core"][..]),
        ("switchboard-pbx", &["switchboard-core"][..]),
        ("switchboard-http", &["switchboard-core"][..]),
    ]);
    for (krate, deps) in &graph {
        if krate == "switchboard" {
            continue;
        }
        let Some(ok) = allowed.get(krate.as_str()) else {
            panic!(
                "crate {krate} is not placed in the architecture: add it to DESIGN §2 and this test"
            );
        };
        for d in deps {
            assert!(
                ok.contains(&d.as_str()),
                "{krate} must not depend on {d} (dependencies point inward)"
            );
        }
    }
    assert!(graph.contains_key("switchboard-core") && graph.contains_key("switchboard"));
}

#[test]
fn emulator_shares_no_code_with_the_graph_client() {
    let graph = workspace_dependencies();
    assert!(!graph["graph-emulator"].contains("switchboard-graph"));
    assert!(!graph["switchboard-graph"].contains("graph-emulator"));
}
