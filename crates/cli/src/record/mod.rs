//! `eventcast record`, `replay` and `cat`: MCAP recordings of the event space.

use std::process::ExitCode;

use clap::Args;

use crate::CliResult;

#[derive(Debug, Args)]
pub struct RecordArgs {}
#[derive(Debug, Args)]
pub struct ReplayArgs {}
#[derive(Debug, Args)]
pub struct CatArgs {}

pub async fn record(_args: RecordArgs) -> CliResult {
    Err("record: not built yet".into())
}
pub fn replay(_args: ReplayArgs) -> CliResult {
    Err("replay: not built yet".into())
}
pub fn cat(_args: CatArgs) -> CliResult {
    Err("cat: not built yet".into())
}
