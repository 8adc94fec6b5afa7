//! What a run of thousands of sockets needs from the OS: this process's open-files limit raised
//! far enough, and the server's resident memory and open-files limit read from `/proc/PID/`.

use anyhow::Context;

/// Raises this process's open-files soft limit to at least `wanted` and returns the soft limit
/// in force. The soft limit may go up to the hard one; past it only a privileged process
/// (CAP_SYS_RESOURCE, e.g. root in a container) may go, up to `fs.nr_open`, and otherwise the
/// soft limit is raised as far as the hard one allows.
pub fn raise_open_files(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the `rlimit` passed to them, which
    // lives on this stack frame for the whole call.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur >= wanted {
            return limit.rlim_cur;
        }
        let above_hard = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limit.rlim_max.max(wanted),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &above_hard) == 0 {
            return wanted;
        }
        let at_hard = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &at_hard) == 0 {
            return limit.rlim_max;
        }
    }
    limit.rlim_cur
}

/// The process's resident memory (`VmRSS`) in bytes.
pub fn resident_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_vm_rss(&status).with_context(|| format!("no VmRSS in {path}"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The process's soft open-files limit, from `/proc/PID/limits` (None if unlimited or unread).
pub fn open_files_limit(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    parse_open_files(&limits)
}

fn parse_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// File descriptors the process has open now.
pub fn open_files(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_limits() {
        let status = "Name:\tfreshet\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1 kB\n";
        assert_eq!(parse_vm_rss(status), Some(12_345 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             94000                94000                processes \n\
                      Max open files            20000                65536                files     \n";
        assert_eq!(parse_open_files(limits), Some(20_000));
        assert_eq!(
            parse_open_files(
                "Max open files            unlimited            unlimited            files"
            ),
            None
        );
    }

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert!(resident_bytes(me).unwrap() > 0);
        assert!(open_files_limit(me).unwrap() > 0);
        assert!(open_files(me).unwrap() > 0);
        // Asking for no more than the limit in force changes nothing.
        assert!(raise_open_files(1) >= 1);
    }
}
