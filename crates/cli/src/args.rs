//! Command-line arguments (clap derive): one doc comment per flag, `ValueEnum` for choices.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// hashward inspects cryptocurrency-mining hardware and facilities for security risk.
#[derive(Debug, Parser)]
#[command(name = "hashward", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Output format. Default: text on a terminal, json otherwise.
    #[arg(long, global = true, value_enum)]
    pub format: Option<Format>,
    /// Exit with status 1 when a finding reaches this severity.
    #[arg(long, global = true, value_enum, default_value_t = FailOn::High)]
    pub fail_on: FailOn,
    /// Print nothing but the result (no progress, no summary on stderr).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More log output on stderr (-v info, -vv debug, -vvv trace; RUST_LOG overrides).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The case database: a SQLite file path (default hashward.db).
    #[arg(long, global = true, env = "HASHWARD_CASE", default_value = "hashward.db")]
    pub case: String,
    /// Do not record this run in the case.
    #[arg(long, global = true)]
    pub no_store: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON envelope.
    Json,
    /// One JSON record per line.
    Jsonl,
    /// A CycloneDX 1.5 JSON SBOM of the components found (`firmware inspect` only).
    Cyclonedx,
    /// A GeoJSON FeatureCollection for a map: facilities, hits and rule zones (`sites assess`
    /// only).
    Geojson,
}

/// `--fail-on` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Any finding.
    Info,
    /// Low and above.
    Low,
    /// Medium and above.
    Medium,
    /// High and above.
    High,
    /// Critical only.
    Critical,
    /// Never fail on findings.
    Never,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Firmware images: unpack, inspect, diff.
    #[command(subcommand)]
    Firmware(FirmwareCmd),
    /// Live miners on the network: discover, identify and audit them (read-only).
    #[command(subcommand)]
    Fleet(FleetCmd),
    /// Packet captures and Zeek logs of a fleet's traffic: phone-home, beacons, stratum
    /// redirects and hijacks.
    #[command(subcommand)]
    Traffic(TrafficCmd),
    /// Import compliance for miner entries: expected heading, dated duty stack, fees,
    /// valuation and origin checks.
    #[command(subcommand)]
    Customs(CustomsCmd),
    /// Facility siting: distances to military installations and critical infrastructure under
    /// CFIUS (31 CFR 802) and state laws, and grid large-load thresholds.
    #[command(subcommand)]
    Sites(SitesCmd),
    /// The case database: what earlier runs recorded.
    #[command(subcommand)]
    Case(CaseCmd),
    /// Generate realistic sample Antminer-style images, unpack them and record the run.
    Demo(DemoArgs),
    /// The rule catalogue.
    Rules(RulesArgs),
    /// Serve emulated ASIC miners on loopback addresses (a test peer for fleet scans).
    Emulate(EmulateArgs),
}

/// `hashward firmware …`
#[derive(Debug, Subcommand)]
pub enum FirmwareCmd {
    /// Take an image apart recursively, every layer, into --out.
    Unpack(UnpackArgs),
    /// Unpack an image, take its inventory and report what an attacker or the vendor could
    /// use: weak credentials, remote-control paths and more.
    Inspect(InspectArgs),
    /// Inspect two images (an old and a new version) and report what changed between them:
    /// files, inventory (accounts, services, keys, pools…) and findings.
    Diff(DiffArgs),
}

/// `hashward fleet …`
#[derive(Debug, Subcommand)]
pub enum FleetCmd {
    /// Sweep TARGETS for miner ports, identify every device that answers and report what a
    /// stranger on this network can do to it. Sends nothing that changes a device.
    Scan(ScanArgs),
}

/// `hashward traffic …`
#[derive(Debug, Subcommand)]
pub enum TrafficCmd {
    /// Read captures (pcap, pcapng, gzip) or Zeek logs (conn, dns, ssl, http; TSV or JSON) and
    /// report every connection that is not mining for the fleet's owner.
    Analyze(TrafficArgs),
    /// Write a synthetic capture of a mining fleet with planted phone-home, beacon, hijack,
    /// dev-fee, inbound management and rogue-resolver traffic (for the benchmark and the demo).
    Generate(GenerateArgs),
}

/// `hashward customs …`
#[derive(Debug, Subcommand)]
pub enum CustomsCmd {
    /// Check entry lines (CSV or JSON, the Form 7501 fields of docs/architecture.md): the
    /// expected heading, the duty stack on the entry date, fees per entry, and CUS findings.
    Check(CustomsCheckArgs),
    /// Read a USITC HTS CSV export, refuse a truncated one, and write the compact table that
    /// `customs check --hts` uses.
    ImportHts(ImportHtsArgs),
    /// Write a deterministic file of entry lines (for the benchmark).
    Generate(CustomsGenerateArgs),
}

/// `hashward customs check`
#[derive(Debug, Args)]
pub struct CustomsCheckArgs {
    /// The entries: CSV with a header row, a JSON array of line objects, or JSON lines.
    #[arg(value_name = "ENTRIES")]
    pub input: PathBuf,
    /// Input format (default: from the extension; .json and .jsonl are JSON, anything else CSV).
    #[arg(long, value_enum)]
    pub input_format: Option<EntriesFormat>,
    /// A rules directory replacing the built-in rules file by file (see rules/customs/).
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// The compact schedule written by `customs import-hts`: declared numbers are checked
    /// against it and MFN rates taken from it.
    #[arg(long, value_name = "PATH")]
    pub hts: Option<PathBuf>,
    /// Lines per chunk of the parallel pass.
    #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub chunk_lines: u64,
}

/// Entry file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EntriesFormat {
    /// CSV with a header row.
    Csv,
    /// A JSON array or JSON lines.
    Json,
}

/// `hashward customs import-hts`
#[derive(Debug, Args)]
pub struct ImportHtsArgs {
    /// The USITC export (`hts_2026_revision_4_csv.csv`).
    #[arg(value_name = "FILE")]
    pub input: PathBuf,
    /// Where to write the compact table (default: FILE with the extension .hts.tsv).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

/// `hashward customs generate`
#[derive(Debug, Args)]
pub struct CustomsGenerateArgs {
    /// Entry lines to write.
    #[arg(long, default_value_t = 1_000_000)]
    pub lines: u64,
    /// The CSV file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `hashward sites …`
#[derive(Debug, Subcommand)]
pub enum SitesCmd {
    /// Assess facilities (GeoJSON or CSV) against reference layers (military installations,
    /// data centers, power plants…) and the siting rules: CFIUS zones and areas, state laws,
    /// critical infrastructure and grid thresholds (SITE-001..007).
    Assess(SitesAssessArgs),
}

/// `hashward sites assess`
#[derive(Debug, Args)]
pub struct SitesAssessArgs {
    /// Facilities: GeoJSON features or CSV rows (id, name, owner, owner_country, urban, state,
    /// county, region, colocated, load_mw or fleet; point or polygon, CSV lat/lon).
    #[arg(long, value_name = "FILE")]
    pub facilities: PathBuf,
    /// A reference layer: GeoJSON, CSV or FlatGeobuf, or the shared MIRTA, IM3 data-center and
    /// WRI power-plant files (repeatable). Without one, the built-in installations table is the
    /// only layer.
    #[arg(long = "layer", value_name = "FILE")]
    pub layers: Vec<PathBuf>,
    /// A directory of siting rules files (cfius.toml, states.toml, grid.toml…) replacing the
    /// built-in ones file by file.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Assess under the laws and thresholds in force on this date (YYYY-MM-DD; default today).
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
}

/// `hashward traffic analyze`
#[derive(Debug, Args)]
pub struct TrafficArgs {
    /// Captures and Zeek logs, read as one stream in the order given.
    #[arg(required = true, value_name = "CAPTURE")]
    pub inputs: Vec<PathBuf>,
    /// Policy file (TOML): pools, management network, resolvers and allowed destinations,
    /// optionally per device group (see docs/architecture.md).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Flows tracked at once: the memory cap (oldest flows are closed early beyond it).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1_000..=100_000_000))]
    pub max_flows: u64,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
}

/// `hashward traffic generate`
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The capture to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Where to write the manifest (JSON: planted detections, negatives and the matching policy).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Miners in the fleet.
    #[arg(long, default_value_t = 3000)]
    pub miners: usize,
    /// Stop when the capture reaches this many MiB (0: run the whole duration).
    #[arg(long, default_value_t = 0)]
    pub size_mb: u64,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 6 * 3600)]
    pub duration: u64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// pcap or pcapng.
    #[arg(long, default_value = "pcap", value_name = "pcap|pcapng")]
    pub capture_format: String,
}

/// `hashward fleet scan`
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Addresses: `10.0.0.7`, CIDRs (`10.0.0.0/22`), ranges (`10.0.0.1-10.0.3.254`), octet
    /// ranges (`10.1-2.0.1-50`), comma lists, or `@FILE` with one target per line.
    #[arg(required = true, value_name = "TARGETS")]
    pub targets: Vec<String>,
    /// Policy file (TOML): the pool allowlist for NET-004 (see docs/architecture.md).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// New connections per second, across the whole scan.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate: u32,
    /// Connections open at once (also capped by the open-file limit).
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub concurrency: u64,
    /// Milliseconds to wait for a TCP connect.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub connect_timeout: u64,
    /// Milliseconds to wait for a complete reply to one request.
    #[arg(long, default_value_t = 3000, value_name = "MS")]
    pub reply_timeout: u64,
    /// Seconds one device may take in all.
    #[arg(long, default_value_t = 12, value_name = "SECS")]
    pub device_timeout: u64,
    /// Try each family's default credentials with read-only requests (NET-002). Off by
    /// default: logging in to someone's device needs their permission.
    #[arg(long)]
    pub check_default_credentials: bool,
    /// Allow targets outside private, shared, link-local and loopback address space.
    #[arg(long)]
    pub allow_public: bool,
}

/// `hashward firmware unpack`
#[derive(Debug, Args)]
pub struct UnpackArgs {
    /// The firmware image.
    pub image: PathBuf,
    /// Directory to extract into; must not exist or be empty.
    #[arg(long, short)]
    pub out: PathBuf,
    #[command(flatten)]
    pub opts: UnpackOpts,
}

/// `hashward firmware inspect`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The firmware image.
    pub image: PathBuf,
    /// Keep the extracted tree here (must not exist or be empty); by default it goes to a
    /// temporary directory that is removed at the end.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Also run the YARA rules in this directory: every *.yar and *.yara file below it, each
    /// its own namespace (repeatable). Matches are finding FW-016.
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Do not run hashward's own YARA rules (with no --rules either, no YARA scan at all).
    #[arg(long)]
    pub no_builtin_rules: bool,
    #[command(flatten)]
    pub opts: UnpackOpts,
}

/// `hashward firmware diff`
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old firmware image (before the update).
    pub old: PathBuf,
    /// The new firmware image (after the update).
    pub new: PathBuf,
    /// Keep the extracted trees in DIR/old and DIR/new (each must not exist or be empty); by
    /// default they go to a temporary directory that is removed at the end.
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub opts: UnpackOpts,
}

/// How to unpack: keys, carving, parallelism and limits.
#[derive(Debug, Args)]
pub struct UnpackOpts {
    /// Public key (PEM: SPKI or PKCS#1) to verify vendor signatures with (repeatable).
    #[arg(long = "key")]
    pub keys: Vec<PathBuf>,
    /// Do not search unidentified blobs for embedded formats.
    #[arg(long)]
    pub no_carve: bool,
    /// Containers unpacked at once (0: one per CPU, 2 to 4).
    #[arg(long, short = 'j', default_value_t = 0)]
    pub jobs: usize,
    /// Most bytes written in total (e.g. 16G).
    #[arg(long, value_parser = parse_size, default_value = "16G")]
    pub max_total: u64,
    /// Most bytes of one extracted file.
    #[arg(long, value_parser = parse_size, default_value = "2G")]
    pub max_file: u64,
    /// Largest output/input ratio for one codec or container (checked past 64M of output).
    #[arg(long, default_value_t = 200)]
    pub max_ratio: u64,
    /// Deepest nesting of containers.
    #[arg(long, default_value_t = 16)]
    pub max_depth: u32,
    /// Most entries (files, directories, links).
    #[arg(long, default_value_t = 500_000)]
    pub max_entries: u64,
    /// Wall-clock limit in seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
}

/// `hashward case …`
#[derive(Debug, Subcommand)]
pub enum CaseCmd {
    /// List recorded runs, newest first.
    Runs {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// List recorded findings.
    Findings {
        /// Only this run.
        #[arg(long)]
        run: Option<i64>,
        /// Only this severity and above.
        #[arg(long, value_enum)]
        min_severity: Option<FailOn>,
        /// Only this rule id.
        #[arg(long)]
        rule: Option<String>,
    },
}

/// `hashward demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the generated images and extracted trees here instead of a temporary directory.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

/// `hashward rules`
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Print the catalogue as the Markdown of docs/rules.md.
    #[arg(long)]
    pub markdown: bool,
}

/// `hashward emulate`
#[derive(Debug, Args)]
pub struct EmulateArgs {
    /// The fleet file (TOML, see docs/fleet-file.md).
    #[arg(long, value_name = "FILE", conflicts_with = "count")]
    pub fleet: Option<PathBuf>,
    /// Generate a deterministic mixed fleet of N devices instead.
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
    /// First address of the generated fleet (loopback only).
    #[arg(long, value_name = "ADDR", default_value = "127.1.0.1")]
    pub base: std::net::Ipv4Addr,
    /// Seed of the generated fleet.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Percentage of generated devices given a fault, cycling through every fault kind.
    #[arg(long, value_name = "PCT", default_value_t = 0.0)]
    pub faulty: f64,
    /// Plant exposures in the generated fleet (open privileged API, SSH/telnet, strong passwords,
    /// foreign pools).
    #[arg(long)]
    pub exposures: bool,
    /// Write the ground-truth manifest (JSON) to FILE.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Stop after SECS seconds (default: at SIGINT or SIGTERM).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,
    /// Internal: serve the shard read from stdin until stdin closes.
    #[arg(long, hide = true)]
    pub worker: bool,
}

/// `512`, `64K`, `16M`, `2G`, `1T` (binary multiples).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown size suffix {c:?} (use K, M, G or T)")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: u64 = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("size too large: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("16G"), Ok(16 << 30));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("99999999999T").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
