/*
 * maptarget — a test process with known mappings, for vmpipe's end-to-end tests.
 *
 * Built statically (`cc -static`) at a unique path by the tests, so that no other process maps
 * its pages and Pss/USS stay exact while it is stopped (see "Oracles" in DESIGN.md).
 *
 * usage: maptarget DIR RO_NAME DELETED_NAME
 *
 * Maps, each in its own 2 MiB slot of a reserved range (so the kernel cannot merge them):
 *   anon_touched    rw-p  16 pages, first 5 written
 *   anon_untouched  rw-p   8 pages, never touched
 *   prot_none       ---p   4 pages
 *   file_ro         r--p   DIR/RO_NAME (3 pages), pages 0 and 1 read
 *   shared_anon     rw-s   4 pages MAP_SHARED|MAP_ANONYMOUS, first 3 written
 *   deleted_file    r--p   DIR/DELETED_NAME (2 pages), page 0 read, then the file is unlinked
 *
 * Prints "NAME START END" (hex, no 0x) per mapping, then "ready", then waits for signals.
 * Transparent huge pages and readahead are disabled on these mappings, and the files' pages
 * dropped from the page cache before they are read, so that the touched-page counts are exact
 * (on a disk-backed temp directory; on tmpfs every file page stays resident).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096UL
#define SLOT (2UL << 20)

static char *base;
static int slot;

static void die(const char *what) {
    perror(what);
    exit(2);
}

static char *place(size_t len, int prot, int flags, int fd) {
    char *want = base + (size_t)slot++ * SLOT;
    char *p = mmap(want, len, prot, flags | MAP_FIXED_NOREPLACE, fd, 0);
    if (p == MAP_FAILED || p != want)
        die("mmap");
    return p;
}

static void report(const char *name, char *p, size_t len) {
    printf("%s %lx %lx\n", name, (unsigned long)p, (unsigned long)(p + len));
}

static int make_file(const char *dir, const char *name, size_t pages, char *path, size_t cap) {
    if ((size_t)snprintf(path, cap, "%s/%s", dir, name) >= cap)
        die("path too long");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        die("open");
    char page[PAGE];
    memset(page, 'A', sizeof page);
    for (size_t i = 0; i < pages; i++)
        if (write(fd, page, sizeof page) != (ssize_t)sizeof page)
            die("write");
    if (fsync(fd) != 0)
        die("fsync");
    /* Drop the clean pages from the page cache: fault-around maps every cached page near a
     * fault, so only an empty cache makes "pages read" equal "pages resident". */
    if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0)
        die("posix_fadvise");
    return fd;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: maptarget DIR RO_NAME DELETED_NAME\n");
        return 2;
    }
    char *range = mmap(NULL, 64 * SLOT, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (range == MAP_FAILED)
        die("reserve");
    /* Align to a slot and give the range back: the slots are then free, with gaps between. */
    base = (char *)(((unsigned long)range + SLOT - 1) & ~(SLOT - 1));
    munmap(range, 64 * SLOT);
    volatile char sink = 0;

    char *a = place(16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    madvise(a, 16 * PAGE, MADV_NOHUGEPAGE);
    memset(a, 0x5a, 5 * PAGE);
    report("anon_touched", a, 16 * PAGE);

    char *u = place(8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    madvise(u, 8 * PAGE, MADV_NOHUGEPAGE);
    report("anon_untouched", u, 8 * PAGE);

    char *n = place(4 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    report("prot_none", n, 4 * PAGE);

    char path[4096];
    int fd = make_file(argv[1], argv[2], 3, path, sizeof path);
    char *f = place(3 * PAGE, PROT_READ, MAP_PRIVATE, fd);
    madvise(f, 3 * PAGE, MADV_RANDOM);
    sink += f[0];
    sink += f[PAGE];
    close(fd);
    report("file_ro", f, 3 * PAGE);

    char *s = place(4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1);
    memset(s, 0x33, 3 * PAGE);
    report("shared_anon", s, 4 * PAGE);

    fd = make_file(argv[1], argv[3], 2, path, sizeof path);
    char *d = place(2 * PAGE, PROT_READ, MAP_PRIVATE, fd);
    madvise(d, 2 * PAGE, MADV_RANDOM);
    sink += d[0];
    close(fd);
    if (unlink(path) != 0)
        die("unlink");
    report("deleted_file", d, 2 * PAGE);

    printf("ready\n");
    fflush(stdout);
    (void)sink;
    for (;;)
        pause();
}
