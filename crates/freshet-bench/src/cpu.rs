//! Server CPU time from `/proc/PID/stat`: user plus system time of the whole process. The kernel
//! already sums all of the process's threads into these two fields (proc(5), fields 14 and 15), so
//! worker and I/O threads are counted; reaped child processes (`cutime`/`cstime`) are not.

use anyhow::Context;

/// CPU seconds (user + system) the process has used so far.
pub fn process_cpu_secs(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let ticks = parse_utime_stime(&stat).with_context(|| format!("parsing {path}"))?;
    Ok(ticks as f64 / clock_ticks_per_sec())
}

/// utime + stime in clock ticks. The command name (field 2) is in parentheses and may itself
/// contain spaces and parentheses, so fields are counted from the last `)`.
fn parse_utime_stime(stat: &str) -> anyhow::Result<u64> {
    let after = &stat[stat.rfind(')').context("no ')' in stat")? + 1..];
    // After the name: field 3 (state) is index 0, so utime (14) is index 11 and stime (15) is 12.
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next().context("no utime")?.parse()?;
    let stime: u64 = fields.next().context("no stime")?.parse()?;
    Ok(utime + stime)
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf only reads a configuration value; it has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_after_a_tricky_name() {
        let stat = "1234 (we (ird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0";
        assert_eq!(parse_utime_stime(stat).unwrap(), 325);
    }

    #[test]
    fn reads_own_process() {
        assert!(process_cpu_secs(std::process::id()).unwrap() >= 0.0);
    }
}
