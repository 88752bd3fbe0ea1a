/*
 * sharetarget — a parent and a forked child sharing memory in every way vmmap's share modes
 * tell apart, for the share-modes analyzer. Built statically by the tests.
 *
 * usage: sharetarget DIR
 *
 * Before fork, the parent maps (4 KiB pages):
 *   file_shared    DIR/shared.bin (4 pages) MAP_SHARED rw, all 4 written        -> SHM
 *   file_private   DIR/shared.bin (4 pages) MAP_PRIVATE r, pages 0-1 read       -> COW
 *   anon_cow       8 pages MAP_PRIVATE|MAP_ANONYMOUS, all 8 written             -> COW after fork
 *   anon_shared    2 pages MAP_SHARED|MAP_ANONYMOUS, both written               -> SHM
 *   anon_empty     4 pages MAP_PRIVATE|MAP_ANONYMOUS, never touched             -> NUL
 * Then it forks. The child writes pages 0-2 of anon_cow (copy-on-write breaks for those 3
 * pages: 3 private to the child, 3 private to the parent, 5 shared by both), and maps
 *   child_private  4 pages MAP_PRIVATE|MAP_ANONYMOUS, all written               -> PRV
 * Prints "parent PID", "child PID" and "NAME START END" lines, then "ready", and both wait.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096UL

static void die(const char *what) {
    perror(what);
    exit(2);
}

/* Maps `pages` pages with an unmapped page on either side, so that the kernel cannot merge
 * the mapping with its neighbours. */
static char *map(size_t pages, int prot, int flags, int fd) {
    char *hole = mmap(NULL, (pages + 2) * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (hole == MAP_FAILED)
        die("mmap reserve");
    char *p = mmap(hole + PAGE, pages * PAGE, prot, flags | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED)
        die("mmap");
    munmap(hole, PAGE);
    munmap(p + pages * PAGE, PAGE);
    madvise(p, pages * PAGE, MADV_NOHUGEPAGE);
    return p;
}

static void report(const char *name, char *p, size_t pages) {
    printf("%s %lx %lx\n", name, (unsigned long)p, (unsigned long)(p + pages * PAGE));
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: sharetarget DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/shared.bin", argv[1]);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 4 * PAGE) != 0)
        die("shared file");
    char *fs = map(4, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
    memset(fs, 'S', 4 * PAGE);
    if (msync(fs, 4 * PAGE, MS_SYNC) != 0)
        die("msync");
    char *fp = map(4, PROT_READ, MAP_PRIVATE, fd);
    volatile char sink = fp[0] + fp[PAGE];
    (void)sink;
    close(fd);
    char *cow = map(8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    memset(cow, 'C', 8 * PAGE);
    char *shm = map(2, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1);
    memset(shm, 'H', 2 * PAGE);
    char *empty = map(4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);

    report("file_shared", fs, 4);
    report("file_private", fp, 4);
    report("anon_cow", cow, 8);
    report("anon_shared", shm, 2);
    report("anon_empty", empty, 4);
    printf("parent %d\n", getpid());
    fflush(stdout);

    int ready[2];
    if (pipe(ready) != 0)
        die("pipe");
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        close(ready[0]);
        memset(cow, 'c', 3 * PAGE);
        char *own = map(4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
        memset(own, 'P', 4 * PAGE);
        report("child_private", own, 4);
        printf("child %d\n", getpid());
        fflush(stdout);
        if (write(ready[1], "r", 1) != 1)
            die("write");
        for (;;)
            pause();
    }
    close(ready[1]);
    char c;
    if (read(ready[0], &c, 1) != 1)
        die("read");
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
