//! Syncing a large output file while it is still being written.
//!
//! Every output is synced before it is renamed into place (see [`super::atomic_file`]). For
//! `regions.csv` (9 MB for 200 processes × 300 mappings with only `maps`, more with `smaps`)
//! that final sync used to wait for all of the file to reach the disk: some 20 ms on the
//! benchmark machine, an eighth of the kernel's own time to produce the data. So every few
//! megabytes a background thread syncs what is written so far while the sweep goes on, and
//! the final sync has only the tail left to wait for.

use std::fs::File;
use std::io;
use std::thread::JoinHandle;

/// Background syncs of one file being written.
#[derive(Default)]
pub(crate) struct Writeback {
    unsynced: u64,
    running: Option<JoinHandle<io::Result<()>>>,
}

impl Writeback {
    /// Bytes written between two background syncs.
    const EVERY: u64 = 4 << 20;

    /// `n` more bytes were written to `file`; starts a background sync when enough have been
    /// written since the last one and the last one is done.
    pub(crate) fn wrote(&mut self, file: &File, n: usize) -> io::Result<()> {
        self.unsynced += n as u64;
        if self.unsynced < Self::EVERY || self.running.as_ref().is_some_and(|h| !h.is_finished()) {
            return Ok(());
        }
        self.finish()?;
        let f = file.try_clone()?;
        self.running = Some(std::thread::spawn(move || f.sync_data()));
        self.unsynced = 0;
        Ok(())
    }

    /// Waits for the background sync under way, with its result.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        match self.running.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the syncing thread panicked"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn syncs_in_the_background_and_reports_the_result() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = File::create(dir.path().join("x")).unwrap();
        let mut w = Writeback::default();
        let chunk = vec![b'x'; 1 << 20];
        let mut started = 0;
        for _ in 0..12 {
            f.write_all(&chunk).unwrap();
            let before = w.running.is_some() as usize;
            w.wrote(&f, chunk.len()).unwrap();
            if w.running.is_some() && (before == 0 || w.unsynced == 0) {
                started += 1;
            }
        }
        w.finish().unwrap();
        assert!(started >= 1, "a background sync ran");
        assert!(w.running.is_none());
        assert_eq!(
            std::fs::metadata(dir.path().join("x")).unwrap().len(),
            12 << 20
        );
    }
}
