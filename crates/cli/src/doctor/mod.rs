//! `eventcast doctor`: why events might not arrive.

use std::process::ExitCode;

use clap::Args;

use crate::CliResult;

#[derive(Debug, Args)]
pub struct DoctorArgs {}

pub fn run(_args: DoctorArgs) -> CliResult {
    Err("doctor: not built yet".into())
}
