//! The header: the `Key: value` block from `Process:` to `----`, and the lines that open the
//! map (`Virtual Memory Map of process N (name)`, `Output report format:`, `VM page size:`).

use super::error::Warning;
use super::size::parse_size;
use super::tokens::{shown, trim};

/// What the report says about the process and about itself. Every field is `None` when the
/// report does not say (format 2.2 reports have no header block; `-summary` reports have no
/// format or page-size line).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// The process name (`Process:`, or the `Virtual Memory Map of process N (name)` line).
    pub process: Option<String>,
    /// The process id.
    pub pid: Option<u32>,
    /// `Path:`, the executable.
    pub path: Option<String>,
    /// `Identifier:` (bundle id or name).
    pub identifier: Option<String>,
    /// `Code Type:` (`X86-64`, `ARM64`, `ARM64E`, …).
    pub code_type: Option<String>,
    /// The parent's name (`Parent Process:`).
    pub parent: Option<String>,
    /// The parent's pid.
    pub parent_pid: Option<u32>,
    /// `OS Version:`, as printed (`macOS 14.0 (23A344)`).
    pub os_version: Option<String>,
    /// `Date/Time:`, as printed.
    pub date: Option<String>,
    /// `Physical footprint:`, in bytes.
    pub physical_footprint: Option<u64>,
    /// `Physical footprint (peak):`, in bytes.
    pub physical_footprint_peak: Option<u64>,
    /// The number of `Output report format:` (`"2.4"`).
    pub report_format: Option<String>,
    /// The page size in bytes (`VM page size:  16384 bytes`).
    pub page_size: Option<u64>,
    /// The process's address width from `Output report format:  2.4  -- 64-bit process`.
    pub process_bits: Option<u32>,
    /// Every other `Key: value` line of the header block, in order (`Load Address`,
    /// `Version`, `Launch Time`, `Report Version`, `Analysis Tool`, `Platform`, …).
    pub other: Vec<(String, String)>,
    /// Other lines between the header block and the first section, without a `Key: value`
    /// shape (`Collected with PhysFootprint mode enabled`).
    pub notes: Vec<String>,
}

impl Header {
    /// Records one `Key: value` line of the header block.
    pub(crate) fn set(&mut self, line: usize, key: &str, value: &str, warnings: &mut Vec<Warning>) {
        let value = value.trim();
        let text = || Some(value.to_string());
        match key {
            "Process" => {
                let (name, pid) = name_and_pid(value);
                if pid.is_none() {
                    warnings.push(Warning::new(line, "`Process:` has no `[pid]`"));
                }
                set_once(&mut self.process, name, line, key, warnings);
                set_once(&mut self.pid, pid, line, key, warnings);
            }
            "Parent Process" => {
                let (name, pid) = name_and_pid(value);
                set_once(&mut self.parent, name, line, key, warnings);
                set_once(&mut self.parent_pid, pid, line, key, warnings);
            }
            "Path" => set_once(&mut self.path, text(), line, key, warnings),
            "Identifier" => set_once(&mut self.identifier, text(), line, key, warnings),
            "Code Type" => set_once(&mut self.code_type, text(), line, key, warnings),
            "OS Version" => set_once(&mut self.os_version, text(), line, key, warnings),
            "Date/Time" => set_once(&mut self.date, text(), line, key, warnings),
            "Physical footprint" | "Physical footprint (peak)" => {
                let Some(bytes) = parse_size(value) else {
                    warnings.push(Warning::new(
                        line,
                        format!(
                            "`{key}:` value {} is not a size; kept under `other`",
                            shown(value)
                        ),
                    ));
                    self.other.push((key.to_string(), value.to_string()));
                    return;
                };
                let field = if key == "Physical footprint" {
                    &mut self.physical_footprint
                } else {
                    &mut self.physical_footprint_peak
                };
                set_once(field, Some(bytes), line, key, warnings);
            }
            _ => self.other.push((key.to_string(), value.to_string())),
        }
    }

    /// Reads `Virtual Memory Map of process N (name)`; fills the pid and name when the header
    /// block did not, and warns when it disagrees. Returns `false` when `text` is not such a
    /// line.
    pub(crate) fn set_map_line(
        &mut self,
        line: usize,
        text: &str,
        warnings: &mut Vec<Warning>,
    ) -> bool {
        let Some(rest) = trim(text).strip_prefix("Virtual Memory Map of process") else {
            return false;
        };
        let rest = rest.trim();
        let (pid_text, name) = match rest.split_once(char::is_whitespace) {
            Some((pid, name)) => (pid, name.trim()),
            None => (rest, ""),
        };
        let name = name
            .strip_prefix('(')
            .and_then(|n| n.strip_suffix(')'))
            .unwrap_or(name);
        let pid = pid_text.parse::<u32>().ok();
        if pid.is_none() {
            warnings.push(Warning::new(
                line,
                format!(
                    "`Virtual Memory Map of process` has no pid: {}",
                    shown(rest)
                ),
            ));
        }
        match (self.pid, pid) {
            (None, Some(p)) => self.pid = Some(p),
            (Some(a), Some(b)) if a != b => warnings.push(Warning::new(
                line,
                format!("the map is of pid {b} but `Process:` says {a}"),
            )),
            _ => {}
        }
        if !name.is_empty() {
            match &self.process {
                None => self.process = Some(name.to_string()),
                Some(p) if p != name => warnings.push(Warning::new(
                    line,
                    format!(
                        "the map is of {} but `Process:` says {}",
                        shown(name),
                        shown(p)
                    ),
                )),
                Some(_) => {}
            }
        }
        true
    }

    /// Reads `Output report format:  2.4  -- 64-bit process`.
    pub(crate) fn set_format(&mut self, line: usize, value: &str, warnings: &mut Vec<Warning>) {
        let mut words = value.split_whitespace();
        let format = words.next().map(str::to_string);
        set_once(
            &mut self.report_format,
            format,
            line,
            "Output report format",
            warnings,
        );
        // "-- 64-bit process" (or "-64-bit process" when damaged): the number before "-bit".
        if let Some(pos) = value.find("-bit") {
            let digits: String = value
                .get(..pos)
                .unwrap_or("")
                .chars()
                .rev()
                .take_while(char::is_ascii_digit)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            self.process_bits = digits.parse().ok();
        }
    }

    /// Reads `VM page size:  16384 bytes`.
    pub(crate) fn set_page_size(&mut self, line: usize, value: &str, warnings: &mut Vec<Warning>) {
        match page_size_value(value) {
            Some(size) => set_once(
                &mut self.page_size,
                Some(size),
                line,
                "VM page size",
                warnings,
            ),
            None => warnings.push(Warning::new(
                line,
                format!(
                    "`VM page size:` value {} is not a number of bytes",
                    shown(value)
                ),
            )),
        }
    }
}

/// The number of bytes in a `VM page size:` value (`16384 bytes`); `None` unless positive.
pub(crate) fn page_size_value(value: &str) -> Option<u64> {
    let mut words = value.split_whitespace();
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        None | Some("bytes") => (n > 0).then_some(n),
        Some(_) => None,
    }
}

/// Splits `name [pid]` into its parts; a value without a `[pid]` is all name.
fn name_and_pid(value: &str) -> (Option<String>, Option<u32>) {
    if let Some(inner) = value.strip_suffix(']')
        && let Some((name, pid)) = inner.rsplit_once('[')
        && let Ok(pid) = pid.trim().parse::<u32>()
    {
        let name = name.trim();
        return ((!name.is_empty()).then(|| name.to_string()), Some(pid));
    }
    ((!value.is_empty()).then(|| value.to_string()), None)
}

/// Sets `field` unless it is already set; a second, different value is a warning.
fn set_once<T: PartialEq>(
    field: &mut Option<T>,
    value: Option<T>,
    line: usize,
    key: &str,
    warnings: &mut Vec<Warning>,
) {
    let Some(value) = value else { return };
    match field {
        None => *field = Some(value),
        Some(old) if *old != value => warnings.push(Warning::new(
            line,
            format!("`{key}:` given twice with different values; the first is kept"),
        )),
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines() {
        let mut h = Header::default();
        let mut w = Vec::new();
        h.set(1, "Process", "ocspd [94338]", &mut w);
        h.set(2, "Parent Process", "Code Helper (Plugin) [53753]", &mut w);
        h.set(3, "Physical footprint", "10.2M", &mut w);
        h.set(4, "Physical footprint (peak)", "n/a", &mut w);
        h.set(5, "Load Address", "0x10c4ff000", &mut w);
        assert_eq!(h.process.as_deref(), Some("ocspd"));
        assert_eq!(h.pid, Some(94338));
        assert_eq!(h.parent.as_deref(), Some("Code Helper (Plugin)"));
        assert_eq!(h.parent_pid, Some(53753));
        assert_eq!(h.physical_footprint, Some(10_695_475));
        assert_eq!(h.physical_footprint_peak, None);
        assert_eq!(w.len(), 1);
        assert_eq!(h.other.len(), 2);
        assert_eq!(h.other[1], ("Load Address".into(), "0x10c4ff000".into()));
    }

    #[test]
    fn map_lines() {
        let mut h = Header::default();
        let mut w = Vec::new();
        assert!(h.set_map_line(1, "Virtual Memory Map of process 45624 (python)", &mut w));
        assert_eq!((h.pid, h.process.as_deref()), (Some(45624), Some("python")));
        assert!(h.set_map_line(2, "Virtual Memory Map of process 1 (launchd)", &mut w));
        assert_eq!(w.len(), 2);
        assert!(!h.set_map_line(3, "Virtual Memory", &mut w));
        h.set_format(4, " 2.4  -64-bit process", &mut w);
        assert_eq!(h.report_format.as_deref(), Some("2.4"));
        assert_eq!(h.process_bits, Some(64));
        h.set_page_size(5, "16384 bytes", &mut w);
        assert_eq!(h.page_size, Some(16384));
        assert_eq!(page_size_value("0 bytes"), None);
        assert_eq!(page_size_value("4096 pages"), None);
    }
}
