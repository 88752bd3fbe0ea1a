//! The facts of one process, and how completely a source could read it.

use std::fmt;

/// How completely a process was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProcessStatus {
    /// Everything the pipeline asked for was read.
    Ok,
    /// Some facts were read, others failed (an error row says which).
    Partial,
    /// The process exists but its memory map may not be read by this user.
    Denied,
    /// The process exited (or its pid was reused) while it was being read.
    Vanished,
}

impl ProcessStatus {
    /// The name used in CSV and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessStatus::Ok => "ok",
            ProcessStatus::Partial => "partial",
            ProcessStatus::Denied => "denied",
            ProcessStatus::Vanished => "vanished",
        }
    }
}

impl fmt::Display for ProcessStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The facts of one process. Every field a source could not read is `None` or empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Process id (thread-group id).
    pub pid: u32,
    /// Parent process id.
    pub ppid: Option<u32>,
    /// The command name (`comm`, at most 15 bytes on Linux), raw bytes: it is chosen by whoever
    /// runs the process and may hold any byte but NUL.
    pub name: Vec<u8>,
    /// The command line as the kernel holds it: arguments each followed by a NUL.
    pub cmdline: Vec<u8>,
    /// The executable's path (target of `/proc/PID/exe`), raw bytes.
    pub exe: Option<Vec<u8>>,
    /// Real user id.
    pub uid: Option<u32>,
    /// Number of threads.
    pub threads: Option<u32>,
    /// Scheduler state letter (`R`, `S`, `D`, `T`, `Z`, …).
    pub state: Option<u8>,
    /// How completely the process was read.
    pub status: ProcessStatus,
    /// The first error met while reading it, for the `error` column.
    pub error: Option<String>,
}

impl ProcessInfo {
    /// A process known only by its pid; the source fills in the rest.
    pub fn new(pid: u32) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid: None,
            name: Vec::new(),
            cmdline: Vec::new(),
            exe: None,
            uid: None,
            threads: None,
            state: None,
            status: ProcessStatus::Ok,
            error: None,
        }
    }

    /// The arguments of the command line, split at the NULs.
    pub fn args(&self) -> impl Iterator<Item = &[u8]> {
        let trimmed = self.cmdline.strip_suffix(b"\0").unwrap_or(&self.cmdline);
        trimmed
            .split(|&b| b == 0)
            .filter(move |_| !trimmed.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_split_at_nul() {
        let mut p = ProcessInfo::new(1);
        assert_eq!(p.args().count(), 0);
        p.cmdline = b"sleep\x00100\x00".to_vec();
        assert_eq!(p.args().collect::<Vec<_>>(), vec![&b"sleep"[..], b"100"]);
        p.cmdline = b"nginx: worker process".to_vec();
        assert_eq!(p.args().count(), 1);
    }
}
