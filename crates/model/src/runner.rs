//! The HTTP job runner (`job_runner = http`, for Spin without a Redis trigger): the compile
//! consumer's route that runs due jobs when called, and how many one call may run.

/// The compile consumer's runner route (`job_runner = http`): runs due jobs when called.
pub const RUNNER_PATH: &str = "/internal/jobs/run";
/// Jobs one call of the runner runs when the caller does not say.
pub const RUN_DEFAULT_MAX: usize = 5;
/// The most jobs one call of the runner may run.
pub const RUN_MAX: usize = 100;

/// The `max` of a runner call's query (`max=N`, 1 to [`RUN_MAX`]), if given; the message of a
/// 400 for anything else (another parameter, a value out of range).
pub fn parse_run_max(query: &str) -> Result<Option<usize>, String> {
    let mut max = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("max", v)) => match v.parse::<usize>() {
                Ok(n) if (1..=RUN_MAX).contains(&n) => max = Some(n),
                _ => return Err(format!("max must be a number from 1 to {RUN_MAX}, not {v:?}")),
            },
            _ => return Err(format!("unknown query parameter {pair:?}; use max=N")),
        }
    }
    Ok(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_is_1_to_100_and_nothing_else() {
        assert_eq!(parse_run_max(""), Ok(None));
        assert_eq!(parse_run_max("max=1"), Ok(Some(1)));
        assert_eq!(parse_run_max("max=100"), Ok(Some(100)));
        for bad in ["max=0", "max=101", "max=", "max=-1", "max=x", "n=3", "max"] {
            assert!(parse_run_max(bad).is_err(), "{bad}");
        }
    }
}
