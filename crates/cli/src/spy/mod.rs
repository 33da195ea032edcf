//! `eventcast spy`: a live table of the event space.

use std::process::ExitCode;

use clap::Args;

use crate::CliResult;

#[derive(Debug, Args)]
pub struct SpyArgs {}

pub fn run(_args: SpyArgs) -> CliResult {
    Err("spy: not built yet".into())
}
