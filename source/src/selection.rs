//! Which processes a source yields: all, a pid list, a name pattern, a user — combined with
//! AND.

use std::collections::BTreeSet;

use regex::bytes::Regex;

/// A process selection. Empty filters select everything.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only these pids (a pid in the list that does not exist is reported as vanished).
    pub pids: Option<BTreeSet<u32>>,
    /// Only processes whose name (`comm`), executable file name or `argv[0]` file name
    /// matches (raw bytes; the pattern is unanchored unless it says `^…$`).
    pub name: Option<Regex>,
    /// Only processes whose real uid is this.
    pub uid: Option<u32>,
}

impl Selection {
    /// Narrows the pid list to `pids` (intersecting with any list already set).
    pub fn narrow_to_pids(&mut self, pids: &[u32]) {
        let given: BTreeSet<u32> = pids.iter().copied().collect();
        self.pids = Some(match self.pids.take() {
            Some(have) => have.intersection(&given).copied().collect(),
            None => given,
        });
    }

    /// True when a filter needs the process's facts (name, user) to decide.
    pub fn filters_by_facts(&self) -> bool {
        self.name.is_some() || self.uid.is_some()
    }

    /// Decides on a process from what its source read of it: name, executable, `argv[0]`
    /// and uid (absent facts match only filters that do not ask for them).
    pub fn admits(&self, p: &crate::model::ProcessInfo) -> bool {
        self.matches(&p.name, p.exe.as_deref(), p.args().next(), p.uid)
    }

    /// Decides on a process from its facts.
    pub fn matches(
        &self,
        name: &[u8],
        exe: Option<&[u8]>,
        argv0: Option<&[u8]>,
        uid: Option<u32>,
    ) -> bool {
        if let Some(want) = self.uid
            && uid != Some(want)
        {
            return false;
        }
        if let Some(re) = &self.name {
            let base = |p: &[u8]| -> Vec<u8> {
                let p = p.strip_suffix(crate::model::DELETED_SUFFIX).unwrap_or(p);
                p.rsplit(|&b| b == b'/').next().unwrap_or(p).to_vec()
            };
            let hit = re.is_match(name)
                || exe.is_some_and(|e| re.is_match(&base(e)))
                || argv0.is_some_and(|a| re.is_match(&base(a)));
            if !hit {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_reads_the_facts_of_a_process() {
        let s = Selection {
            name: Some(Regex::new("^postgres$").unwrap()),
            uid: Some(70),
            ..Selection::default()
        };
        let mut p = crate::model::ProcessInfo::new(7);
        p.name = b"x".to_vec();
        p.cmdline = b"/opt/postgres\0-D\0/data\0".to_vec();
        p.uid = Some(70);
        assert!(s.admits(&p), "by argv[0]");
        p.uid = Some(71);
        assert!(!s.admits(&p), "another user");
        p.uid = Some(70);
        p.cmdline.clear();
        assert!(!s.admits(&p), "no name, exe or argv[0] matches");
        p.exe = Some(b"/usr/lib/postgres (deleted)".to_vec());
        assert!(s.admits(&p), "by the executable");
    }

    #[test]
    fn name_matches_comm_exe_or_argv0_basename() {
        let s = Selection {
            name: Some(Regex::new("^postgres$").unwrap()),
            ..Selection::default()
        };
        assert!(s.matches(b"postgres", None, None, None));
        assert!(s.matches(
            b"postmaster",
            Some(b"/usr/lib/postgresql/15/bin/postgres"),
            None,
            None
        ));
        assert!(s.matches(b"x", None, Some(b"/opt/postgres"), None));
        assert!(s.matches(b"x", Some(b"/opt/postgres (deleted)"), None, None));
        assert!(!s.matches(b"postgres2", Some(b"/postgres/bin/pg"), None, None));
    }

    #[test]
    fn filters_combine_with_and() {
        let mut s = Selection {
            name: Some(Regex::new("sh").unwrap()),
            uid: Some(0),
            ..Selection::default()
        };
        assert!(s.matches(b"bash", None, None, Some(0)));
        assert!(!s.matches(b"bash", None, None, Some(1000)));
        assert!(!s.matches(b"bash", None, None, None));
        s.narrow_to_pids(&[1, 2, 3]);
        s.narrow_to_pids(&[2, 3, 4]);
        assert_eq!(s.pids, Some([2, 3].into_iter().collect()));
    }
}
