//! Parser for `/proc/PID/stat`: the facts captures keep when they have no `status` (smem's
//! capture format keeps `stat`, `smaps` and `cmdline` only).

use super::ParseError;
use super::maps::decimal;

/// The facts taken from `/proc/PID/stat`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatFacts {
    /// Field 1: pid.
    pub pid: u32,
    /// Field 2: the command name, between the parentheses (raw bytes; may hold `)` and spaces).
    pub comm: Vec<u8>,
    /// Field 3: state letter.
    pub state: u8,
    /// Field 4: parent pid.
    pub ppid: u32,
    /// Field 20: number of threads.
    pub threads: Option<u32>,
    /// Field 22: start time after boot, in clock ticks — with the pid, what identifies a
    /// process (a reused pid has another start time).
    pub start_time: Option<u64>,
}

fn field(what: &'static str) -> ParseError {
    ParseError::Malformed { line: 1, what }
}

/// Parses the one line of `/proc/PID/stat`. The name is everything between the first `(` and
/// the last `)`, so a hostile name cannot shift the fields after it.
pub fn parse(text: &[u8]) -> Result<StatFacts, ParseError> {
    let open = text
        .iter()
        .position(|&b| b == b'(')
        .ok_or(field("command name"))?;
    let close = text
        .iter()
        .rposition(|&b| b == b')')
        .ok_or(field("command name"))?;
    if close < open {
        return Err(field("command name"));
    }
    let pid = decimal(text[..open].trim_ascii())
        .and_then(|p| u32::try_from(p).ok())
        .ok_or(field("pid"))?;
    let rest = text[close + 1..].trim_ascii();
    let mut f = rest.split(|&b| b == b' ').filter(|x| !x.is_empty());
    let state = *f.next().and_then(|s| s.first()).ok_or(field("state"))?;
    let ppid = f
        .next()
        .and_then(decimal)
        .and_then(|p| u32::try_from(p).ok())
        .ok_or(field("ppid"))?;
    // Fields 5..19 (15 of them), then num_threads.
    let threads = f
        .nth(15)
        .and_then(decimal)
        .and_then(|t| u32::try_from(t).ok());
    // Field 21 (itrealvalue), then starttime.
    let start_time = f.nth(1).and_then(decimal);
    Ok(StatFacts {
        pid,
        comm: text[open + 1..close].to_vec(),
        state,
        ppid,
        threads,
        start_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_this_process_and_hostile_names() {
        // A single-threaded child whose thread count cannot change between the two reads (this
        // test binary's own can: tests run in threads).
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let own = std::fs::read(format!("/proc/{pid}/stat")).unwrap();
        let f = parse(&own).unwrap();
        assert_eq!(f.pid, pid);
        assert_eq!(f.comm, b"sleep");
        assert_eq!(f.ppid, std::process::id());
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let threads: u32 = status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(f.threads, Some(threads));
        let f =
            parse(b"42 (a) b (c) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 3 0 1 2 3\n").unwrap();
        assert_eq!(f.comm, b"a) b (c");
        assert_eq!((f.state, f.ppid, f.threads), (b'S', 7, Some(3)));
        assert!(parse(b"42 no parens").is_err());
        assert!(parse(b"x (a) S 1").is_err());
    }
}
