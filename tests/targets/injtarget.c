/*
 * injtarget — a test process holding the kinds of memory an injected-code hunter must find.
 *
 * Built statically by the tests. Maps:
 *   rwx_anon     rwxp  2 pages MAP_PRIVATE|MAP_ANONYMOUS, starting with an x86-64 prologue
 *                      (endbr64; push rbp; mov rbp,rsp) followed by the bytes 0x00..
 *   memfd_exec   r-xp  2 pages of a memfd ("payload"), starting with "\x7fELF"
 *   plain_rw     rw-p  2 pages anonymous, written: must NOT be flagged
 *
 * Prints "NAME START END" (hex) per mapping, then "ready", then waits for signals.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096UL

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void report(const char *name, char *p, size_t len) {
    printf("%s %lx %lx\n", name, (unsigned long)p, (unsigned long)(p + len));
}

static const unsigned char PROLOGUE[] = {0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5};

int main(void) {
    char *rwx = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rwx == MAP_FAILED)
        die("mmap rwx");
    memcpy(rwx, PROLOGUE, sizeof PROLOGUE);
    for (size_t i = sizeof PROLOGUE; i < 64; i++)
        rwx[i] = (char)(i - sizeof PROLOGUE);
    report("rwx_anon", rwx, 2 * PAGE);

    int fd = memfd_create("payload", 0);
    if (fd < 0)
        die("memfd_create");
    char page[2 * PAGE];
    memset(page, 0x90, sizeof page);
    memcpy(page, "\x7f" "ELF\x02\x01\x01\x00", 8);
    if (write(fd, page, sizeof page) != (ssize_t)sizeof page)
        die("write memfd");
    char *mx = mmap(NULL, 2 * PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    if (mx == MAP_FAILED)
        die("mmap memfd");
    close(fd);
    report("memfd_exec", mx, 2 * PAGE);

    char *rw = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rw == MAP_FAILED)
        die("mmap rw");
    memset(rw, 0x41, 2 * PAGE);
    report("plain_rw", rw, 2 * PAGE);

    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
