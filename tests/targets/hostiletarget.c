/*
 * hostiletarget — a process whose name, command line and mapped file names are chosen to break
 * whatever reads them carelessly: CSV quoting, spreadsheet formulas, terminals, UTF-8.
 *
 * usage: hostiletarget DIR NAME FILE... [-- ARGS are its own argv already]
 *
 * Sets its name (comm) to NAME with prctl(PR_SET_NAME), creates and maps each FILE (one page,
 * read-only) in DIR, prints "NAME START END" per file (NAME = the file's index), then "ready",
 * and waits.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: hostiletarget DIR NAME FILE...\n");
        return 2;
    }
    if (prctl(PR_SET_NAME, argv[2], 0, 0, 0) != 0) {
        perror("prctl");
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], argv[i]);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || ftruncate(fd, 4096) != 0) {
            perror(path);
            return 2;
        }
        char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            perror("mmap");
            return 2;
        }
        close(fd);
        printf("file%d %lx %lx\n", i - 3, (unsigned long)p, (unsigned long)(p + 4096));
    }
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
