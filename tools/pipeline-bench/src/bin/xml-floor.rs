//! The bare quick-xml event loop over a file: the floor of any parser built on
//! quick-xml. Deliberately nothing more.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use quick_xml::Reader;

/// Read an XML file with quick-xml's `read_event_into` and count the events.
///
/// Reader: `Reader::from_reader(BufReader::with_capacity(64 KiB, file))`,
/// default configuration, one reused buffer. Prints the number of events and
/// of `testcase` and `line` elements.
///
/// Exit codes: 0 read to the end; 2 missing file or malformed XML.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// XML file to read.
    file: PathBuf,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xml-floor: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let path = &cli.file;
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = Reader::from_reader(BufReader::with_capacity(64 * 1024, file));
    let counts = pipeline_bench::floor::count_events(&mut reader).with_context(|| {
        format!(
            "{}: malformed XML at byte {}",
            path.display(),
            reader.error_position()
        )
    })?;
    println!(
        "{}: {} events, {} testcase, {} line elements",
        path.display(),
        counts.events,
        counts.testcases,
        counts.lines
    );
    Ok(())
}
