/*
 * kindtarget — a test process with a region of as many kinds as it can make, for the tests
 * of the C plugin examples/c-region-kinds (and of ABI compatibility from C).
 *
 * Built as an ordinary dynamically linked PIE (libc, ld.so: file regions; [heap], [stack],
 * [vdso], [vvar]), it adds:
 *   memfd        rw-s  2 pages of a memfd ("vmpipe-kinds")
 *   shared_anon  rw-s  3 pages MAP_SHARED|MAP_ANONYMOUS ("/dev/zero (deleted)")
 *   dev_shm      rw-s  1 page of DIR's file mapped, when /dev/shm exists: a file under
 *                /dev/shm (unlinked after mapping)
 *   named_anon   rw-p  4 pages named "[anon:vmpipe-kinds]" with PR_SET_VMA (when the kernel
 *                has CONFIG_ANON_VMA_NAME)
 *   io_uring     the rings of an io_uring ("anon_inode:[io_uring]"), when io_uring is enabled
 *
 * usage: kindtarget
 * Prints "NAME START END" (hex, no 0x) per mapping it made, then "ready", then waits.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define PAGE 4096UL

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void report(const char *name, void *p, size_t len) {
    printf("%s %lx %lx\n", name, (unsigned long)p, (unsigned long)p + len);
}

int main(void) {
    /* The brk heap. */
    char *h = malloc(1000);
    if (!h)
        die("malloc");
    memset(h, 1, 1000);

    int fd = memfd_create("vmpipe-kinds", 0);
    if (fd < 0)
        die("memfd_create");
    if (ftruncate(fd, 2 * PAGE) != 0)
        die("ftruncate");
    char *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        die("mmap memfd");
    m[0] = 1;
    close(fd);
    report("memfd", m, 2 * PAGE);

    char *s = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        die("mmap shared");
    s[0] = 1;
    report("shared_anon", s, 3 * PAGE);

    char path[64];
    snprintf(path, sizeof path, "/dev/shm/vmpipe-kinds-%d", (int)getpid());
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
        if (ftruncate(fd, PAGE) != 0)
            die("ftruncate shm");
        char *d = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (d == MAP_FAILED)
            die("mmap shm");
        close(fd);
        unlink(path);
        report("dev_shm", d, PAGE);
    }

    char *a = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED)
        die("mmap anon");
    if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)a, 4 * PAGE,
              (unsigned long)"vmpipe-kinds") == 0)
        report("named_anon", a, 4 * PAGE);

    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int ring = (int)syscall(__NR_io_uring_setup, 4, &p);
    if (ring >= 0) {
        size_t len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
        void *r = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
                       IORING_OFF_SQ_RING);
        if (r != MAP_FAILED)
            report("io_uring", r, len);
    }

    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
