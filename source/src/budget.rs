//! A budget on what parsing one process builds in memory, charged as it is built (see
//! [`super::limits`] for the amounts). Raw input is bounded separately; a budget on the parsed
//! result is what keeps a small hostile input from becoming gigabytes of records.

/// Bytes of parsed data one process may still use.
#[derive(Clone, Debug)]
pub struct Budget {
    limit: usize,
    used: usize,
}

/// The budget is spent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverBudget {
    /// The budget, in bytes.
    pub limit: usize,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Budget {
        Budget { limit, used: 0 }
    }

    /// The budget of one process ([`super::limits::PARSED_BYTES_PER_PROCESS`]).
    pub fn per_process() -> Budget {
        Budget::new(super::limits::PARSED_BYTES_PER_PROCESS)
    }

    /// Spends `bytes`, or fails without spending them when that would pass the limit.
    #[inline]
    pub fn charge(&mut self, bytes: usize) -> Result<(), OverBudget> {
        match self.used.checked_add(bytes) {
            Some(u) if u <= self.limit => {
                self.used = u;
                Ok(())
            }
            _ => Err(OverBudget { limit: self.limit }),
        }
    }

    /// Bytes spent so far.
    pub fn used(&self) -> usize {
        self.used
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::per_process()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_stop_at_the_limit_and_cannot_wrap() {
        let mut b = Budget::new(10);
        assert!(b.charge(4).is_ok());
        assert!(b.charge(6).is_ok());
        assert_eq!(b.charge(1), Err(OverBudget { limit: 10 }));
        assert_eq!(b.used(), 10);
        let mut b = Budget::new(usize::MAX);
        b.charge(usize::MAX).unwrap();
        assert!(b.charge(1).is_err());
    }
}
