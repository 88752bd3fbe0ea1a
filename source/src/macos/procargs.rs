//! A process's command line from `sysctl(CTL_KERN, KERN_PROCARGS2, pid)`.
//!
//! The buffer is: `argc` (a native-endian 32-bit integer), the executable path and its NUL,
//! NUL padding, then `argc` NUL-terminated arguments, then the environment (not read). The
//! result has the model's layout (`ProcessInfo::cmdline`): each argument followed by a NUL,
//! as Linux's `/proc/PID/cmdline`.

/// The most arguments kept (the buffer is bounded by `KERN_ARGMAX` anyway).
pub const MAX_ARGS: u32 = 1 << 16;

/// The command line in a `KERN_PROCARGS2` buffer; `None` when the buffer is too short to
/// hold `argc`. Arguments cut short by the end of the buffer are kept as far as they go.
pub fn cmdline(buf: &[u8]) -> Option<Vec<u8>> {
    let argc = u32::from_ne_bytes(buf.get(..4)?.try_into().ok()?).min(MAX_ARGS);
    let rest = &buf[4..];
    // Skip the executable path, then the NUL padding after it.
    let after_path = rest
        .iter()
        .position(|&b| b == 0)
        .map_or(rest.len(), |n| n + 1);
    let args_at = rest[after_path..]
        .iter()
        .position(|&b| b != 0)
        .map_or(rest.len(), |n| after_path + n);
    let mut out = Vec::new();
    let mut args = &rest[args_at..];
    for _ in 0..argc {
        if args.is_empty() {
            break;
        }
        let end = args.iter().position(|&b| b == 0).unwrap_or(args.len());
        out.extend_from_slice(&args[..end]);
        out.push(0);
        args = args.get(end + 1..).unwrap_or(&[]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(argc: u32, body: &[u8]) -> Vec<u8> {
        let mut b = argc.to_ne_bytes().to_vec();
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn reads_the_arguments_and_not_the_environment() {
        let b = buf(
            3,
            b"/bin/sleep\0\0\0\0sleep\x00100\0x y\0HOME=/var/root\0PATH=/bin\0",
        );
        assert_eq!(cmdline(&b), Some(b"sleep\x00100\x00x y\x00".to_vec()));
    }

    #[test]
    fn short_and_odd_buffers_are_read_as_far_as_they_go() {
        assert_eq!(cmdline(&[1, 0]), None);
        assert_eq!(cmdline(&buf(0, b"/bin/x\0\0x\0")), Some(Vec::new()));
        assert_eq!(cmdline(&buf(2, b"/bin/x\0x")), Some(b"x\x00".to_vec()));
        assert_eq!(cmdline(&buf(5, b"/bin/x")), Some(Vec::new()));
        assert_eq!(
            cmdline(&buf(u32::MAX, b"/p\0a\0b\0")),
            Some(b"a\x00b\x00".to_vec())
        );
    }
}
