/*
 * reusetarget — maps one page of FILE at file offset OFFSET, readable and executable, at the
 * fixed address ADDR (MAP_FIXED_NOREPLACE: the same range in every run, whatever ASLR does),
 * for the pid-reuse test: one run maps a payload that is not ELF, a second run, given the
 * first one's pid, maps an ELF file at the same range.
 *
 * usage: reusetarget FILE OFFSET_HEX ADDR_HEX
 *
 * Prints "mapped START END", then "ready", and waits.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PAGE 4096UL

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: reusetarget FILE OFFSET_HEX ADDR_HEX\n");
        return 2;
    }
    unsigned long offset = strtoul(argv[2], NULL, 16);
    unsigned long addr = strtoul(argv[3], NULL, 16);
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror("open");
        return 2;
    }
    char *p = mmap((void *)addr, PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED_NOREPLACE,
                   fd, (off_t)offset);
    if (p == MAP_FAILED || (unsigned long)p != addr) {
        perror("mmap");
        return 2;
    }
    close(fd);
    volatile char c = p[0];
    (void)c;
    printf("mapped %lx %lx\n", (unsigned long)p, (unsigned long)p + PAGE);
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
