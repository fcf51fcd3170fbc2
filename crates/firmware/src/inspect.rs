//! `firmware inspect`: unpack, take the inventory, run the detectors.

use crate::detect::{self, Context};
use crate::inventory::{self, Inventory, Tree};
use crate::scan::ContentScanner;
use crate::unpack::{Progress, UnpackError, UnpackOptions, UnpackReport, unpack_image};

/// Everything an inspection produced.
#[derive(Debug, Clone)]
pub struct InspectReport {
    /// The unpacking, with its own findings (FW-100..102).
    pub unpack: UnpackReport,
    /// The inventory of the extracted tree.
    pub inventory: Inventory,
    /// The detectors' findings followed by the unpacker's.
    pub findings: Vec<hashward_model::Finding>,
}

/// Unpack `image` into `opts.out`, take the inventory of the tree, and run every detector.
pub fn inspect(
    image: &std::path::Path,
    opts: &UnpackOptions,
    progress: Option<Progress<'_>>,
) -> Result<InspectReport, UnpackError> {
    inspect_with(image, opts, progress, &[])
}

/// [`inspect`], with content scanners (YARA rules) run over every extracted file.
pub fn inspect_with(
    image: &std::path::Path,
    opts: &UnpackOptions,
    progress: Option<Progress<'_>>,
    scanners: &[&dyn ContentScanner],
) -> Result<InspectReport, UnpackError> {
    let unpack = unpack_image(image, opts, progress)?;
    let root = opts.out.canonicalize().unwrap_or_else(|_| opts.out.clone());
    let tree = Tree::new(&root, &unpack.entries).with_containers(&unpack.nodes);
    let inventory = inventory::inventory_with(&tree, scanners);
    let cx = Context::new(&unpack.image_sha256, &tree, &inventory);
    let mut findings = detect::detect(&cx);
    findings.extend(unpack.findings.iter().cloned());
    Ok(InspectReport {
        unpack,
        inventory,
        findings,
    })
}
